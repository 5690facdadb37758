"""Occlusion: the drop in the target logit when a square patch is set to 0 (Zeiler and Fergus).

The patch is a seventh of the image's shorter side (4x4 on 28x28 digits, 32x32 at 224x224), moved by
half its size, so every image takes about 13 x 13 forward passes, in batches of ``BATCH_PIXELS``
input values, in float32 even where other methods run in bfloat16 (a logit's drop needs the resolution).
"""

import torch
from captum.attr import Occlusion

from xil.explain.explainer import Explainer, values_per_example

BATCH_PIXELS = 32 * 3 * 224 * 224


def patch_size(height: int, width: int) -> int:
    return max(2, min(height, width) // 7)


def attribute(model, inputs, target):
    channels = inputs.shape[1]
    size = patch_size(*inputs.shape[2:])
    stride = max(1, size // 2)
    per_eval = max(1, min(64, BATCH_PIXELS // values_per_example(model, inputs)))
    with torch.autocast(inputs.device.type, enabled=False):  # logit drops need float32's resolution
        return _occlude(model, inputs, target, channels, size, stride, per_eval)


def _occlude(model, inputs, target, channels, size, stride, per_eval):
    return (
        Occlusion(model)
        .attribute(
            inputs,
            target=target,
            sliding_window_shapes=(channels, size, size),
            strides=(channels, stride, stride),
            baselines=0.0,
            perturbations_per_eval=per_eval,
        )
        .sum(dim=1)
    )


EXPLAINER = Explainer(
    name="occlusion",
    title="Occlusion (patches)",
    needs=None,
    attribute=attribute,
)
