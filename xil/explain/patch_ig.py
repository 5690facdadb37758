"""Patch attribution for vision transformers: Layer Integrated Gradients on the patch embedding.

Each patch token's embedding gets (e - e') * mean_a d f_t / d e along the path from a black image's
embedding e' to the image's e (32 steps, as :mod:`xil.explain.integrated_gradients`), summed over the
embedding dimensions: one score per patch, spread bilinearly over the image's own pixels. Needs a
model that names its patch embedding ``patch_layer`` (:mod:`xil.models.backbones` finds it).
"""

import math

import torch.nn.functional as F
from captum.attr import LayerIntegratedGradients

from xil.explain.explainer import Explainer, values_per_example
from xil.explain.integrated_gradients import BATCH_PIXELS, STEPS


def attribute(model, inputs, target):
    batch = max(1, BATCH_PIXELS // values_per_example(model, inputs))
    internal = None if batch >= len(inputs) * STEPS else batch
    lig = LayerIntegratedGradients(model, model.patch_layer)
    scores = lig.attribute(inputs, target=target, n_steps=STEPS, internal_batch_size=internal)
    if scores.dim() == 4:  # (N, D, h, w): a convolutional patch projection
        grid = scores.sum(dim=1, keepdim=True)
    else:  # (N, tokens, D), tokens = h * w patches
        per_token = scores.sum(dim=2)
        side = math.isqrt(per_token.shape[1])
        grid = per_token[:, -side * side :].reshape(-1, 1, side, side)  # drop a class token if there is one
    return F.interpolate(grid.float(), size=tuple(inputs.shape[2:]), mode="bilinear", align_corners=False)[:, 0]


EXPLAINER = Explainer(
    name="patch_ig",
    title="Patch Integrated Gradients (vision transformers)",
    needs="patch_layer",
    attribute=attribute,
)
