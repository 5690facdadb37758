"""The Bradley-Terry reward loss (InstructGPT, Ouyang et al. 2022; margin as in Llama 2)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def bt_loss(
    r_chosen: Tensor, r_rejected: Tensor, margin: float | Tensor | None = None, weight: Tensor | None = None
) -> Tensor:
    """``-log sigmoid(r_chosen - r_rejected - margin)``, averaged over pairs.

    Under the Bradley-Terry model ``P(chosen > rejected) = sigmoid(r_chosen - r_rejected)``, so this is
    the negative log-likelihood of the stated preferences. ``margin`` (a scalar or one value per pair)
    asks for a reward gap of at least that size before the loss flattens; None = 0.

    ``weight`` (one value per pair) turns the mean into ``sum(w * l) / sum(w)``. With
    ``w = 1 / C(K, 2)`` for the pairs of a prompt this is InstructGPT's normalisation: every prompt
    counts once, however many pairs its ranking gave.
    """
    diff = r_chosen.float() - r_rejected.float()
    if margin is not None:
        diff = diff - margin
    losses = -F.logsigmoid(diff)
    if weight is None:
        return losses.mean()
    weight = weight.to(losses)
    return (losses * weight).sum() / weight.sum()
