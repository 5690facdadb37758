"""Decoy benchmark: how much each feedback method repairs a model that learned a decoy shortcut.

Simulated feedback is the true decoy mask (irrelevant) or the digit's own pixels (relevant, for
HINT) on all, or a fraction of, the training examples.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from xil import config, data, feedback, models
from xil.data import ImageDataset
from xil.train import TrainConfig, TrainData, evaluate, train

DEFAULT_EPOCHS = {"mlp": 64, "cnn": 30}


def _load(dataset: str, folder: Path | None, decoys: bool) -> ImageDataset:
    if dataset == "digits":
        return data.decoy_digits(decoys=decoys)
    if dataset == "mnist":
        if folder is None:
            raise ValueError("--dataset mnist needs --data DIR with MNIST IDX files")
        return data.decoy_mnist(folder, decoys=decoys)
    raise ValueError(f"unknown dataset {dataset!r}; choose digits or mnist")


def _run(cfg: TrainConfig, d: TrainData, test: tuple, decoy_masks: np.ndarray) -> dict:
    if config.device(cfg.device) == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    model, history = train(cfg, d)
    if config.device(cfg.device) == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    result = evaluate(model, *test, decoy_masks)
    return {
        "acc": round(result["acc"], 4),
        "wr": round(result["wr"], 5),
        "train_s": round(seconds, 2),
        "lambda": history[-1]["lambda_"],
    }


def run(
    dataset: str = "digits",
    data: Path | None = None,
    arch: str = "mlp",
    device: str = "auto",
    epochs: int | None = None,
    methods: list[str] | None = None,
    fractions: list[float] | None = None,
    seed: int = 0,
) -> dict:
    methods = methods or feedback.REGISTRY.names()
    for method in methods:  # refuse an unknown name before training anything
        feedback.REGISTRY.lookup(method)
    models.REGISTRY.lookup(arch)
    epochs = epochs or DEFAULT_EPOCHS[arch]
    decoyed = _load(dataset, data, decoys=True)
    clean = _load(dataset, data, decoys=False)
    tr, te = decoyed.indices("train"), decoyed.indices("test")
    t = torch.from_numpy
    irrelevant = t(decoyed.decoy_masks[tr]).float()
    relevant = t((clean.images[tr, 0] > 0.1) & ~decoyed.decoy_masks[tr]).float()
    train_data = TrainData(t(decoyed.images[tr]), t(decoyed.labels[tr]), irrelevant, relevant)
    test = (t(decoyed.images[te]), t(decoyed.labels[te]))
    base = TrainConfig(method="none", arch=arch, epochs=epochs, device=device, seed=seed)

    def with_(**changes) -> TrainConfig:
        return TrainConfig.from_dict({**base.to_dict(), **changes})

    clean_run = _run(
        base,
        TrainData(t(clean.images[tr]), t(clean.labels[tr])),
        (t(clean.images[te]), t(clean.labels[te])),
        decoyed.decoy_masks[te],
    )
    vanilla = _run(base, train_data, test, decoyed.decoy_masks[te])
    result = {
        "dataset": dataset,
        "arch": arch,
        "device": config.device(device),
        "epochs": epochs,
        "n_train": len(tr),
        "n_test": len(te),
        "clean_acc": clean_run["acc"],
        "vanilla_acc": vanilla["acc"],
        "vanilla_wr": vanilla["wr"],
        "vanilla_train_s": vanilla["train_s"],
        "methods": {},
    }
    for method in methods:
        if feedback.REGISTRY.lookup(method).needs_conv and not models.REGISTRY.lookup(arch).conv:
            result["methods"][method] = {"skipped": f"{feedback.REGISTRY[method].title} needs --arch cnn"}
            continue
        result["methods"][method] = _run(with_(method=method), train_data, test, decoyed.decoy_masks[te])
    if "rrr" in result["methods"] and "train_s" in result["methods"]["rrr"]:
        result["rrr_step_time_ratio"] = round(result["methods"]["rrr"]["train_s"] / vanilla["train_s"], 2)
    if fractions:
        rng = np.random.default_rng(seed)
        curve = {}
        for method in [m for m in ("rrr", "ce") if m in methods]:
            curve[method] = []
            for fraction in fractions:
                keep = torch.from_numpy(rng.random(len(tr)) < fraction).float()[:, None, None]
                partial = TrainData(train_data.x, train_data.y, irrelevant * keep, relevant * keep)
                run_ = _run(with_(method=method), partial, test, decoyed.decoy_masks[te])
                curve[method].append(
                    {"fraction": fraction, "n_feedback": int(keep.sum()), "acc": run_["acc"], "wr": run_["wr"]}
                )
        result["feedback_fraction"] = curve
    return result
