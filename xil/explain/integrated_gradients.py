"""Integrated Gradients from a black baseline: (x - x') * mean_a d f_t(x' + a (x - x')) / d x.

32 Gauss-Legendre steps (Sundararajan et al. 2017), evaluated in batches of at most ``BATCH_PIXELS``
input values (sixteen 224x224 RGB images; a 28x28 image's 32 steps go in one batch).
"""

from captum.attr import IntegratedGradients

from xil.explain.explainer import Explainer, values_per_example

STEPS = 32
BATCH_PIXELS = 16 * 3 * 224 * 224


def attribute(model, inputs, target):
    batch = max(1, BATCH_PIXELS // values_per_example(model, inputs))
    internal = None if batch >= len(inputs) * STEPS else batch
    ig = IntegratedGradients(model)
    return ig.attribute(inputs, target=target, n_steps=STEPS, internal_batch_size=internal).sum(dim=1)


EXPLAINER = Explainer(
    name="integrated_gradients",
    title="Integrated Gradients",
    needs=None,
    attribute=attribute,
)
