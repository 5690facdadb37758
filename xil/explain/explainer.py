"""What an image explainer declares about itself (a module's ``EXPLAINER``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn


@dataclass(frozen=True, kw_only=True)
class Explainer:
    """An attribution method for image classifiers.

    Parameters:
        name: the registry key, stored with every explanation (``"saliency"``).
        title: what the UI shows (``"Saliency (input gradient)"``).
        needs_conv: whether it needs a convolutional model (one that names its last convolution
            ``conv_layer``), as Grad-CAM does.
        attribute: ``attribute(model, inputs (N, C, H, W), target (N,)) -> (N, H, W)`` maps, channels summed.
    """

    name: str
    title: str
    needs_conv: bool
    attribute: Callable[[nn.Module, Tensor, Tensor], Tensor]
