"""Saliency: the absolute input gradient of the target logit, |d f_t(x) / d x| (Simonyan et al.)."""

from captum.attr import Saliency

from xil.explain.explainer import Explainer


def attribute(model, inputs, target):
    return Saliency(model).attribute(inputs, target=target, abs=True).sum(dim=1)


EXPLAINER = Explainer(
    name="saliency",
    title="Saliency (input gradient)",
    needs=None,
    attribute=attribute,
    single_pass=True,
)
