"""Attribution methods behind one call shape, with captum underneath.

Every explainer is a small module with ``attribute(model, inputs, target) -> (N, H, W)`` maps (channels
summed), registered here by name. A new method is a new file and one line below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from xil.explain import grad_cam, input_x_gradient, integrated_gradients, occlusion, saliency


@dataclass(frozen=True)
class Explainer:
    name: str
    title: str
    attribute: Callable[[nn.Module, Tensor, Tensor], Tensor]
    needs_conv: bool = False


REGISTRY: dict[str, Explainer] = {
    m.NAME: Explainer(m.NAME, m.TITLE, m.attribute, getattr(m, "NEEDS_CONV", False))
    for m in (saliency, input_x_gradient, integrated_gradients, grad_cam, occlusion)
}


def available(model: nn.Module) -> list[str]:
    from xil.models import has_conv

    return [name for name, e in REGISTRY.items() if has_conv(model) or not e.needs_conv]


def explain(model: nn.Module, inputs: Tensor, method: str, target: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Return ``(attributions (N, H, W), class probabilities (N, K))``; target defaults to the prediction."""
    if method not in REGISTRY:
        raise ValueError(f"unknown explanation method {method!r}; choose from {sorted(REGISTRY)}")
    if method not in available(model):
        raise ValueError(f"{REGISTRY[method].title} needs a convolutional model")
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(inputs), dim=1)
    if target is None:
        target = probs.argmax(dim=1)
    inputs = inputs.detach().clone().requires_grad_(True)
    attributions = REGISTRY[method].attribute(model, inputs, target)
    return attributions.detach(), probs
