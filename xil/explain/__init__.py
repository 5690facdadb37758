"""Attribution methods behind one call shape, with captum underneath.

Every explainer is a small module with ``attribute(model, inputs, target) -> (N, H, W)`` maps (channels
summed) that declares itself as an :class:`Explainer` (``EXPLAINER``), registered here by name. A new
method is a new file and one line below.

Real backbones (:class:`~xil.models.backbones.Backbone`) attribute under bfloat16 autocast where the
device has it (:mod:`xil.precision`), and their probabilities come from that same pass (the softmax in
float32). The tiny models stay float32. A single-pass method (saliency, input x gradient, Grad-CAM)
takes the prediction from its own forward pass (:class:`TargetLogit`).
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
    inputs = inputs.detach().clone().requires_grad_(True)
    with autocast(inputs.device) if isinstance(model, Backbone) else nullcontext():
        if explainer.single_pass:  # the prediction comes from the attribution's own forward pass
            scored = TargetLogit(model, target)
            attributions = explainer.attribute(scored, inputs, None)
            probs = scored.probs
        else:
            with torch.no_grad():
                probs = torch.softmax(model(inputs).float(), dim=1)
            attributions = explainer.attribute(model, inputs, probs.argmax(dim=1) if target is None else target)
    return attributions.detach().float(), probs


class TargetLogit(nn.Module):
    """``model``'s logit of each example's ``target`` class (None: the class it predicts), as one
    output per example, with the class probabilities of its first call kept in ``probs``. A method
    that runs the model once on the inputs themselves (saliency, Grad-CAM) so needs no second forward
    pass for the prediction: a third of the time at 224x224. Other attributes are the model's."""

    def __init__(self, model: nn.Module, target: Tensor | None) -> None:
        super().__init__()
        self.model, self.target, self.probs = model, target, None

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.model, name)

    def forward(self, x: Tensor) -> Tensor:
        logits = self.model(x)
        if self.probs is None:
            self.probs = torch.softmax(logits.detach().float(), dim=1)
            if self.target is None:
                self.target = self.probs.argmax(dim=1)
        return logits.gather(1, self.target.to(logits.device)[:, None])[:, 0]


__all__ = ["REGISTRY", "Explainer", "available", "explain"]
