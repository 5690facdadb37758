"""The training loop for image classifiers with optional feedback penalties or counterexamples.

Automatic lambda: the first epoch is a warm-up with the penalty measured but not applied; then
lambda is set so that the epoch's mean penalty term equals ``lambda_scale`` times its mean
cross-entropy (the ratio the XIL typology scales by); each method has a default scale, chosen on
Decoy-Digits (see the README's benchmark table). Input-gradient penalties differ by orders of
magnitude between models, datasets and training stages (at initialisation they are tiny, which makes
a ratio taken there far too large), so neither a fixed default nor a ratio at step 0 works.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xil import config as xil_config
from xil import feedback, models
from xil.precision import autocast
from xil.train.config import TrainConfig


class Cancelled(Exception):
    """Raised when the progress callback asks to stop."""


@dataclass
class TrainData:
    x: Tensor  # (N, C, H, W) in [0, 1]
    y: Tensor  # (N,)
    irrelevant: Tensor | None = None  # (N, H, W), 1 where an annotator marked irrelevant
    relevant: Tensor | None = None  # (N, H, W), 1 where an annotator marked relevant
    n_classes: int | None = None  # the model's outputs; None: the largest label + 1

    def mask_for(self, method: feedback.FeedbackMethod) -> Tensor:
        mask = self.irrelevant if method.mask == "irrelevant" else self.relevant
        if mask is None:
            return torch.zeros(self.x.shape[0], *self.x.shape[2:])
        return mask.float()


def train(
    cfg: TrainConfig,
    data: TrainData,
    progress: Callable[[dict], bool | None] | None = None,
    init: nn.Module | None = None,
) -> tuple[nn.Module, list[dict]]:
    """Train a model; ``progress`` gets one dict per epoch and may return False to cancel."""
    device = xil_config.device(cfg.device)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    n_classes = (data.n_classes or int(data.y.max()) + 1) if init is None else None
    model = init if init is not None else models.build(cfg.arch, tuple(data.x.shape[1:]), n_classes)
    model = model.to(device).train()

    method = None if cfg.method == "none" else feedback.REGISTRY.get(cfg.method)
    if cfg.method != "none" and method is None:
        raise ValueError(f"unknown feedback method {cfg.method!r}; choose from none, {', '.join(feedback.REGISTRY)}")
    if method is not None and method.needs_conv and not models.has_conv(model):
        raise ValueError(f"{method.title} needs a convolutional model (arch 'cnn')")

    x, y = data.x.to(device), data.y.to(device)
    mask = data.mask_for(method).to(device) if method is not None else None
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    lam = cfg.lambda_
    history: list[dict] = []
    n = len(x)
    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        order = torch.randperm(n, generator=generator).to(device)
        totals = torch.zeros(3, device=device)  # loss, ce, penalty; read once per epoch (no per-step sync)
        for start in range(0, n, cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            xb, yb = x[idx], y[idx]
            penalty = torch.zeros((), device=device)
            with autocast(device, cpu=False):
                if method is not None and method.augment is not None:
                    x0, y0 = xb, yb  # each copy augments the original batch, whose rows the mask matches
                    for _ in range(cfg.ce_copies):
                        xa, ya = method.augment(x0, y0, mask[idx], generator)
                        xb, yb = torch.cat([xb, xa[len(x0) :]]), torch.cat([yb, ya[len(y0) :]])
                if method is not None and method.terms is not None:
                    logits, per_example = method.terms(model, xb, yb, mask[idx])
                    penalty = per_example.float().mean()
                else:
                    logits = model(xb)
                ce = F.cross_entropy(logits.float(), yb)
            loss = ce + (lam or 0.0) * penalty
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            totals += torch.stack([loss.detach(), ce.detach(), penalty.detach().float()]) * len(idx)
        record = dict(zip(("loss", "ce", "penalty"), (totals / n).tolist(), strict=True))
        if method is not None and method.terms is not None and lam is None and record["penalty"] > 0:
            scale = cfg.lambda_scale if cfg.lambda_scale is not None else method.lambda_scale
            lam = scale * record["ce"] / record["penalty"]
        record.update(epoch=epoch, epochs=cfg.epochs, seconds=time.perf_counter() - started, lambda_=lam)
        history.append(record)
        if progress is not None and progress(record) is False:
            raise Cancelled(f"cancelled after epoch {epoch}")
    return model.eval(), history
