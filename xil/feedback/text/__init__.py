"""Feedback on tokens: losses and transforms for transformer text classifiers, one module each.

A penalty method has ``terms(model, batch: Encoded, y, token_mask) -> (logits, penalty per example
(N,))``; an augmenting method has ``augment(batch, y, token_mask, pool, generator) -> (batch, y)``.
``token_mask`` ``(N, T)`` is 1 on the tokens of the words an annotator marked (irrelevant or relevant,
see ``mask``), all zeros for texts without feedback. Gradients are taken with respect to the word
embeddings (:mod:`xil.feedback.text.attributions`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xil.feedback.text import counterexamples, hint, rrr


@dataclass(frozen=True)
class TextFeedbackMethod:
    name: str
    title: str
    mask: str  # which annotation it consumes: "irrelevant" or "relevant"
    terms: Callable | None = None
    augment: Callable | None = None
    lambda_scale: float = 1.0  # automatic lambda: penalty = this x cross-entropy after the warm-up
    default_lambda: float | None = None  # set: lambda_=None means this (times lambda_scale when given)


REGISTRY: dict[str, TextFeedbackMethod] = {
    m.NAME: TextFeedbackMethod(
        m.NAME,
        m.TITLE,
        m.MASK,
        getattr(m, "terms", None),
        getattr(m, "augment", None),
        getattr(m, "LAMBDA_SCALE", 1.0),
        getattr(m, "DEFAULT_LAMBDA", None),
    )
    for m in (rrr, hint, counterexamples)
}

__all__ = ["REGISTRY", "TextFeedbackMethod"]
