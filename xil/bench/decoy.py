"""Decoy benchmark: how much each feedback method repairs a model that learned a decoy shortcut.

Simulated feedback is the true decoy mask (irrelevant) or the digit's own pixels (relevant, for
HINT: the clean image's pixels above 0, as the XIL typology's Decoy-MNIST) on all, or a fraction of,
the training examples. ``seeds`` > 1 repeats every run with training seeds 0..N-1 (initialisation,
shuffling, counterexample noise; the data and its decoys stay those of seed 0) and reports the mean
with ``*_std`` (population standard deviation) and the per-seed values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xil import config, data, feedback, models
from xil.data import ImageDataset
from xil.data.cifar import decoy_cifar10
from xil.train import TrainConfig, TrainData, coarse_map, evaluate, train

DEFAULT_EPOCHS = {"mlp": 64, "cnn": 30, "convnet": 30}
BACKBONE_EPOCHS = 15
DATASETS = ("digits", "mnist", "cifar10")
DEFAULT_ARCH = {"digits": "mlp", "mnist": "mlp", "cifar10": "resnet18"}
# Decoy-CIFAR-10 on the CPU, sized to end within 15 minutes on 2 cores: a ResNet-18 of half the channels
# at CIFAR's own 32 pixels, 200 training and 500 test images per class, 30 epochs (on a GPU: ResNet-18,
# all 2,000 and 1,000 images per class, 15 epochs). Each is a default: an option given wins.
CPU_DEFAULTS = {"cifar10": {"arch": "resnet18_half", "per_class": (200, 500), "image_size": 32, "epochs": 30}}


def _load(dataset: str, folder: Path | None, decoys: bool, per_class: tuple | None = None) -> ImageDataset:
    if dataset == "digits":
        return data.decoy_digits(decoys=decoys)
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose {', '.join(DATASETS)}")
    if folder is None:
        raise ValueError(f"--dataset {dataset} needs --data DIR (MNIST IDX files, or CIFAR-10's train/ and test/)")
    if dataset == "mnist":
        return data.decoy_mnist(folder, decoys=decoys)
    train, test = per_class or (None, None)
    return decoy_cifar10(folder, decoys=decoys, per_class_train=train, per_class_test=test)


@dataclass
class Prepared:
    """A decoy dataset as the benchmarks train on it: decoyed and clean training data with simulated
    feedback masks (all examples), the test sets and the test images' decoy masks."""

    train: TrainData
    clean_train: TrainData
    test: tuple
    clean_test: tuple
    test_decoys: np.ndarray


def prepare(dataset: str, folder: Path | None, per_class: tuple | None = None) -> Prepared:
    decoyed = _load(dataset, folder, decoys=True, per_class=per_class)
    clean = _load(dataset, folder, decoys=False, per_class=per_class)
    tr, te = decoyed.indices("train"), decoyed.indices("test")
    t = torch.from_numpy
    irrelevant = t(decoyed.decoy_masks[tr]).float()
    relevant = t((clean.images[tr, 0] > 0) & ~decoyed.decoy_masks[tr]).float()
    return Prepared(
        train=TrainData(t(decoyed.images[tr]), t(decoyed.labels[tr]), irrelevant, relevant),
        clean_train=TrainData(t(clean.images[tr]), t(clean.labels[tr])),
        test=(t(decoyed.images[te]), t(decoyed.labels[te])),
        clean_test=(t(clean.images[te]), t(clean.labels[te])),
        test_decoys=decoyed.decoy_masks[te],
    )


def skip_reason(method: str, arch: str, shape: tuple | None = None, image_size: int | None = None) -> str | None:
    """Why ``method`` cannot train ``arch`` (on images of ``shape``, resized to ``image_size``), or None."""
    if not feedback.REGISTRY.lookup(method).needs_conv:
        return None
    if models.lookup(arch).conv is False:
        return f"{feedback.REGISTRY[method].title} needs a convolutional --arch"
    return coarse_map(method, arch, tuple(shape), image_size) if shape is not None else None


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
    arch: str | None = None,
    device: str = "auto",
    epochs: int | None = None,
    methods: list[str] | None = None,
    fractions: list[float] | None = None,
    seed: int = 0,
    seeds: int = 1,
    image_size: int | None = None,
    per_class: int | None = None,
) -> dict:
    """One seed: the measured numbers as they are; ``seeds`` > 1: their mean, std and per-seed values.
    ``arch``, ``epochs``, ``image_size``: default per dataset and device (:data:`CPU_DEFAULTS`);
    ``per_class``: training images per class of cifar10 (test images stay the default's)."""
    methods = methods or feedback.REGISTRY.names()
    for method in methods:  # refuse an unknown name before training anything
        feedback.REGISTRY.lookup(method)
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, not {seeds}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose {', '.join(DATASETS)}")
    defaults = CPU_DEFAULTS.get(dataset, {}) if config.device(device) == "cpu" else {}
    arch = arch or defaults.get("arch") or DEFAULT_ARCH[dataset]
    image_size = image_size or defaults.get("image_size")
    backbone = models.lookup(arch).backbone
    epochs = epochs or defaults.get("epochs") or (BACKBONE_EPOCHS if backbone else DEFAULT_EPOCHS.get(arch, 30))
    sizes = defaults.get("per_class")
    if per_class is not None:
        sizes = (per_class, sizes[1] if sizes else None)
    options = {"image_size": image_size, "per_class": sizes}
    runs = [
        _run_seed(dataset, data, arch, device, epochs, methods, fractions, seed + i, **options) for i in range(seeds)
    ]
    return runs[0] if seeds == 1 else aggregate(runs)


def aggregate(runs: list[dict]) -> dict:
    """Numbers (or lists of numbers) of the same key across seeds -> mean, ``<key>_std`` and
    ``<key>_runs``; constant integers and text stay as they are."""

    def numeric(value) -> bool:
        return value is not None and not isinstance(value, bool) and isinstance(value, int | float)

    def merge(values: list):
        first = values[0]
        if isinstance(first, list):
            return [merge([v[i] for v in values]) for i in range(len(first))]
        if not isinstance(first, dict):
            return first
        out = {}
        for key in first:
            items = [v[key] for v in values]
            ints = [i if isinstance(i, list) else [i] for i in items]
            constant_int = all(type(e) is int for i in ints for e in i) and all(i == items[0] for i in items)
            number_lists = all(isinstance(i, list) and i and all(numeric(e) for e in i) for i in items)
            if constant_int:
                out[key] = items[0]
            elif number_lists:
                array = np.asarray(items, dtype=float)
                out[key] = [round(float(m), 5) for m in array.mean(axis=0)]
                out[f"{key}_std"] = [round(float(m), 5) for m in array.std(axis=0)]
                out[f"{key}_runs"] = items
            elif constant_int or not all(numeric(i) for i in items):
                out[key] = merge(items) if isinstance(items[0], dict | list) else items[0]
            else:
                array = np.asarray(items, dtype=float)
                out[key] = round(float(array.mean()), 5)
                out[f"{key}_std"] = round(float(array.std()), 5)
                out[f"{key}_runs"] = items
        return out

    result = merge([{k: v for k, v in r.items() if k != "seed"} for r in runs])
    result["seeds"] = [r["seed"] for r in runs]
    return result


def _run_seed(
    dataset: str,
    data: Path | None,
    arch: str,
    device: str,
    epochs: int,
    methods: list[str],
    fractions: list[float] | None,
    seed: int,
    image_size: int | None = None,
    per_class: tuple | None = None,
) -> dict:
    p = prepare(dataset, data, per_class)
    train_data, test, test_decoys = p.train, p.test, p.test_decoys
    irrelevant, relevant = train_data.irrelevant, train_data.relevant
    base = TrainConfig(method="none", arch=arch, epochs=epochs, device=device, seed=seed, image_size=image_size)

    def with_(**changes) -> TrainConfig:
        return TrainConfig.from_dict({**base.to_dict(), **changes})

    clean_run = _run(base, p.clean_train, p.clean_test, test_decoys)
    vanilla = _run(base, train_data, test, test_decoys)
    result = {
        "dataset": dataset,
        "arch": arch,
        "device": config.device(device),
        "epochs": epochs,
        "image_size": image_size,
        "seed": seed,
        "n_train": len(train_data.y),
        "n_test": len(test[1]),
        "clean_acc": clean_run["acc"],
        "vanilla_acc": vanilla["acc"],
        "vanilla_wr": vanilla["wr"],
        "vanilla_train_s": vanilla["train_s"],
        "methods": {},
    }
    for method in methods:
        if reason := skip_reason(method, arch, tuple(train_data.x.shape[1:]), image_size):
            result["methods"][method] = {"skipped": reason}
            continue
        result["methods"][method] = _run(with_(method=method), train_data, test, test_decoys)
    if "rrr" in result["methods"] and "train_s" in result["methods"]["rrr"]:
        result["rrr_step_time_ratio"] = round(result["methods"]["rrr"]["train_s"] / vanilla["train_s"], 2)
    if fractions:
        rng = np.random.default_rng(seed)
        curve = {}
        for method in [m for m in ("rrr", "ce") if m in methods]:
            curve[method] = []
            for fraction in fractions:
                keep = torch.from_numpy(rng.random(len(train_data.y)) < fraction).float()[:, None, None]
                partial = TrainData(train_data.x, train_data.y, irrelevant * keep, relevant * keep)
                run_ = _run(with_(method=method), partial, test, test_decoys)
                curve[method].append(
                    {"fraction": fraction, "n_feedback": int(keep.sum()), "acc": run_["acc"], "wr": run_["wr"]}
                )
        result["feedback_fraction"] = curve
    return result
