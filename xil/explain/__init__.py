"""Attribution methods behind one call shape, with captum underneath.

Every explainer is a small module with ``attribute(model, inputs, target) -> (N, H, W)`` maps (channels
summed) that declares itself as an :class:`Explainer` (``EXPLAINER``), registered here by name. A new
method is a new file and one line below.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from xil.explain import grad_cam, input_x_gradient, integrated_gradients, occlusion, saliency
from xil.explain.explainer import Explainer
from xil.registry import Registry

REGISTRY: Registry[Explainer] = Registry(
    "explanation method",
    (m.EXPLAINER for m in (saliency, input_x_gradient, integrated_gradients, grad_cam, occlusion)),
)


def available(model: nn.Module) -> list[str]:
    from xil.models import has_conv

    return [name for name, e in REGISTRY.items() if has_conv(model) or not e.needs_conv]


def explain(model: nn.Module, inputs: Tensor, method: str, target: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Return ``(attributions (N, H, W), class probabilities (N, K))``; target defaults to the prediction."""
    explainer = REGISTRY.lookup(method)
    if method not in available(model):
        raise ValueError(f"{explainer.title} needs a convolutional model")
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(inputs), dim=1)
    if target is None:
        target = probs.argmax(dim=1)
    inputs = inputs.detach().clone().requires_grad_(True)
    attributions = explainer.attribute(model, inputs, target)
    return attributions.detach(), probs


__all__ = ["REGISTRY", "Explainer", "available", "explain"]
