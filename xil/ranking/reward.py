"""Bradley-Terry reward model from rankings (InstructGPT's reward-model stage).

The model is a sequence classifier with one output, ``r(prompt, response)`` = that logit, on the
tokenizer's pair encoding (:mod:`xil.ranking.inputs`). Training minimises :func:`bt_loss` over the
pairs of prompt-grouped batches (:mod:`xil.ranking.batching`), each prompt weighted once:

    L = 1/B sum_prompts 1/|P_p| sum_{(c, r) in P_p} -log sigmoid(r(p, c) - r(p, r) - margin)

AdamW with linear warm-up and decay, gradient clipping at norm 1, bf16 autocast where the device has it, dynamic
padding with length buckets, and no per-step host sync (sums stay on the device until the epoch ends).

This module also re-exports the rest of the reward API: config, loss, scoring, metrics, explanation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from xil import config as xil_config
from xil.models.text import load_classifier
from xil.ranking.attribution import explain_preference, preference_attributions
from xil.ranking.batching import check_groups, encode_groups, prompt_batches
from xil.ranking.config import RewardConfig
from xil.ranking.loss import bt_loss
from xil.ranking.metrics import kendall_tau, pairwise_accuracy
from xil.ranking.scoring import rewards, score, score_groups
from xil.train import parallel
from xil.train.loop import Cancelled
from xil.train.optim import adamw_with_warmup, embeddings_frozen

__all__ = [
    "Cancelled",
    "RewardConfig",
    "bt_loss",
    "explain_preference",
    "kendall_tau",
    "load_reward_model",
    "pairwise_accuracy",
    "preference_attributions",
    "score",
    "score_groups",
    "train_reward",
]


def load_reward_model(name_or_path: str = "minilm", device: str = "cpu"):
    """``(model, tokenizer)``: a classifier with one output (a new head unless the checkpoint has one)."""
    model, tokenizer = load_classifier(name_or_path, num_labels=1, device=device)
    if model.config.pad_token_id is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id  # decoder backbones pool at the last non-pad
    return model, tokenizer


def train_reward(
    cfg: RewardConfig,
    groups: Sequence[dict],
    progress: Callable[[dict], bool | None] | None = None,
    init: tuple[nn.Module, object] | None = None,
) -> tuple[nn.Module, object, list[dict]]:
    """Train a reward model on ``groups``: dicts ``{prompt, candidates: [str], pairs: [(i, j)]}`` with
    ``(chosen, rejected)`` candidate indices (see :func:`xil.ranking.pairs.pairs_from_ranking`).

    ``init=(model, tokenizer)`` continues from that model (one output) instead of ``cfg.backbone``.
    ``progress`` gets one dict per epoch (epoch, epochs, loss, train_acc, pairs, seconds) and may return
    False to cancel (:class:`Cancelled`). Returns ``(model in eval mode, tokenizer, history)``."""
    check_groups(groups)
    if not any(g["pairs"] for g in groups):
        raise ValueError("no preference pairs to train on")
    group = parallel.processes(cfg.device)  # one of several processes (xil/train/parallel.py), or None
    device = group.device if group is not None else xil_config.device(cfg.device)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    if init is None:
        model, tokenizer = load_reward_model(cfg.backbone, device=device)
    else:
        model, tokenizer = init
        if model.config.num_labels != 1:
            raise ValueError(f"a reward model has one output, the initial model {model.config.num_labels}")
    model = model.to(device).train()
    if group is not None:
        group.sync_parameters(model)
    table = encode_groups(tokenizer, groups, cfg.max_length)
    n_pairs = sum(len(p) for p in table.pairs)
    n_batches = -(-sum(1 for p in table.pairs if p) // cfg.batch_prompts)
    history: list[dict] = []
    with embeddings_frozen(model, cfg.freeze_embeddings):
        optimiser, schedule = adamw_with_warmup(model, cfg.lr, cfg.weight_decay, cfg.warmup, cfg.epochs * n_batches)
        for epoch in range(1, cfg.epochs + 1):
            started = time.perf_counter()
            totals = torch.zeros(3, device=device)  # prompt-weighted loss, prompts, pairs ranked right
            share = None if group is None else group.share
            for batch in prompt_batches(table, cfg.batch_prompts, generator, share):
                optimiser.zero_grad(set_to_none=True)
                n = 0 if batch is None else len(batch.groups)  # None: no prompt of this batch is this process's
                if n:
                    r = rewards(model, table.inputs.rows(batch.rows), device)
                    r_chosen, r_rejected = r[batch.chosen.to(device)], r[batch.rejected.to(device)]
                    loss = bt_loss(r_chosen, r_rejected, cfg.margin, batch.weight.to(device))
                    loss.backward()
                    right = (r_chosen.detach() > r_rejected.detach()).float().sum()
                    totals += torch.stack([loss.detach() * n, loss.new_tensor(float(n)), right])
                params = optimiser.param_groups[0]["params"]
                if group is not None:
                    group.average_gradients(params, n)
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimiser.step()
                schedule.step()
            if group is not None:
                totals = group.sum(totals)
            loss_sum, prompts, right = totals.tolist()
            record = {
                "epoch": epoch,
                "epochs": cfg.epochs,
                "loss": loss_sum / max(prompts, 1),
                "train_acc": right / n_pairs,  # during the epoch, while the weights change
                "pairs": n_pairs,
                "seconds": time.perf_counter() - started,
            }
            history.append(record)
            stop = progress is not None and (group is None or group.is_main) and progress(record) is False
            if stop if group is None else group.any(stop):
                raise Cancelled(f"cancelled after epoch {epoch}")
    return model.eval(), tokenizer, history
