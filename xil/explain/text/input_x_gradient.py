"""Input x Gradient on the word embeddings: sum_h e_h * d f_t / d e_h per token, signed, where f_t is
the target logit and e the token's word embedding (Shrikumar et al.; Denil et al. for text). One
forward and one backward pass."""

from __future__ import annotations

from xil.explain.text import gradients
from xil.explain.text.common import content_mask
from xil.explain.text.explainer import TextExplainer


def attribute(model, encoded, target):
    _, scores = gradients.input_x_gradient(
        model, encoded.input_ids, gradients.target_logit(target), attention_mask=encoded.attention_mask
    )
    return scores * content_mask(encoded)


EXPLAINER = TextExplainer(
    name="input_x_gradient",
    title="Input x Gradient",
    attribute=attribute,
)
