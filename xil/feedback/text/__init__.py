"""Feedback on tokens: losses and transforms for transformer text classifiers, one module each.

A penalty method has ``terms(model, batch: Encoded, y, token_mask) -> (logits, penalty per example
(N,))``; an augmenting method has ``augment(batch, y, token_mask, pool, generator) -> (batch, y)``.
``token_mask`` ``(N, T)`` is 1 on the tokens of the words an annotator marked (irrelevant or relevant,
see ``mask``), all zeros for texts without feedback. Gradients are taken with respect to the word
embeddings (:mod:`xil.feedback.text.attributions`). Each module declares itself as a
:class:`TextFeedbackMethod` (``METHOD``), registered here by name.
"""

from __future__ import annotations

from xil.feedback.text import counterexamples, hint, rrr
from xil.feedback.text.method import TextFeedbackMethod
from xil.registry import Registry

REGISTRY: Registry[TextFeedbackMethod] = Registry(
    "text feedback method", (m.METHOD for m in (rrr, hint, counterexamples))
)

__all__ = ["REGISTRY", "TextFeedbackMethod"]
