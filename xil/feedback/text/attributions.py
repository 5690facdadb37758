"""Differentiable gradients with respect to the word embeddings of a transformer classifier, for
training-time penalties on discrete tokens (the gradient wrt a token id does not exist; the one wrt its
embedding vector does). Computed by :mod:`xil.explain.text.gradients`, with the graph kept."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from xil.explain.text import gradients
from xil.explain.text.gradients import full_precision
from xil.models.text import Encoded


def log_prob_score(target: Tensor | None) -> Callable[[Tensor], Tensor]:
    """The sum of all log-probabilities when ``target`` is None (Ross et al.), else of the target's."""

    def score(logits: Tensor) -> Tensor:
        log_probs = F.log_softmax(full_precision(logits), dim=1)
        return log_probs.sum() if target is None else log_probs.gather(1, target[:, None]).sum()

    return score


def embedding_gradients(
    model: nn.Module, batch: Encoded, target: Tensor | None = None, embeddings: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(logits, embeddings, d score / d embeddings)`` with the graph kept (``create_graph=True``).

    ``embeddings`` are the word embeddings ``model.get_input_embeddings()(input_ids)``, ``(N, T, H)``,
    fed back through ``inputs_embeds`` (position and segment embeddings are added inside the model).
    score = sum of all log-probabilities when ``target`` is None (Ross et al.), else the target
    log-probability. ``embeddings`` replaces the looked-up ones (an interpolated input, say)."""
    return gradients.embedding_gradients(
        model,
        batch.input_ids,
        log_prob_score(target),
        embeddings=embeddings,
        create_graph=True,
        attention_mask=batch.attention_mask,
    )


def input_x_gradient(model: nn.Module, batch: Encoded, target: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(logits, (N, T) sum_h e_h * d score / d e_h)`` with the graph kept; the score as in
    :func:`embedding_gradients`."""
    return gradients.input_x_gradient(
        model, batch.input_ids, log_prob_score(target), create_graph=True, attention_mask=batch.attention_mask
    )


__all__ = ["embedding_gradients", "full_precision", "input_x_gradient", "log_prob_score", "word_tokens"]


def word_tokens(batch: Encoded) -> Tensor:
    """``(N, T)`` float mask of the tokens that belong to a word (no special tokens, no padding)."""
    return (batch.word_ids >= 0).float()
