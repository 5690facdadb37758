"""RRR-G: Right for the Right Reasons on Grad-CAM (Schramowski et al. 2020).

    penalty_n = sum_ij ( A_nij * GradCAM_y(x_n)_ij / max GradCAM_y(x_n) )^2

for the true class ``y``, with ``A`` the irrelevant mask and Grad-CAM upsampled to the input.
"""

from xil.feedback.attributions import grad_cam, normalise

NAME = "rrr_g"
TITLE = "RRR-G (Grad-CAM)"
LAMBDA_SCALE = 0.3  # automatic lambda: penalty = this x cross-entropy after warm-up
MASK = "irrelevant"
NEEDS_CONV = True


def terms(model, x, y, mask):
    logits, cam = grad_cam(model, x, y)
    return logits, (mask * normalise(cam)).pow(2).flatten(1).sum(dim=1)
