"""Differentiable gradients with respect to the word embeddings of a transformer classifier, for
training-time penalties on discrete tokens (the gradient wrt a token id does not exist; the one wrt its
embedding vector does)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xil.models.text import Encoded


def full_precision(t: Tensor) -> Tensor:
    """``t`` in float32 when it is in a lower precision (bf16 autocast), else unchanged (float64 stays)."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def embedding_gradients(
    model: nn.Module, batch: Encoded, target: Tensor | None = None, embeddings: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(logits, embeddings, d score / d embeddings)`` with the graph kept (``create_graph=True``).

    ``embeddings`` are the word embeddings ``model.get_input_embeddings()(input_ids)``, ``(N, T, H)``,
    fed back through ``inputs_embeds`` (position and segment embeddings are added inside the model).
    score = sum of all log-probabilities when ``target`` is None (Ross et al.), else the target
    log-probability. ``embeddings`` replaces the looked-up ones (an interpolated input, say)."""
    if embeddings is None:
        embeddings = model.get_input_embeddings()(batch.input_ids)
    if not embeddings.requires_grad:  # a frozen embedding table
        embeddings.requires_grad_(True)
    logits = model(inputs_embeds=embeddings, attention_mask=batch.attention_mask).logits
    log_probs = F.log_softmax(full_precision(logits), dim=1)
    score = log_probs.sum() if target is None else log_probs.gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(score, embeddings, create_graph=True)
    return logits, embeddings, grad


def word_tokens(batch: Encoded) -> Tensor:
    """``(N, T)`` float mask of the tokens that belong to a word (no special tokens, no padding)."""
    return (batch.word_ids >= 0).float()
