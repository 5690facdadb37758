"""RRR-G: Right for the Right Reasons on a class activation map (Schramowski et al. 2020), after the
XIL typology (Friedrich et al. 2023, ``xil_methods/xil_loss.py``) with two changes that make it work:

    penalty_n = sum_ij ( R_n,ij * minmax(HiResCAM_yhat(x_n))_ij )^2

As in the typology: the map at the last convolution for the *predicted* class ``yhat``, no ReLU (a
model cannot silence the penalty by pushing the marked cells just below zero: after min-max scaling
only a map's single lowest value is 0), each map min-max scaled to [0, 1], the squared sum.

The changes, measured on Decoy-MNIST with the small CNN (8,000 / 2,000, 8 epochs, clean 0.976,
vanilla 0.702; README, benchmarks): the typology's Grad-CAM with the mask downsampled reached
0.74-0.86 (RR loss 1, 10 and 100 x the initial CE). (1) HiResCAM instead of Grad-CAM
(``attributions.hires_cam``): Grad-CAM averages the gradient over the map, which behind a dense head
hides the swatch the model reads. (2) ``R`` marks every cell the marked pixels reach
(``attributions.receptive_mask``), not the mask downsampled: the convolutions spread a swatch beyond
its own cells, and the model kept using it through the unmarked ones. Both together: 0.968 (RR loss
30 x the initial CE); HiResCAM alone 0.82-0.89 (1 and 10 x), the receptive mask alone 0.78 (30 x).
"""

from xil.feedback.attributions import hires_cam, minmax, receptive_mask
from xil.feedback.method import FeedbackMethod


def terms(model, x, y, mask):
    logits, cam = hires_cam(model, x)  # target: the predicted class
    return logits, (receptive_mask(model, x, mask) * minmax(cam)).pow(2).flatten(1).sum(dim=1)


METHOD = FeedbackMethod(
    name="rrr_g",
    title="RRR-G (class activation map)",
    mask="irrelevant",
    needs_conv=True,
    lambda_scale=30.0,  # automatic lambda (xil/train/loop.py): RR loss = 30 x the initial CE
    terms=terms,
)
