"""Input x Gradient: x * d f_t(x) / d x, signed (Shrikumar et al.)."""

from captum.attr import InputXGradient

NAME = "input_x_gradient"
TITLE = "Input x Gradient"


def attribute(model, inputs, target):
    return InputXGradient(model).attribute(inputs, target=target).sum(dim=1)
