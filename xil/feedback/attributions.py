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


def _conv_activations(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(logits, activations at model.conv_layer)``, both in the graph."""
    captured: list[Tensor] = []
    handle = model.conv_layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    return logits, captured[0]


def hires_cam(model: nn.Module, x: Tensor, target: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(logits, HiResCAM (N, h, w))`` at ``model.conv_layer`` with the graph kept: the target logit's
    gradient times the activations cell by cell, summed over channels (Draelos and Carin 2020; captum's
    ``LayerGradientXActivation`` summed over channels), without a ReLU: a model cannot hide a shortcut
    by pushing its map below zero. Grad-CAM averages the gradient over the map first, which is faithful
    only when a global average pool follows the layer; behind a dense head (our CNNs, the typology's
    SimpleConvNet) a corner swatch's own weights are averaged away with the other 195 cells', so the
    map hardly shows the shortcut the model uses. ``target`` None: the predicted class."""
    logits, activations = _conv_activations(model, x)
    if target is None:
        target = logits.detach().argmax(dim=1)
    score = logits.gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(score, activations, create_graph=True)
    return logits, (grad * activations).sum(dim=1)


def receptive_mask(model: nn.Module, x: Tensor, mask: Tensor) -> Tensor:
    """``(N, h, w)``: 1 at the cells of ``model.conv_layer`` whose activations differ between ``x`` with
    the marked pixels set to 0 and with them set to 1, 0 elsewhere; no gradient.

    These are the cells through which the marked pixels can reach the prediction. A mask downsampled
    to the layer's resolution covers fewer: a 4x4 corner swatch is 2x2 cells of the small CNN's 14x14
    map, but its 3x3 convolutions carry it into 4x4, and a penalty on the 2x2 leaves the model the
    rest to keep using the swatch through. Two forward passes in eval mode (dropout would change every
    cell; batch norm would mix the examples and update its statistics)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            marked = mask[:, None].to(x.dtype)
            _, before = _conv_activations(model, x * (1 - marked))
            _, after = _conv_activations(model, x * (1 - marked) + marked)
    finally:
        model.train(was_training)
    change = (before - after).abs().amax(dim=1)
    tolerance = 1e-4 * before.abs().amax().clamp_min(1e-6)  # rounding, not a dependence
    return (change > tolerance).to(x.dtype)


def minmax(maps: Tensor, eps: float = 1e-6) -> Tensor:
    """Scale each map to [0, 1]: ``(m - min m) / (max m - min m + eps)`` (differentiably; the typology's
    ``norm_saliencies_fast``)."""
    flat = maps.flatten(1)
    low = flat.amin(dim=1, keepdim=True)
    shifted = flat - low
    return (shifted / (shifted.amax(dim=1, keepdim=True) + eps)).view_as(maps)
