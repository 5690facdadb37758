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


def _eval_activations(model: nn.Module, x: Tensor) -> Tensor:
    """Activations at ``model.conv_layer`` in eval mode without gradients (dropout would change every
    cell; batch norm would mix the examples and update its statistics); the model's mode restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return _conv_activations(model, x)[1]
    finally:
        model.train(was_training)


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


def reach(model: nn.Module, x: Tensor, mask: Tensor) -> Tensor:
    """``(N, h, w)`` in [0, 1]: how strongly the marked pixels reach each cell of ``model.conv_layer``,
    the largest change of its activations between ``x`` with the marked pixels set to 0 and set to 1,
    over the example's largest change (0 for an example without marks, and where the change is
    rounding, not a dependence); no gradient.

    A mask downsampled to the layer's resolution covers too few cells: a 4x4 corner swatch is 2x2 cells
    of the small CNN's 14x14 map, but its 3x3 convolutions carry it into 4x4, and a penalty on the 2x2
    leaves the model the rest to keep using the swatch through. A 0/1 mask of every cell the marks
    change covers too many in a deep network: in a ResNet the change is nonzero in 48 of the 49 cells
    at 224 pixels, though it falls to under 1% of its peak across the map. Two forward passes in eval
    mode."""
    marked = mask[:, None].to(x.dtype)
    before = _eval_activations(model, x * (1 - marked))
    after = _eval_activations(model, x * (1 - marked) + marked)
    change = (before - after).abs().amax(dim=1)
    tolerance = 1e-4 * before.abs().amax().clamp_min(1e-6)  # rounding, not a dependence
    change = torch.where(change > tolerance, change, torch.zeros_like(change))
    return (change / change.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]).to(x.dtype)


MIN_MAP_SIDE = 4  # cells per side of a map a penalty on it can tell a marked region from the rest


def check_map(model: nn.Module, x: Tensor) -> None:
    """Refuse a model whose ``conv_layer`` map, for inputs like ``x`` (one example is enough), is
    narrower than :data:`MIN_MAP_SIDE` cells: every cell of a 2x2 map sees a quarter of the image, so
    the marks reach all of them and a penalty on the map cannot move off them (measured: RRR-G on
    Decoy-CIFAR-10 with a ResNet at 32 pixels, whose map is 2x2, left the decoy where it was)."""
    h, w = _eval_activations(model, x[:1]).shape[-2:]
    if min(h, w) < MIN_MAP_SIDE:
        spec = getattr(model, "spec", None)  # a backbone resizes the images to its input size first
        height, width = spec.input_size if spec is not None else x.shape[-2:]
        raise ValueError(
            f"this model's last convolution gives a {h}x{w} map at {height}x{width} pixels: too coarse "
            f"to tell marked regions from the rest (at least {MIN_MAP_SIDE}x{MIN_MAP_SIDE} cells). "
            "Train at a larger image size, or use a method on the input (RRR, HINT, counterexamples)."
        )


def share_in(attribution: Tensor, region: Tensor) -> Tensor:
    """``(N,)``: the share of each example's attribution (non-negative, ``(N, h, w)``) that lies in
    ``region`` (``(N, h, w)``, 0 to 1); 0 where an example has no attribution at all. Differentiable;
    scale-free, so a model cannot lower it by shrinking every attribution, only by moving it."""
    inside = (attribution * region).flatten(1).sum(dim=1)
    return inside / attribution.flatten(1).sum(dim=1).clamp_min(1e-12)
