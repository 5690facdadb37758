"""RRR-G: Right for the Right Reasons on Grad-CAM (Schramowski et al. 2020), as the XIL typology
(Friedrich et al. 2023, ``xil_methods/xil_loss.py``) builds it:

    penalty_n = sum_ij ( down(A_n)_ij * minmax(GradCAM_yhat(x_n))_ij )^2

with Grad-CAM at the last convolution for the *predicted* class ``yhat``, no ReLU, each map min-max
scaled to [0, 1], and the irrelevant mask ``A`` downsampled (area) to the map's resolution rather
than the map upsampled. Without the ReLU a model cannot silence the penalty by pushing the marked
cells' Grad-CAM just below zero (a ReLU'd, max-scaled map reads 0 there): after min-max scaling only
the single lowest value of a map is 0.
"""

from xil.feedback.attributions import downsample, grad_cam, minmax
from xil.feedback.method import FeedbackMethod


def terms(model, x, y, mask):
    logits, cam = grad_cam(model, x)  # target: the predicted class
    cam = minmax(cam)
    small = downsample(mask, tuple(cam.shape[1:])).to(cam.dtype)
    return logits, (small * cam).pow(2).flatten(1).sum(dim=1)


METHOD = FeedbackMethod(
    name="rrr_g",
    title="RRR-G (Grad-CAM)",
    mask="irrelevant",
    needs_conv=True,
    lambda_scale=1.0,  # automatic lambda (xil/train/loop.py): RR loss = the initial CE
    terms=terms,
)
