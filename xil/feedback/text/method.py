"""What a token feedback method declares about itself (a module's ``METHOD``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from xil.feedback.method import check_method


@dataclass(frozen=True, kw_only=True)
class TextFeedbackMethod:
    """A loss or transform that turns token feedback on texts into training signal.

    Parameters:
        name: the registry key, stored on the job row and the model version (``"rrr"``).
        title: what the UI shows.
        mask: which annotation it consumes: ``"irrelevant"`` or ``"relevant"`` words.
        lambda_scale: automatic lambda: the penalty is set to this times the cross-entropy after the
            warm-up; None for a method without a penalty (``augment``).
        default_lambda: when set, ``lambda_=None`` means this fixed weight (times ``lambda_scale`` when
            the config gives one) instead of the automatic one; None: automatic.
        terms: ``terms(model, batch, y, token_mask) -> (logits, penalty per example (N,))``.
        augment: ``augment(batch, y, token_mask, pool, generator) -> (batch, y)``.
    """

    name: str
    title: str
    mask: Literal["irrelevant", "relevant"]
    lambda_scale: float | None
    default_lambda: float | None
    terms: Callable | None = None
    augment: Callable | None = None

    def __post_init__(self) -> None:
        check_method(self)

    def fixed_lambda(self, backbone: bool = True) -> float | None:
        """The fixed weight this method uses when a job gives none (None: the automatic rule): its
        ``default_lambda``, a plain weight on the penalty (every text model is a backbone)."""
        return self.default_lambda
