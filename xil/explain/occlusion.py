"""Occlusion: the drop in the target logit when a 4x4 patch (stride 2) is set to 0 (Zeiler and Fergus)."""

from captum.attr import Occlusion

from xil.explain.explainer import Explainer


def attribute(model, inputs, target):
    channels = inputs.shape[1]
    return (
        Occlusion(model)
        .attribute(
            inputs,
            target=target,
            sliding_window_shapes=(channels, 4, 4),
            strides=(channels, 2, 2),
            baselines=0.0,
            perturbations_per_eval=64,
        )
        .sum(dim=1)
    )


EXPLAINER = Explainer(
    name="occlusion",
    title="Occlusion (4x4 patches)",
    needs_conv=False,
    attribute=attribute,
)
