"""What an image feedback method declares about itself (a module's ``METHOD``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

MASKS = ("irrelevant", "relevant")


@dataclass(frozen=True, kw_only=True)
class FeedbackMethod:
    """A loss or transform that turns region feedback on images into training signal.

    Parameters:
        name: the registry key, stored on the job row and the model version (``"rrr"``).
        title: what the UI shows.
        mask: which annotation it consumes: ``"irrelevant"`` or ``"relevant"`` regions.
        needs_conv: whether it needs a convolutional model (``arch="cnn"`` or ``"convnet"``), as Grad-CAM
            penalties do.
        lambda_scale: automatic lambda: the penalty is set to this times the cross-entropy of the
            untrained model (``xil/train/loop.py``); None for a method without a penalty (``augment``)
            or with a ``lambda_per_marked``.
        lambda_per_marked: when set, ``lambda_=None`` means this fixed weight per marked example
            (divided by the share of training examples with marks, times the config's
            ``lambda_scale`` when it gives one) instead of the automatic one.
        backbone_lambda_per_marked: the same on a backbone (:mod:`xil.models.backbones`), when set.
        terms: ``terms(model, x, y, mask) -> (logits, penalty per example (N,))`` for a penalty method.
        augment: ``augment(x, y, mask, generator) -> (x, y)`` for a method that adds examples instead.
    """

    name: str
    title: str
    mask: Literal["irrelevant", "relevant"]
    needs_conv: bool
    lambda_scale: float | None
    lambda_per_marked: float | None = None
    backbone_lambda_per_marked: float | None = None
    terms: Callable | None = None
    augment: Callable | None = None

    def __post_init__(self) -> None:
        check_method(self)

    def fixed_lambda(self, backbone: bool) -> float | None:
        """The fixed weight per marked example this method uses when a job gives none (None: the
        automatic rule): ``backbone_lambda_per_marked`` on a backbone where it has one, else
        ``lambda_per_marked``."""
        if backbone and self.backbone_lambda_per_marked is not None:
            return self.backbone_lambda_per_marked
        return self.lambda_per_marked


def check_method(method) -> None:
    """What image and text feedback methods share: a known mask, exactly one of ``terms`` and
    ``augment``, and a weight (a ``lambda_scale`` or a fixed one, ``fixed_lambda``) exactly when there
    is a penalty."""
    if method.mask not in MASKS:
        raise ValueError(f"{method.name}: mask must be one of {MASKS}, not {method.mask!r}")
    if (method.terms is None) == (method.augment is None):
        raise ValueError(f"{method.name}: give exactly one of terms (a penalty) and augment (new examples)")
    weighted = method.lambda_scale is not None or method.fixed_lambda(backbone=False) is not None
    if (method.terms is None) == weighted:
        raise ValueError(
            f"{method.name}: a penalty method needs a lambda_scale or a fixed lambda; an augmenting one has none"
        )
    if method.lambda_scale is not None and method.lambda_scale <= 0:
        raise ValueError(f"{method.name}: lambda_scale must be positive")
