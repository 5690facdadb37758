"""The model's output with some tokens taken out, for the end-to-end ("difference") penalties of RRR
and HINT: how much the prediction moves when the tokens in ``drop`` ``(N, T)`` are removed.

Two ways to remove a token (``how``):

- ``"zero"``: its word embedding set to the zero vector (position and segment embeddings stay);
  the baseline of integrated gradients, so the gap is the path integral of the embedding gradient.
- ``"attention"``: left out of the attention mask, so no other token, [CLS] included, reads it: the
  output is the model's on the text without those words (positions of the others kept).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from xil.explain.text.gradients import full_precision
from xil.models.text import Encoded

HOWS = ("zero", "attention")


def logits_without(model: nn.Module, batch: Encoded, drop: Tensor, how: str = "attention") -> Tensor:
    """Logits ``(N, C)`` of ``batch`` with the tokens where ``drop`` is nonzero removed as ``how`` says."""
    drop = drop.bool()
    if how == "zero":
        embeddings = model.get_input_embeddings()(batch.input_ids)
        removed = embeddings * (~drop)[..., None].to(embeddings.dtype)
        return model(inputs_embeds=removed, attention_mask=batch.attention_mask).logits
    if how == "attention":
        return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask * (~drop).long()).logits
    raise ValueError(f"unknown way to remove tokens {how!r}; choose from {', '.join(HOWS)}")


def log_prob_gap(logits: Tensor, other: Tensor) -> Tensor:
    """``sum_k (log p(k | x) - log p(k | x'))^2`` per example, in float32 under bf16 autocast."""
    gap = F.log_softmax(full_precision(logits), dim=1) - F.log_softmax(full_precision(other), dim=1)
    return gap.pow(2).sum(dim=1)
