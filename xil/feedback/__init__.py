"""Losses and transforms that turn stored feedback into training signal, one module each.

A method either adds a penalty to the cross-entropy (``terms(model, x, y, mask) -> (logits, penalty
per example)``) or augments the batch (``augment(x, y, mask, generator) -> (x, y)``). ``mask`` is the
annotator's irrelevant or relevant region, ``(N, H, W)``, all zeros for examples without feedback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xil.feedback import counterexamples, hint, rrr, rrr_gradcam


@dataclass(frozen=True)
class FeedbackMethod:
    name: str
    title: str
    mask: str  # which annotation it consumes: "irrelevant" or "relevant"
    terms: Callable | None = None
    augment: Callable | None = None
    needs_conv: bool = False
    lambda_scale: float = 1.0


REGISTRY: dict[str, FeedbackMethod] = {
    m.NAME: FeedbackMethod(
        m.NAME,
        m.TITLE,
        m.MASK,
        getattr(m, "terms", None),
        getattr(m, "augment", None),
        getattr(m, "NEEDS_CONV", False),
        getattr(m, "LAMBDA_SCALE", 1.0),
    )
    for m in (rrr, rrr_gradcam, hint, counterexamples)
}

__all__ = ["REGISTRY", "FeedbackMethod"]
