"""Saliency: the absolute input gradient of the target logit, |d f_t(x) / d x| (Simonyan et al.)."""

from captum.attr import Saliency

NAME = "saliency"
TITLE = "Saliency (input gradient)"


def attribute(model, inputs, target):
    return Saliency(model).attribute(inputs, target=target, abs=True).sum(dim=1)
