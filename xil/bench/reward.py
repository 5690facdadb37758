"""Reward-model benchmark: pairwise accuracy of a Bradley-Terry reward model on preference pairs.

Data: JSONL (optionally gzipped) with ``chosen`` / ``rejected`` dialogue strings, as in Anthropic's
HH-RLHF (``/work/shared/data/hh-rlhf/harmless-dev.jsonl.gz``: 1,156 pairs). A pair's prompt is the
shared dialogue up to and including the last ``"\\n\\nAssistant:"``, the two responses are the rest;
each pair is one prompt group with K = 2. Without an eval file, every fifth line (line index % 5 == 4)
is held out: an 80/20 split by line.

Reported: ``pairwise_acc`` after training and ``untrained_acc`` of the same model before it (a fresh
head on MiniLM: chance, about 0.5), ``train_s``, and the ``precision`` it trained in. The defaults are
:class:`~xil.ranking.config.RewardConfig`'s (all pairs, 256 tokens, 3 epochs: about 7 minutes on 2
CPU cores with bf16); ``--quick`` (128 tokens, one epoch) takes about a sixth of that.

    xil bench reward --train ../shared/data/hh-rlhf/harmless-dev.jsonl.gz [--quick] [--seed N] --json
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import torch

from xil import config
from xil.precision import precision_name
from xil.ranking.config import RewardConfig
from xil.ranking.metrics import pairwise_accuracy
from xil.ranking.reward import load_reward_model, train_reward

ASSISTANT = "\n\nAssistant:"
QUICK = {"max_length": 128, "epochs": 1}


def split_dialogue(chosen: str, rejected: str) -> tuple[str, str, str] | None:
    """``(prompt, chosen response, rejected response)``; the prompt ends with the last assistant cue the
    two dialogues share. None when they share none."""
    cut = chosen.rfind(ASSISTANT)
    if cut < 0 or not rejected.startswith(chosen[: cut + len(ASSISTANT)]):
        n = 0  # the dialogues differ earlier: cut at the last cue in their common prefix
        while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
            n += 1
        cut = chosen.rfind(ASSISTANT, 0, n)
        if cut < 0:
            return None
    end = cut + len(ASSISTANT)
    return chosen[:end].strip(), chosen[end:].strip(), rejected[end:].strip()


def load_pairs(path: Path) -> list[dict | None]:
    """One group ``{prompt, candidates: [chosen, rejected], pairs: [(0, 1)]}`` per line; None for a line
    without a usable split (kept so that the 80/20 split stays by line)."""
    opener = gzip.open if path.suffix == ".gz" else open
    groups = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            parts = split_dialogue(row["chosen"], row["rejected"])
            if parts is None or parts[1] == parts[2]:
                groups.append(None)  # kept as a placeholder so the split stays by line
                continue
            prompt, chosen, rejected = parts
            groups.append({"prompt": prompt, "candidates": [chosen, rejected], "pairs": [(0, 1)]})
    return groups


def run(
    train: Path,
    eval: Path | None = None,
    n_train: int | None = None,
    n_eval: int | None = None,
    max_length: int = RewardConfig.max_length,
    epochs: int = RewardConfig.epochs,
    batch_prompts: int = RewardConfig.batch_prompts,
    lr: float = RewardConfig.lr,
    backbone: str = RewardConfig.backbone,
    device: str = "auto",
    seed: int = 0,
) -> dict:
    """Train on ``train`` (first ``n_train`` pairs), evaluate on ``eval`` or the held-out fifth."""
    train = Path(train)
    if not train.exists():
        raise FileNotFoundError(f"{train} not found")
    lines = load_pairs(train)
    if eval is None:
        train_groups = [g for n, g in enumerate(lines) if n % 5 != 4 and g]
        eval_groups = [g for n, g in enumerate(lines) if n % 5 == 4 and g]
    else:
        train_groups = [g for g in lines if g]
        eval_groups = [g for g in load_pairs(Path(eval)) if g]
    train_groups, eval_groups = train_groups[:n_train], eval_groups[:n_eval]
    device = config.device(device)
    cfg = RewardConfig(
        backbone=backbone,
        epochs=epochs,
        lr=lr,
        batch_prompts=batch_prompts,
        max_length=max_length,
        seed=seed,
        device=device,
    )
    torch.manual_seed(seed)
    model, tokenizer = load_reward_model(backbone, device=device)
    untrained = pairwise_accuracy(model, tokenizer, eval_groups, max_length)
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    model, tokenizer, history = train_reward(cfg, train_groups, init=(model, tokenizer))
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {
        "data": train.name,
        "device": device,
        "precision": precision_name(device),
        "backbone": backbone,
        "epochs": epochs,
        "max_length": max_length,
        "batch_prompts": batch_prompts,
        "lr": lr,
        "n_train": len(train_groups),
        "n_eval": len(eval_groups),
        "pairwise_acc": round(pairwise_accuracy(model, tokenizer, eval_groups, max_length), 4),
        "untrained_acc": round(untrained, 4),
        "train_loss": [round(h["loss"], 4) for h in history],
        "train_s": round(seconds, 1),
    }
