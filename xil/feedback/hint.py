"""HINT-style reward of attribution inside the relevant region (Selvaraju et al. 2019, as the XIL
typology of Friedrich et al. 2023 builds it in ``xil_methods/xil_loss.py``):

    penalty_n = sum_ij ( up(minmax(E(x_n)))_ij - R_nij )^2      (mse_loss(..., reduction="sum"))

where ``R`` is the relevant mask (the object), ``E`` is Grad-CAM at the last convolution for the true
class (no ReLU), upsampled to the mask, for convolutional models; for a model without one, the
absolute input gradient of log p(y | x), summed over channels. ``minmax`` scales each map to [0, 1].
The model is pulled to attribute to what the annotator marked relevant, and away from everything
else. Examples without a relevant mask add nothing.
"""

from xil.feedback.attributions import grad_cam, input_gradients, minmax, upsample
from xil.feedback.method import FeedbackMethod


def terms(model, x, y, mask):
    if getattr(model, "conv_layer", None) is not None:
        logits, cam = grad_cam(model, x, y)
        maps = upsample(minmax(cam), tuple(mask.shape[1:]))
    else:
        logits, grad = input_gradients(model, x, y)
        maps = minmax(grad.abs().sum(dim=1))
    has_mask = mask.flatten(1).any(dim=1).to(maps.dtype)
    return logits, (maps - mask.to(maps.dtype)).pow(2).flatten(1).sum(dim=1) * has_mask


METHOD = FeedbackMethod(
    name="hint",
    title="HINT (reward relevant region)",
    mask="relevant",
    needs_conv=False,
    lambda_scale=1.0,  # automatic lambda (xil/train/loop.py): RR loss = the initial CE
    terms=terms,
)
