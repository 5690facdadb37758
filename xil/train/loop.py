"""The training loop for image classifiers with optional feedback penalties or counterexamples.

Automatic lambda, one rule for every architecture (the XIL typology's later version,
``Learner.calculate_normalization_rates``): before the first step, on the untrained model,

    lambda = lambda_scale * CE_0 / (share of marked examples * mean penalty_0 of a marked example)

so that the right-reason loss starts at ``lambda_scale`` times the right-answer loss. It is measured
on up to ``CALIBRATION`` examples (the penalty on marked ones only, so sparse feedback is weighed as
full feedback is). ``lambda_scale`` is a per-method constant, the same for every architecture: 1 for
both penalties that have one, HINT's and RRR-G's, each a share of an attribution (on Decoy-Digits with
the small CNN, RRR-G at 0.3, 1 and 3: 0.948, 0.961, 0.944 over three seeds; its former squared
min-max scaled map needed 30 and stayed at 0.926). The former rule took the ratio after a warm-up
epoch, by when each architecture had learnt the shortcut to a different degree: its multiples, tuned
on the MLP, were 10x too small for the CNN.

RRR has no automatic lambda: a fixed weight per marked example (``lambda_per_marked`` 10, divided by
the share of examples with marks; ``backbone_lambda_per_marked`` 1 on a backbone), since its penalty on
the untrained model says little (``xil/feedback/rrr.py`` has the numbers). A fixed ``lambda_`` skips all of this.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xil import config as xil_config
from xil import feedback, models
from xil.feedback.attributions import check_map
from xil.precision import autocast
from xil.train import parallel
from xil.train.augment import crop_and_flip
from xil.train.config import TrainConfig
from xil.train.data import Masks, TrainData, batches, marked_rows, take


class Cancelled(Exception):
    """Raised when the progress callback asks to stop."""


@functools.lru_cache(maxsize=32)
def coarse_map(method: str, arch: str, shape: tuple[int, int, int], image_size: int | None = None) -> str | None:
    """Why ``method`` cannot train ``arch`` on images of ``shape`` (resized to ``image_size``) because
    its last convolution's map is too coarse (:func:`check_map`), or None. Builds the model once per
    argument set (an ``hf:`` name may read the hub)."""
    if method == "none" or not feedback.REGISTRY.lookup(method).needs_conv:
        return None
    if models.lookup(arch).conv is False:
        return None  # the config says so
    try:
        with torch.random.fork_rng(devices=[]):  # building draws weights: leave the caller's seed alone
            check_map(models.build(arch, shape, 2, image_size=image_size), torch.zeros(1, *shape))
    except ValueError as e:
        return str(e)
    return None


def train(
    cfg: TrainConfig,
    data: TrainData,
    progress: Callable[[dict], bool | None] | None = None,
    init: nn.Module | None = None,
) -> tuple[nn.Module, list[dict]]:
    """Train a model; ``progress`` gets one dict per epoch and may return False to cancel. Launched as
    one of several processes (:mod:`xil.train.parallel`), each trains on its share of every batch and
    only the first reports progress."""
    group = parallel.processes(cfg.device)
    device = group.device if group is not None else xil_config.device(cfg.device)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)  # initialisation and order: the same in every process
    augmenter = generator if group is None else group.augmenter(cfg.seed)
    n_classes = (data.n_classes or int(data.y.max()) + 1) if init is None else None
    if init is None:
        shape = tuple(data.x.shape[1:])
        model = models.build(cfg.arch, shape, n_classes, weights=cfg.weights, image_size=cfg.image_size)
    else:
        model = init
    model = model.to(device).train()
    if group is not None:
        group.sync_parameters(model)
    if cfg.train_head_only:
        for p in model.parameters():
            p.requires_grad_(False)
        model.head.requires_grad_(True)

    method = None if cfg.method == "none" else feedback.REGISTRY.get(cfg.method)
    if cfg.method != "none" and method is None:
        raise ValueError(f"unknown feedback method {cfg.method!r}; choose from none, {', '.join(feedback.REGISTRY)}")
    if method is not None and method.needs_conv and not models.has_conv(model):
        raise ValueError(f"{method.title} needs a convolutional model (arch 'cnn' or 'convnet')")

    data = data.resident()  # in memory (and on the device) where it fits; else streamed from disk
    if data.streamed:
        x, y = data.x, data.y
        mask = data.mask_for(method) if method is not None else None
    else:
        x, y = data.x.to(device), data.y.to(device)
        mask = data.mask_for(method).to(device) if method is not None else None
    if method is not None and method.needs_conv:
        check_map(model, take(x, torch.arange(1), device))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    lam = cfg.lambda_
    if method is not None and method.terms is not None and lam is None:
        lam = default_weight(cfg, method, model, x, y, mask, generator, device)
        if group is not None and lam is not None:
            lam = group.mean(lam)  # the same on every process (GPUs need not agree to the last bit)
    if cfg.train_head_only:  # frozen means frozen: batch-norm statistics stay as loaded too
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
    history: list[dict] = []
    n = len(x)
    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        totals = torch.zeros(3, device=device)  # loss, ce, penalty; read once per epoch (no per-step sync)
        share = None if group is None else group.share
        for xb, yb, mb in batches(x, y, mask, order, cfg.batch_size, device, share):
            rows = len(xb)
            optimiser.zero_grad(set_to_none=True)
            if rows == 0:  # this process's share of a last, small batch: it still joins the average
                group.average_gradients(trainable, 0)
                optimiser.step()
                continue
            if cfg.augment:
                xb, mb = crop_and_flip(xb, mb, augmenter)
            penalty = torch.zeros((), device=device)
            with autocast(device, cpu=False):
                if method is not None and method.augment is not None:
                    x0, y0 = xb, yb  # each copy augments the original batch, whose rows the mask matches
                    for _ in range(cfg.ce_copies):
                        xa, ya = method.augment(x0, y0, mb, augmenter)
                        xb, yb = torch.cat([xb, xa[len(x0) :]]), torch.cat([yb, ya[len(y0) :]])
                if method is not None and method.terms is not None:
                    logits, per_example = method.terms(model, xb, yb, mb)
                    penalty = per_example.float().mean()
                else:
                    logits = model(xb)
                ce = F.cross_entropy(logits.float(), yb)
            loss = ce + (lam or 0.0) * penalty
            loss.backward()
            if group is not None:
                group.average_gradients(trainable, rows)
            optimiser.step()
            totals += torch.stack([loss.detach(), ce.detach(), penalty.detach().float()]) * rows
        if group is not None:
            totals = group.sum(totals)
        record = dict(zip(("loss", "ce", "penalty"), (totals / n).tolist(), strict=True))
        record.update(epoch=epoch, epochs=cfg.epochs, seconds=time.perf_counter() - started, lambda_=lam)
        history.append(record)
        stop = progress is not None and (group is None or group.is_main) and progress(record) is False
        if stop if group is None else group.any(stop):
            raise Cancelled(f"cancelled after epoch {epoch}")
    return model.eval(), history


CALIBRATION = 512  # examples the automatic lambda is measured on (marked ones for the penalty)


def default_weight(
    cfg: TrainConfig,
    method: feedback.FeedbackMethod,
    model: nn.Module,
    x,
    y: Tensor,
    mask: Masks,
    generator: torch.Generator,
    device: str,
) -> float | None:
    """Lambda when the config gives none: the method's fixed weight per marked example
    (``lambda_per_marked``, or ``backbone_lambda_per_marked`` on a backbone) over the share of examples
    with marks, else the automatic rule; times the config's ``lambda_scale`` (for the automatic rule: instead of
    the method's multiple). None when no example is marked (the penalty is zero anyway)."""
    fixed = method.fixed_lambda(backbone=isinstance(model, models.backbones.Backbone))
    if fixed is not None:
        share = len(marked_rows(mask)) / len(x)
        return None if share == 0 else fixed * (cfg.lambda_scale or 1.0) / share
    lam = automatic_lambda(model, method, x, y, mask, generator, device)
    scale = cfg.lambda_scale if cfg.lambda_scale is not None else method.lambda_scale
    return None if lam is None else scale * lam


def automatic_lambda(
    model: nn.Module,
    method: feedback.FeedbackMethod,
    x,
    y: Tensor,
    mask: Masks,
    generator: torch.Generator,
    device: str,
    batch_size: int = 128,
) -> float | None:
    """``CE_0 / (share marked * penalty_0 per marked example)`` on the untrained model; None when no
    example is marked (the penalty is zero anyway)."""
    marked = marked_rows(mask)
    if len(marked) == 0:
        return None
    picked = marked[torch.randperm(len(marked), generator=generator)[:CALIBRATION]]
    ce_rows = torch.randperm(len(x), generator=generator)[:CALIBRATION]
    ce_sum = penalty_sum = 0.0
    was_training = model.training
    for idx in ce_rows.split(batch_size):
        with torch.no_grad(), autocast(device, cpu=False):
            ce_sum += float(F.cross_entropy(model(take(x, idx, device)).float(), take(y, idx, device), reduction="sum"))
    for idx in picked.split(batch_size):
        with torch.enable_grad(), autocast(device, cpu=False):
            _, per_example = method.terms(model, take(x, idx, device), take(y, idx, device), take(mask, idx, device))
        penalty_sum += float(per_example.detach().float().sum())
    model.train(was_training)
    model.zero_grad(set_to_none=True)
    penalty = penalty_sum / len(picked) * len(marked) / len(x)
    if not penalty > 0:
        return None
    return (ce_sum / len(ce_rows)) / penalty
