"""RRR-G: Right for the Right Reasons on Grad-CAM (Schramowski et al. 2020).

    penalty_n = sum_ij ( A_nij * GradCAM_y(x_n)_ij / max GradCAM_y(x_n) )^2

for the true class ``y``, with ``A`` the irrelevant mask and Grad-CAM upsampled to the input.
"""

from xil.feedback.attributions import grad_cam, normalise
from xil.feedback.method import FeedbackMethod


def terms(model, x, y, mask):
    logits, cam = grad_cam(model, x, y)
    return logits, (mask * normalise(cam)).pow(2).flatten(1).sum(dim=1)


METHOD = FeedbackMethod(
    name="rrr_g",
    title="RRR-G (Grad-CAM)",
    mask="irrelevant",
    needs_conv=True,
    lambda_scale=0.3,  # automatic lambda: penalty = this x cross-entropy after warm-up
    terms=terms,
)
