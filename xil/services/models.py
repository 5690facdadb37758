"""Model versions: register, load (cached), evaluate."""

from __future__ import annotations

import functools

import numpy as np
import torch
from sqlalchemy import func, select
from sqlmodel import col
from torch import nn

from db import ModelVersion, session_scope
from xil import models, storage
from xil.explain.metrics import plausibility, wrong_reason_score
from xil.services.projects import dataset, tensors
from xil.train import TrainConfig, TrainData, evaluate, train
from xil.train.evaluate import attributions


def insert_version(project_id: int, path: str, sha: str, **fields) -> ModelVersion:
    """A new ModelVersion row numbered after the project's latest (one write transaction)."""
    with session_scope(write=True) as session:
        latest = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.project_id == project_id))
        row = ModelVersion(project_id=project_id, version=(latest or 0) + 1, path=path, sha=sha, **fields)
        session.add(row)
        session.flush()
        session.refresh(row)
        return row


def save_model_folder(model, tokenizer, prefix: str) -> tuple[str, str]:
    """A Hugging Face model and tokenizer as a folder under the data directory: ``(relative path,
    SHA-256 of the weights)``."""
    import hashlib
    import uuid

    from xil import config
    from xil.models.text import save_classifier

    rel = f"models/{prefix}-{uuid.uuid4().hex}"
    folder = save_classifier(model, tokenizer, config.home() / rel)
    return rel, hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def register_model(
    project_id: int,
    model: nn.Module,
    cfg: TrainConfig,
    metrics: dict,
    n_feedback: int = 0,
    parent_id: int | None = None,
) -> ModelVersion:
    ds = dataset(project_id)
    blob = models.io.model_bytes(model, cfg.arch, ds.shape, len(ds.class_names))
    rel, sha = storage.put_bytes(blob, ".safetensors", "models")
    return insert_version(
        project_id,
        rel,
        sha,
        arch=cfg.arch,
        method=cfg.method,
        config=cfg.to_dict(),
        metrics=metrics,
        n_feedback=n_feedback,
        parent_id=parent_id,
    )


def model_metrics(project_id: int, model: nn.Module) -> dict:
    """Test accuracy; wrong-reason score on the test split's known decoys and on annotators'
    irrelevant marks; plausibility against annotators' relevant marks."""
    from xil.services.annotate import feedback_masks

    ds = dataset(project_id)
    test = ds.indices("test")
    x, y = tensors(ds, test)
    metrics = evaluate(model, x, y, ds.decoy_masks[test] if ds.decoy_masks is not None else None)
    metrics = {"test_acc": metrics["acc"], **({"wrong_reason": metrics["wr"]} if "wr" in metrics else {})}
    idx, irrelevant, relevant = feedback_masks(project_id)
    if len(idx):
        maps = attributions(model, torch.from_numpy(ds.images[idx]))
        marked = irrelevant.reshape(len(idx), -1).any(1)
        if marked.any():
            metrics["wrong_reason_feedback"] = wrong_reason_score(maps[marked], irrelevant[marked])
        value = plausibility(maps, relevant)
        if not np.isnan(value):
            metrics["plausibility"] = value
    return metrics


def train_initial_model(project_id: int, arch: str = "mlp") -> ModelVersion:
    """The first model: plain cross-entropy on the training split (it learns any shortcut there is)."""
    ds = dataset(project_id)
    x, y = tensors(ds, ds.indices("train"))
    cfg = TrainConfig(method="none", arch=arch, epochs=30, device="cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is faster, and far faster on a busy machine
    try:
        model, _ = train(cfg, TrainData(x, y, n_classes=len(ds.class_names)))
    finally:
        torch.set_num_threads(threads)
    return register_model(project_id, model, cfg, model_metrics(project_id, model))


@functools.lru_cache(maxsize=8)
def _load(rel: str, sha: str) -> nn.Module:
    return models.load_model(storage.absolute(rel), device="cpu")


def load_model(model_version_id: int) -> nn.Module:
    row = get_model_version(model_version_id)
    return _load(row.path, row.sha)


def get_model_version(model_version_id: int) -> ModelVersion:
    with session_scope() as session:
        row = session.get(ModelVersion, model_version_id)
        if row is None:
            raise ValueError(f"no model version {model_version_id}")
        return row


def list_model_versions(project_id: int) -> list[ModelVersion]:
    with session_scope() as session:
        query = select(ModelVersion).where(ModelVersion.project_id == project_id).order_by(col(ModelVersion.version))
        return list(session.scalars(query))


def latest_model_version(project_id: int) -> ModelVersion | None:
    versions = list_model_versions(project_id)
    return versions[-1] if versions else None


def text_model_metrics(project_id: int, model, tokenizer, n_faithfulness: int = 64) -> dict:
    """Test accuracy; wrong-reason score on the dataset's known shortcut words and on annotators'
    irrelevant words; plausibility (token F1, IoU, AUPRC) against annotators' relevant words;
    faithfulness (comprehensiveness, sufficiency; ERASER) on up to ``n_faithfulness`` test texts.
    Attributions are input x gradient (one backward pass per batch)."""
    from xil.explain.text import explain_text, word_scores
    from xil.explain.text_metrics import auprc, comprehensiveness, iou, sufficiency, token_f1, wrong_reason
    from xil.models.text import encode
    from xil.services.annotate import feedback_words
    from xil.services.text import EXPLAIN_MAX_LENGTH, word_marks
    from xil.train.text_loop import evaluate_text

    ds = dataset(project_id)
    model.eval()
    test = ds.indices("test")
    result = evaluate_text(model, tokenizer, [ds.texts[i] for i in test], ds.labels[test], ds.shortcut_words or None)
    metrics = {"test_acc": result["acc"]}
    if "shortcut_attr" in result:
        metrics["wrong_reason"] = result["shortcut_attr"]
    sample = [ds.texts[i] for i in test[:n_faithfulness]]
    if sample:
        encoded = encode(tokenizer, sample, max_length=EXPLAIN_MAX_LENGTH)
        attr, _ = explain_text(model, encoded, "input_x_gradient")
        metrics["comprehensiveness"] = float(np.mean(comprehensiveness(model, encoded, attr)))
        metrics["sufficiency"] = float(np.mean(sufficiency(model, encoded, attr)))
    judged = feedback_words(project_id)
    if judged:
        rows = [row for row, _ in judged]
        encoded = encode(tokenizer, [ds.texts[i] for i in rows], max_length=EXPLAIN_MAX_LENGTH)
        attr, _ = explain_text(model, encoded, "input_x_gradient")
        words = [word_scores(attr[i], encoded.word_ids[i], len(ds.words(row))).numpy() for i, row in enumerate(rows)]

        def marks(kind: str) -> list[np.ndarray]:
            out = []
            for w, (_, fb) in zip(words, judged, strict=True):
                mask = np.zeros(len(w), dtype=bool)
                mask[word_marks(fb.payload, kind)] = True
                out.append(mask)
            return out

        irrelevant, relevant = marks("irrelevant"), marks("relevant")
        if any(m.any() for m in irrelevant):
            metrics["wrong_reason_feedback"] = wrong_reason(words, irrelevant)
        if any(m.any() for m in relevant):
            metrics["token_f1"] = token_f1(words, relevant)
            metrics["iou"] = iou(words, relevant)
            metrics["auprc"] = auprc(words, relevant)
            metrics["plausibility"] = metrics["token_f1"]
    return metrics
