"""Gradients with respect to the word embeddings of a transformer, and Input x Gradient on them.

The gradient with respect to a token id does not exist; the one with respect to its embedding vector
does. The word embeddings ``model.get_input_embeddings()(input_ids)``, ``(N, T, H)``, go back in through
``inputs_embeds`` (position and segment embeddings are added inside the model). The one implementation
behind the Input x Gradient explainer, the token penalties of the feedback methods (HINT, RRR's gradient
variants), the training loop's shortcut metric and the reward model's preference attributions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def full_precision(t: Tensor) -> Tensor:
    """``t`` in float32 when it is in a lower precision (bf16 autocast), else unchanged (float64 stays)."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def target_logit(target: Tensor) -> Callable[[Tensor], Tensor]:
    """A score: the sum over rows of each row's ``target`` logit."""
    return lambda logits: full_precision(logits).gather(1, target[:, None]).sum()


def embedding_gradients(
    model: nn.Module,
    input_ids: Tensor,
    score: Callable[[Tensor], Tensor],
    *,
    embeddings: Tensor | None = None,
    create_graph: bool = False,
    **model_inputs,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(logits, embeddings, d score(logits) / d embeddings)``.

    ``create_graph=True`` keeps the graph (a training penalty on the gradient) and the embeddings
    attached to the embedding table; otherwise the embeddings are looked up detached and nothing is
    kept. ``embeddings`` replaces the looked-up ones (an interpolated input, float32 ones). The other
    keyword arguments go to the model (``attention_mask``, ``token_type_ids``)."""
    if embeddings is None:
        embeddings = model.get_input_embeddings()(input_ids)
        if not create_graph:
            embeddings = embeddings.detach()
    with torch.enable_grad():
        if not embeddings.requires_grad:  # detached, or a frozen embedding table
            embeddings.requires_grad_(True)
        logits = model(inputs_embeds=embeddings, **model_inputs).logits
        (grad,) = torch.autograd.grad(score(logits), embeddings, create_graph=create_graph)
    return logits, embeddings, grad


def input_x_gradient(
    model: nn.Module,
    input_ids: Tensor,
    score: Callable[[Tensor], Tensor],
    *,
    embeddings: Tensor | None = None,
    create_graph: bool = False,
    **model_inputs,
) -> tuple[Tensor, Tensor]:
    """``(logits, (N, T) scores)``: per token ``sum_h e_h * d score / d e_h``, signed (Shrikumar et al.;
    Denil et al. for text), in float32 when the model computes in a lower precision. Detached unless
    ``create_graph``; see :func:`embedding_gradients` for the arguments."""
    logits, embeddings, grad = embedding_gradients(
        model, input_ids, score, embeddings=embeddings, create_graph=create_graph, **model_inputs
    )
    if not create_graph:
        embeddings = embeddings.detach()
    return logits, (full_precision(embeddings) * full_precision(grad)).sum(dim=-1)


__all__ = ["embedding_gradients", "full_precision", "input_x_gradient", "target_logit"]
