"""Text shortcut benchmark: how much each token-feedback method repairs a sentiment classifier that
learned a planted shortcut word.

Data: Pang and Lee's sentence polarity (``rt-polarity.pos`` / ``.neg``), a balanced random subset of
``n`` sentences split 2/3 train, 1/3 test. One of two shortcut words (single word pieces in MiniLM's
vocabulary) is put in front of every sentence: ``shortcut[label]`` on the training split, a random one
on the test split, so a model that reads the label off the first word is at chance on the test set.

Simulated feedback on every training text: the shortcut word (word 0) marked irrelevant for RRR and
CE; for HINT every other word marked relevant (no sentiment lexicon: "everything but the planted
word" is what an annotator who only knows the shortcut would give).

Reported per run: test accuracy, ``shortcut_attr`` (mean share of |input x gradient| on the shortcut
token), ``shortcut_flip`` (share of test predictions that change when the planted word is swapped for
the other one), training seconds and the lambda used. Read ``shortcut_flip`` before
``shortcut_attr``: a model trained against a gradient penalty can keep using the shortcut while its
input gradients on it, and so its gradient attributions, are near zero.

Defaults (1,500 sentences, 48 tokens) are sized for a two-core CPU: about 4.5 minutes there in bf16
(8 in fp32), all five runs together. ``--n 3000 --max-length 64`` or ``--n 0`` (all 10,662 sentences)
for a steadier comparison, ``--device cuda`` where there is a GPU.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from xil import config
from xil.data.text import TextDataset, inject_shortcut, rt_polarity
from xil.feedback import text as text_feedback
from xil.precision import precision_name
from xil.train.text_config import TextTrainConfig
from xil.train.text_loop import evaluate_text, predict_text, train_text

SHORTCUT = ("spielberg", "hitchcock")  # one word piece each in MiniLM's vocabulary


def _run(cfg: TextTrainConfig, ds: TextDataset, irrelevant, relevant, shortcut) -> dict:
    tr, te = ds.indices("train"), ds.indices("test")
    cuda = config.device(cfg.device) == "cuda"
    if cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    model, tokenizer, history = train_text(
        cfg, [ds.texts[i] for i in tr], ds.labels[tr], irrelevant, relevant, len(ds.class_names)
    )
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    texts = [ds.texts[i] for i in te]
    result = evaluate_text(model, tokenizer, texts, ds.labels[te], shortcut, cfg.max_length)
    out = {"acc": round(result["acc"], 4), "train_s": round(seconds, 1), "lambda": history[-1]["lambda_"]}
    if shortcut:
        out["shortcut_attr"] = round(result["shortcut_attr"], 4)
        out["shortcut_flip"] = round(_flip_rate(model, tokenizer, texts, shortcut, cfg.max_length), 4)
    return out


def _flip_rate(model, tokenizer, texts: list[str], shortcut, max_length: int) -> float:
    """Share of test predictions that change when the planted word is swapped for the other one: a
    behavioural measure of shortcut use that a model cannot hide by flattening its input gradients."""
    swap = {shortcut[0]: shortcut[1], shortcut[1]: shortcut[0]}
    swapped = [" ".join([swap[t.split()[0]], *t.split()[1:]]) for t in texts]
    before = predict_text(model, tokenizer, texts, max_length).argmax(axis=1)
    after = predict_text(model, tokenizer, swapped, max_length).argmax(axis=1)
    return float((before != after).mean())


def run(
    data: Path,
    n: int | None = 1500,
    device: str = "auto",
    epochs: int = 2,
    max_length: int = 48,
    methods: tuple[str, ...] | None = None,  # None: every text feedback method
    shortcut: tuple[str, str] = SHORTCUT,
    batch_size: int = 16,
    seed: int = 0,
    backbone: str = TextTrainConfig.backbone,
) -> dict:
    """Clean, vanilla (shortcut, no feedback) and each method; one dict of measured numbers."""
    methods = methods or tuple(text_feedback.REGISTRY.names())
    for method in methods:  # refuse an unknown name before training anything
        text_feedback.REGISTRY.lookup(method)
    clean = rt_polarity(data, limit=n or None, seed=seed)
    planted = inject_shortcut(clean, tuple(shortcut), seed=seed)
    tr = planted.indices("train")
    irrelevant = [[0] for _ in tr]  # the planted word is always word 0
    relevant = [list(range(1, len(planted.words(i)))) for i in tr]
    base = TextTrainConfig(
        method="none",
        backbone=backbone,
        epochs=epochs,
        batch_size=batch_size,
        max_length=max_length,
        seed=seed,
        device=device,
    )

    def with_(**changes) -> TextTrainConfig:
        return TextTrainConfig.from_dict({**base.to_dict(), **changes})

    clean_run = _run(base, clean, None, None, None)
    vanilla = _run(base, planted, None, None, list(shortcut))
    result = {
        "dataset": "rt-polarity",
        "device": config.device(device),
        "precision": precision_name(config.device(device)),
        "backbone": base.backbone,
        "epochs": base.epochs_for(len(tr)),  # more than asked for a small subset (min_steps)
        "max_length": max_length,
        "batch_size": batch_size,
        "shortcut": list(shortcut),
        "n_train": len(tr),
        "n_test": len(planted.indices("test")),
        "clean_acc": clean_run["acc"],
        "clean_train_s": clean_run["train_s"],
        "vanilla_acc": vanilla["acc"],
        "vanilla_shortcut_attr": vanilla["shortcut_attr"],
        "vanilla_shortcut_flip": vanilla["shortcut_flip"],
        "vanilla_train_s": vanilla["train_s"],
        "methods": {},
    }
    for method in methods:
        result["methods"][method] = _run(with_(method=method), planted, irrelevant, relevant, list(shortcut))
    return result
