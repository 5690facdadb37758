"""Grad-CAM: ReLU(sum_c mean_ij(d f_t / d A_cij) A_c) at the last convolution, upsampled to the input.

Needs a convolutional model that names its last convolution or stage ``conv_layer`` (Selvaraju et al.).
"""

from captum.attr import LayerAttribution, LayerGradCam

from xil.explain.explainer import Explainer


def attribute(model, inputs, target):
    cam = LayerGradCam(model, model.conv_layer).attribute(inputs, target=target, relu_attributions=True)
    return LayerAttribution.interpolate(cam, tuple(inputs.shape[2:]), "bilinear").sum(dim=1)


EXPLAINER = Explainer(
    name="grad_cam",
    title="Grad-CAM",
    needs="conv_layer",
    attribute=attribute,
    single_pass=True,
)
