"""Right for the Right Reasons (Ross et al. 2017).

    penalty_n = sum_d ( A_nd * d/dx_nd sum_k log p(k | x_n) )^2

where ``A`` is the irrelevant mask. Pushing these input gradients to zero makes the model insensitive
to the marked pixels, whatever the class.
"""

from xil.feedback.attributions import input_gradients
from xil.feedback.method import FeedbackMethod


def terms(model, x, y, mask):
    logits, grad = input_gradients(model, x)
    return logits, (mask[:, None] * grad).pow(2).flatten(1).sum(dim=1)


METHOD = FeedbackMethod(
    name="rrr",
    title="RRR (input gradients)",
    mask="irrelevant",
    needs_conv=False,
    lambda_scale=1e-4,  # automatic lambda (xil/train/loop.py): RR loss = 1e-4 x the initial CE
    terms=terms,
)
