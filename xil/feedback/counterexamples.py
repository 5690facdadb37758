"""Counterexamples (CE, as in CAIPI, Teso and Kersting 2019).

For every example with an irrelevant mask ``A``, add a copy with the marked region replaced by
uniform noise and the same label:

    x' = (1 - A) * x + A * u,   u ~ U(0, 1),   y' = y

so the marked pixels stop carrying information about the label. Plain cross-entropy does the rest.
"""

import torch

from xil.feedback.method import FeedbackMethod


def augment(x, y, mask, generator=None):
    has_mask = mask.flatten(1).any(dim=1)
    if not has_mask.any():
        return x, y
    xs, ms = x[has_mask], mask[has_mask][:, None].to(x.dtype)
    noise = torch.rand(xs.shape, generator=generator, device="cpu").to(x.device)
    counter = (1 - ms) * xs + ms * noise
    return torch.cat([x, counter]), torch.cat([y, y[has_mask]])


METHOD = FeedbackMethod(
    name="ce",
    title="Counterexamples (randomise marked region)",
    mask="irrelevant",
    needs_conv=False,
    lambda_scale=None,
    augment=augment,
)
