"""Token attributions for transformer text classifiers, behind one call shape.

Every explainer is a small module with ``attribute(model, encoded, target) -> (N, T)`` token scores
(hidden dimension summed, signed, positive = evidence for the target) that declares itself as a
:class:`TextExplainer` (``EXPLAINER``), registered here by name. A new method is a new file and one line
below. Scores are per word piece; :func:`word_scores` sums them into
the whitespace words that annotators see and mark.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from xil.explain.text import atman, input_x_gradient, layer_integrated_gradients, occlusion
from xil.explain.text.common import content_mask
from xil.explain.text.explainer import TextExplainer
from xil.models.text import Encoded, tokens_to_words
from xil.precision import autocast
from xil.registry import Registry

REGISTRY: Registry[TextExplainer] = Registry(
    "text explanation method",
    (m.EXPLAINER for m in (layer_integrated_gradients, input_x_gradient, occlusion, atman)),
)


def explain_text(
    model: nn.Module, encoded: Encoded, method: str, target: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Return ``(token attributions (N, T), class probabilities (N, K))`` on the model's device.

    Attributions are float32, detached, and zero on [CLS]/[SEP]/padding; target defaults to the
    predicted class. They are computed in bfloat16 where the hardware has it (``XIL_PRECISION``);
    the probabilities always in the model's own precision."""
    explainer = REGISTRY.lookup(method)
    model.eval()
    encoded = encoded.to(next(model.parameters()).device)
    with torch.no_grad():
        logits = model(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask).logits
    probs = torch.softmax(logits.float(), dim=1)
    if target is None:
        target = probs.argmax(dim=1)
    target = torch.as_tensor(target, dtype=torch.long, device=probs.device).expand(len(encoded)).contiguous()
    with autocast(encoded.input_ids.device):
        attributions = explainer.attribute(model, encoded, target).detach().float()
    return torch.where(content_mask(encoded), attributions, 0.0), probs


def word_scores(token_attr_row: Tensor, word_ids_row: Tensor, n_words: int) -> Tensor:
    """One text's token scores summed into its ``n_words`` whitespace words."""
    return tokens_to_words(token_attr_row.detach().float(), word_ids_row, n_words)


__all__ = ["REGISTRY", "TextExplainer", "explain_text", "word_scores"]
