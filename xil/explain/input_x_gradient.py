"""Input x Gradient: x * d f_t(x) / d x, signed (Shrikumar et al.)."""

from captum.attr import InputXGradient

from xil.explain.explainer import Explainer


def attribute(model, inputs, target):
    return InputXGradient(model).attribute(inputs, target=target).sum(dim=1)


EXPLAINER = Explainer(
    name="input_x_gradient",
    title="Input x Gradient",
    needs=None,
    attribute=attribute,
    single_pass=True,
)
