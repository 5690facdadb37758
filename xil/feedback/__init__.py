"""Losses and transforms that turn stored feedback into training signal, one module each.

A method either adds a penalty to the cross-entropy (``terms(model, x, y, mask) -> (logits, penalty
per example)``) or augments the batch (``augment(x, y, mask, generator) -> (x, y)``). ``mask`` is the
annotator's irrelevant or relevant region, ``(N, H, W)``, all zeros for examples without feedback.
Each module declares itself as a :class:`FeedbackMethod` (``METHOD``), registered here by name.
"""

from __future__ import annotations

from xil.feedback import counterexamples, hint, rrr, rrr_gradcam
from xil.feedback.method import FeedbackMethod
from xil.registry import Registry

REGISTRY: Registry[FeedbackMethod] = Registry(
    "feedback method", (m.METHOD for m in (rrr, rrr_gradcam, hint, counterexamples))
)

__all__ = ["REGISTRY", "FeedbackMethod"]
