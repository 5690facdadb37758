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
        needs: the layer it needs the model to name, or None: ``"conv_layer"`` (the last convolutional
            stage, as Grad-CAM does) or ``"patch_layer"`` (a vision transformer's patch embedding).
        attribute: ``attribute(model, inputs (N, C, H, W), target (N,)) -> (N, H, W)`` maps, channels summed.
    """

    name: str
    title: str
    needs: str | None
    attribute: Callable[[nn.Module, Tensor, Tensor], Tensor]
