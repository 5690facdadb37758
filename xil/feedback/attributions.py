"""Differentiable attributions for training-time penalties (captum's are for inspection, not for
second-order gradients: its Grad-CAM detaches the gradients it weights the activations with)."""

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


def grad_cam(model: nn.Module, x: Tensor, target: Tensor | None = None, relu: bool = False) -> tuple[Tensor, Tensor]:
    """``(logits, Grad-CAM (N, h, w))`` at ``model.conv_layer``, at that layer's own resolution, with the
    graph kept (second-order: the penalty's gradient also flows through the channel weights).

    As captum's ``LayerGradCam``: the target logit's gradient averaged over each channel weights the
    channel's activations, summed over channels. ``target`` None: the predicted class (as the XIL
    typology's RRR-G). ``relu`` False keeps negative evidence (``relu_attributions=False``), so a
    model cannot hide a shortcut by pushing its map below zero.
    """
    captured: list[Tensor] = []
    handle = model.conv_layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    activations = captured[0]
    if target is None:
        target = logits.detach().argmax(dim=1)
    score = logits.gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(score, activations, create_graph=True)
    cam = (grad.mean(dim=(2, 3), keepdim=True) * activations).sum(dim=1)
    return logits, F.relu(cam) if relu else cam


def minmax(maps: Tensor, eps: float = 1e-6) -> Tensor:
    """Scale each map to [0, 1]: ``(m - min m) / (max m - min m + eps)`` (differentiably; the typology's
    ``norm_saliencies_fast``)."""
    flat = maps.flatten(1)
    low = flat.amin(dim=1, keepdim=True)
    shifted = flat - low
    return (shifted / (shifted.amax(dim=1, keepdim=True) + eps)).view_as(maps)


def normalise(maps: Tensor) -> Tensor:
    """Scale each map to a maximum of 1 (differentiably)."""
    peak = maps.flatten(1).amax(dim=1).clamp_min(1e-8)
    return maps / peak[:, None, None]


def downsample(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """``(N, H, W)`` mask -> ``(N, h, w)``: each cell the share of its area the mask covers (area
    interpolation), so a 4x4 swatch in a 28x28 corner still marks the corner cell of an 8x8 map."""
    if tuple(mask.shape[1:]) == tuple(size):
        return mask
    return F.interpolate(mask[:, None].float(), size=tuple(size), mode="area")[:, 0].to(mask.dtype)


def upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """``(N, h, w)`` maps -> ``(N, H, W)`` (nearest, as captum's ``LayerAttribution.interpolate``)."""
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=tuple(size), mode="nearest")[:, 0]
