"""Differentiable attributions for training-time penalties (captum's are for inspection, not for
second-order gradients)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def input_gradients(model: nn.Module, x: Tensor, target: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(logits, d score / d x)`` with the graph kept; score = sum of all log-probabilities when
    ``target`` is None (Ross et al.), else the target log-probability."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    log_probs = F.log_softmax(logits, dim=1)
    score = log_probs.sum() if target is None else log_probs.gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(score, x, create_graph=True)
    return logits, grad


def grad_cam(model: nn.Module, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """``(logits, Grad-CAM (N, H, W))`` at ``model.conv_layer`` for ``target``, graph kept."""
    captured: list[Tensor] = []
    handle = model.conv_layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    activations = captured[0]
    score = logits.gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(score, activations, create_graph=True)
    cam = F.relu((grad.mean(dim=(2, 3), keepdim=True) * activations).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)
    return logits, cam[:, 0]


def normalise(maps: Tensor) -> Tensor:
    """Scale each map to a maximum of 1 (differentiably)."""
    peak = maps.flatten(1).amax(dim=1).clamp_min(1e-8)
    return maps / peak[:, None, None]
