"""HINT-style reward of attribution inside the relevant region (Selvaraju et al. 2019, as in the
XIL typology of Friedrich et al. 2023).

    penalty_n = mean_ij ( norm(E(x_n))_ij - R_nij )^2

where ``R`` is the relevant mask, ``E`` is Grad-CAM for convolutional models and the absolute
input gradient of log p(y | x) otherwise, and ``norm`` scales each map to a maximum of 1. The model
is pulled to attribute to what the annotator marked relevant, and away from everything else.
Examples without a relevant mask add nothing.
"""

from xil.feedback.attributions import grad_cam, input_gradients, normalise
from xil.feedback.method import FeedbackMethod


def terms(model, x, y, mask):
    if getattr(model, "conv_layer", None) is not None:
        logits, maps = grad_cam(model, x, y)
    else:
        logits, grad = input_gradients(model, x, y)
        maps = grad.abs().sum(dim=1)
    has_mask = mask.flatten(1).any(dim=1).float()
    return logits, (normalise(maps) - mask).pow(2).flatten(1).mean(dim=1) * has_mask


METHOD = FeedbackMethod(
    name="hint",
    title="HINT (reward relevant region)",
    mask="relevant",
    needs_conv=False,
    lambda_scale=1.0,  # automatic lambda: penalty = this x cross-entropy after warm-up
    terms=terms,
)
