"""Layer Integrated Gradients on the word embeddings: (e - e') * mean_a d f_t(e' + a (e - e')) / d e,
summed over the hidden dimension, where f_t is the target logit, e the word embeddings of the text and
e' those of the baseline text: every word piece replaced by [PAD], [CLS]/[SEP] kept (Sundararajan et
al. 2017; captum's BERT recipe). Position and segment embeddings are not attributed.

32 Gauss-Legendre steps; the 32 steps of a text go through the model as one batch (several texts: one
batch each, which bounds memory at one text's 32 backward passes). Completeness:
the scores of a text sum to about f_t(x) - f_t(baseline).
"""

from __future__ import annotations

import torch
from captum.attr import LayerIntegratedGradients

from xil.explain.text.common import content_mask, pad_token_id
from xil.explain.text.explainer import TextExplainer

STEPS = 32


def baseline_ids(model, encoded) -> torch.Tensor:
    return torch.where(content_mask(encoded), pad_token_id(model), encoded.input_ids)


def attribute(model, encoded, target, n_steps: int = STEPS):
    def logits(input_ids, attention_mask):
        return model(input_ids=input_ids, attention_mask=attention_mask).logits

    lig = LayerIntegratedGradients(logits, model.get_input_embeddings())
    with torch.enable_grad():
        attributions = lig.attribute(
            encoded.input_ids,
            baselines=baseline_ids(model, encoded),
            target=target,
            additional_forward_args=(encoded.attention_mask,),
            n_steps=n_steps,
            internal_batch_size=n_steps,
        )
    return attributions.sum(dim=-1) * content_mask(encoded)


EXPLAINER = TextExplainer(
    name="layer_integrated_gradients",
    title="Layer Integrated Gradients",
    attribute=attribute,
)
