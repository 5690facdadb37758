"""Interaction efficiency: test accuracy after feedback on n training examples, one curve per method.

The XIL typology's protocol (``interaction_efficiency.py``): the model trains on the whole decoyed
training set, but only ``n`` randomly chosen examples carry feedback (their decoy mask, or the digit
as the relevant region for HINT); the others add plain cross-entropy. ``seeds`` > 1 repeats every
run with training seeds ``seed`` .. ``seed + seeds - 1`` (and a different draw of the flagged examples)
and reports the mean, ``*_std`` and the per-seed values, as ``xil bench decoy`` does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from xil import config, feedback, models
from xil.bench.decoy import DEFAULT_EPOCHS, _run, aggregate, prepare, skip_reason
from xil.train import TrainConfig, TrainData

DEFAULT_METHODS = ("rrr", "rrr_g", "hint", "ce")
DEFAULT_N = (25, 100, 400, 1600)


def run(
    dataset: str = "digits",
    data: Path | None = None,
    arch: str = "mlp",
    device: str = "auto",
    epochs: int | None = None,
    methods: list[str] | None = None,
    ns: list[int] | None = None,
    seed: int = 0,
    seeds: int = 1,
) -> dict:
    methods = list(methods or DEFAULT_METHODS)
    for method in methods:
        feedback.REGISTRY.lookup(method)
    models.REGISTRY.lookup(arch)
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, not {seeds}")
    ns = list(ns or DEFAULT_N)
    if any(n < 0 for n in ns):
        raise ValueError(f"--n must be 0 or more, not {ns}")
    epochs = epochs or DEFAULT_EPOCHS.get(arch, 30)
    prepared = prepare(dataset, data)
    runs = [_run_seed(prepared, dataset, arch, device, epochs, methods, ns, seed + i) for i in range(seeds)]
    return runs[0] if seeds == 1 else aggregate(runs)


def _run_seed(
    prepared, dataset: str, arch: str, device: str, epochs: int, methods: list[str], ns: list[int], seed: int
):
    p = prepared
    n_train = len(p.train.y)
    base = TrainConfig(method="none", arch=arch, epochs=epochs, device=device, seed=seed)
    clean = _run(base, p.clean_train, p.clean_test, p.test_decoys)
    vanilla = _run(base, p.train, p.test, p.test_decoys)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n_train))
    result = {
        "dataset": dataset,
        "arch": arch,
        "device": config.device(device),
        "epochs": epochs,
        "seed": seed,
        "n": ns,
        "n_train": n_train,
        "clean_acc": clean["acc"],
        "vanilla_acc": vanilla["acc"],
        "vanilla_wr": vanilla["wr"],
        "methods": {},
    }
    for method in methods:
        if reason := skip_reason(method, arch, tuple(p.train.x.shape[1:])):
            result["methods"][method] = {"skipped": reason}
            continue
        curve = {"acc": [], "wr": [], "lambda": []}
        for n in ns:
            keep = torch.zeros(n_train)
            keep[order[: min(n, n_train)]] = 1.0  # nested: the first n of one permutation
            keep = keep[:, None, None]
            partial = TrainData(p.train.x, p.train.y, p.train.irrelevant * keep, p.train.relevant * keep)
            cfg = TrainConfig.from_dict({**base.to_dict(), "method": method})
            measured = _run(cfg, partial, p.test, p.test_decoys)
            for key in curve:
                curve[key].append(measured[key])
        result["methods"][method] = curve
    return result
