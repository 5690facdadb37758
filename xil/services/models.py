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
from xil.jobs import JobContext
from xil.services.projects import dataset, tensors
from xil.train import TrainConfig, TrainData, evaluate, train
from xil.train.evaluate import attributions


def insert_version(project_id: int, path: str, sha: str, job: JobContext | None = None, **fields) -> ModelVersion:
    """A new ModelVersion row numbered after the project's latest (one write transaction). With ``job``,
    only while that job still runs on its worker: a worker whose job was requeued while it was away
    registers nothing (JobLost)."""
    with session_scope(write=True) as session:
        if job is not None:
            job.assert_owned(session)
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
    job: JobContext | None = None,
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
        job=job,
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


# --- display helpers: what the pages show about methods and metrics ---------------------------------

PLAIN_TITLE = "Plain (cross-entropy only)"
REWARD_TITLE = "Bradley-Terry reward model"


def method_titles(task: str) -> dict[str, str]:
    """``{method name: the one title the UI uses for it}`` for a task's training methods."""
    if task == "ranking":
        return {"bradley_terry": REWARD_TITLE}
    if task == "text":
        from xil.feedback.text import REGISTRY as registry
    else:
        from xil.feedback import REGISTRY as registry
    return {"none": PLAIN_TITLE, **{name: m.title for name, m in registry.items()}}


def method_title(method: str | None, task: str) -> str:
    """One name per method everywhere in the UI (a reward job's config has no ``method`` at all)."""
    if task == "ranking":
        return REWARD_TITLE
    return method_titles(task).get(method or "none", str(method))


# What the README's benchmarks measured, so a user who judged a few dozen examples knows whether
# "nothing changed" is expected: (method, task) -> how much feedback it needed there.
FEEDBACK_NEEDED: dict[tuple[str, str], tuple[int, str]] = {
    ("rrr", "image"): (
        120,
        "RRR on the demo needs about 120 judged examples to lift test accuracy from 0.79 to about 0.90 "
        "(benchmark: 0.780 / 0.908 / 0.922 with the decoy marked on 17 / 82 / 300 examples)",
    ),
    ("ce", "image"): (
        300,
        "counterexamples need more feedback than RRR (benchmark: 0.786 / 0.825 / 0.905 with 17 / 82 / 300 "
        "marked examples)",
    ),
    ("hint", "image"): (
        1438,
        "HINT reached 0.894 on the demo with relevant marks on all 1,438 training examples",
    ),
    ("rrr_g", "image"): (
        1438,
        "RRR-G barely helps against a corner swatch (benchmark: 0.786 on the CNN with every example marked)",
    ),
    ("ce", "text"): (
        40,
        "counterexamples on the review demo reach 1.0 test accuracy after about 40 marked reviews",
    ),
}


def feedback_hint(task: str, method: str | None, n_feedback: int) -> str | None:
    """A hint when a version used less feedback than its method needed in the benchmarks."""
    need = FEEDBACK_NEEDED.get((method or "none", task))
    if need is None or n_feedback >= need[0]:
        return None
    return f"This version used {n_feedback} judged examples; {need[1]}."


COUNT_METRICS = ("train_pairs", "eval_pairs")


def format_metric(key: str, value: object) -> str:
    """A metric as the tables show it: counts as integers, lambda in 3 significant digits (it can be
    4e4 or 1e-3), scores with 3 decimals."""
    if value is None:
        return ""
    if not isinstance(value, int | float):
        return str(value)
    if key in COUNT_METRICS:
        return f"{int(value):,}"
    if key == "lambda":  # an automatic lambda can be 4e4 or 1e-3: 43,036 and 0.00123, not 43035.610
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return f"{value:.3f}"


def wrong_reason_on_marks(model_version_id: int) -> float | None:
    """The version's wrong-reason score on the project's *current* irrelevant marks (None: no marks),
    so every version, the first one too, is measured against the same marks. Cached per version and
    state of the feedback."""
    from sqlalchemy import func as sql_func

    from db import Feedback

    row = get_model_version(model_version_id)
    with session_scope() as session:
        state = session.execute(
            select(sql_func.count(), sql_func.max(Feedback.id)).where(Feedback.project_id == row.project_id)
        ).one()
    from xil import config

    # database ids repeat across data directories (tests, a second XIL_HOME): they key the cache too
    return _wrong_reason_on_marks(model_version_id, row.sha, str(config.home()), tuple(state))


@functools.lru_cache(maxsize=64)
def _wrong_reason_on_marks(model_version_id: int, sha: str, home: str, feedback_state: tuple) -> float | None:
    from xil.services.annotate import feedback_masks, feedback_words
    from xil.services.projects import get_project

    row = get_model_version(model_version_id)
    task = get_project(row.project_id).task
    if task == "image":
        idx, irrelevant, _ = feedback_masks(row.project_id)
        marked = irrelevant.reshape(len(idx), -1).any(1) if len(idx) else np.zeros(0, dtype=bool)
        if not marked.any():
            return None
        ds = dataset(row.project_id)
        maps = attributions(load_model(model_version_id), torch.from_numpy(ds.images[idx[marked]]))
        return float(wrong_reason_score(maps, irrelevant[marked]))
    if task == "text":
        from xil.explain.text import explain_text, word_scores
        from xil.explain.text_metrics import wrong_reason
        from xil.models.text import encode
        from xil.services.text import EXPLAIN_MAX_LENGTH, load_text_model, word_marks

        judged = [(r, fb) for r, fb in feedback_words(row.project_id) if word_marks(fb.payload, "irrelevant")]
        if not judged:
            return None
        ds = dataset(row.project_id)
        model, tokenizer = load_text_model(row)
        encoded = encode(tokenizer, [ds.texts[r] for r, _ in judged], max_length=EXPLAIN_MAX_LENGTH)
        attr, _ = explain_text(model, encoded, "input_x_gradient")
        words, masks = [], []
        for i, (r, fb) in enumerate(judged):
            scores = word_scores(attr[i], encoded.word_ids[i], len(ds.words(r))).numpy()
            mask = np.zeros(len(scores), dtype=bool)
            mask[word_marks(fb.payload, "irrelevant")] = True
            words.append(scores)
            masks.append(mask)
        return float(wrong_reason(words, masks))
    return None
