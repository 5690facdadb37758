"""What an image explainer declares about itself (a module's ``EXPLAINER``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
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
        single_pass: it runs the model once, on the inputs themselves (a gradient method), so it is
            given a model with one output per example (the target's logit) and target None.
    """

    name: str
    title: str
    needs: str | None
    attribute: Callable[[nn.Module, Tensor, Tensor | None], Tensor]
    single_pass: bool = False


def values_per_example(model: nn.Module, inputs) -> int:
    """Input values one example costs the model: the stored image's, or a backbone's own input size
    when larger (a 32x32 image is resized to 224x224 inside the model). Batches are budgeted on it.
    ``inputs``: anything with an ``(N, C, H, W)`` shape (a tensor, an array, a pixel file)."""
    own = int(np.prod(inputs.shape[1:]))
    spec = getattr(model, "spec", None)
    if spec is None:
        return own
    height, width = spec.input_size
    return max(own, max(inputs.shape[1], 3) * height * width)
