"""Integrated Gradients from a black baseline: (x - x') * mean_a d f_t(x' + a (x - x')) / d x.

32 Gauss-Legendre steps, evaluated in one batch (Sundararajan et al. 2017).
"""

from captum.attr import IntegratedGradients

from xil.explain.explainer import Explainer

STEPS = 32


def attribute(model, inputs, target):
    ig = IntegratedGradients(model)
    return ig.attribute(inputs, target=target, n_steps=STEPS, internal_batch_size=None).sum(dim=1)


EXPLAINER = Explainer(
    name="integrated_gradients",
    title="Integrated Gradients",
    needs_conv=False,
    attribute=attribute,
)
