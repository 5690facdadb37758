"""Attribution methods behind one call shape, with captum underneath.

Every explainer is a small module with ``attribute(model, inputs, target) -> (N, H, W)`` maps (channels
summed) that declares itself as an :class:`Explainer` (``EXPLAINER``), registered here by name. A new
method is a new file and one line below.

Real backbones (:class:`~xil.models.backbones.Backbone`) attribute under bfloat16 autocast where the
device has it (:mod:`xil.precision`); probabilities stay float32. The tiny models stay float32.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import Tensor, nn

from xil.explain import grad_cam, input_x_gradient, integrated_gradients, occlusion, patch_ig, saliency
from xil.explain.explainer import Explainer
from xil.models.backbones import Backbone
from xil.precision import autocast
from xil.registry import Registry

REGISTRY: Registry[Explainer] = Registry(
    "explanation method",
    (m.EXPLAINER for m in (saliency, input_x_gradient, integrated_gradients, grad_cam, occlusion, patch_ig)),
)


def available(model: nn.Module) -> list[str]:
    """The methods that apply to ``model``: those that need no layer, and those whose layer it names."""
    return [name for name, e in REGISTRY.items() if e.needs is None or getattr(model, e.needs, None) is not None]


def explain(model: nn.Module, inputs: Tensor, method: str, target: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Return ``(attributions (N, H, W), class probabilities (N, K))``; target defaults to the prediction."""
    explainer = REGISTRY.lookup(method)
    if method not in available(model):
        kind = "a convolutional model" if explainer.needs == "conv_layer" else "a vision transformer"
        raise ValueError(f"{explainer.title} needs {kind}")
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(inputs), dim=1)
    if target is None:
        target = probs.argmax(dim=1)
    inputs = inputs.detach().clone().requires_grad_(True)
    with autocast(inputs.device) if isinstance(model, Backbone) else nullcontext():
        attributions = explainer.attribute(model, inputs, target)
    return attributions.detach().float(), probs


__all__ = ["REGISTRY", "Explainer", "available", "explain"]
