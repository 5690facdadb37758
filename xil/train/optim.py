"""The optimiser the transformer trainers share: AdamW on the trainable parameters, linear warm-up
over ``warmup`` of the steps, then linear decay to zero."""

from __future__ import annotations

import torch
from torch import nn


def adamw_with_warmup(model: nn.Module, lr: float, weight_decay: float, warmup: float, total_steps: int):
    """``(optimiser, scheduler)``; call ``scheduler.step()`` after every optimiser step."""
    total_steps = max(1, total_steps)
    warmup_steps = int(warmup * total_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return optimiser, torch.optim.lr_scheduler.LambdaLR(optimiser, factor)
