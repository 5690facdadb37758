"""Training as a job: queue it from the UI or CLI, a worker runs it and registers a model version."""

from __future__ import annotations

import threading

import numpy as np
import torch
from sqlalchemy import select
from sqlmodel import col

from db import Job, session_scope
from xil import config, feedback, jobs, models
from xil.jobs.worker import JobCancelled
from xil.services import text
from xil.services.annotate import feedback_masks, feedback_words, training_feedback
from xil.services.models import latest_model_version, model_metrics, register_model, text_model_metrics
from xil.services.projects import dataset, get_project
from xil.train import Cancelled, TrainConfig, TrainData, train
from xil.train.text_config import TextTrainConfig


def queue_training(project_id: int, cfg: TrainConfig | TextTrainConfig) -> Job:
    """Validate the settings and queue a training job; errors are raised before anything is stored.
    A backbone named by a local path must lie inside the data folders the operator allowed."""
    project = get_project(project_id)
    backbone = getattr(cfg, "backbone", "")
    if backbone and config.looks_like_path(backbone):
        config.readable_path(backbone)
    if project.task == "text":
        return _queue_text_training(project_id, cfg)
    if project.task == "ranking":
        from xil.services.ranking import queue_reward_training

        return queue_reward_training(project_id, cfg)
    if not isinstance(cfg, TrainConfig):
        raise ValueError("an image project trains with TrainConfig settings")
    if cfg.method != "none" and cfg.method not in feedback.REGISTRY:
        raise ValueError(f"unknown method {cfg.method!r}")
    if cfg.arch not in models.REGISTRY:
        raise ValueError(f"unknown architecture {cfg.arch!r}")
    if cfg.method != "none" and feedback.REGISTRY[cfg.method].needs_conv and cfg.arch != "cnn":
        raise ValueError(f"{feedback.REGISTRY[cfg.method].title} needs the CNN architecture")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise ValueError("epochs and batch size must be at least 1, the learning rate positive")
    parent = latest_model_version(project_id)
    spec = {"config": cfg.to_dict(), "parent_id": parent.id if parent else None}
    return jobs.enqueue(project_id, "train", spec)


def _queue_text_training(project_id: int, cfg: TextTrainConfig) -> Job:
    from xil.feedback.text import REGISTRY as TEXT_METHODS

    if not isinstance(cfg, TextTrainConfig):
        raise ValueError("a text project trains with TextTrainConfig settings")
    if cfg.method != "none" and cfg.method not in TEXT_METHODS:
        raise ValueError(f"unknown method {cfg.method!r}; choose from none, {', '.join(TEXT_METHODS)}")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0 or cfg.max_length < 8 or cfg.min_steps < 0:
        raise ValueError(
            "epochs and batch size must be at least 1, the learning rate positive, max length >= 8, min steps >= 0"
        )
    parent = latest_model_version(project_id)
    return jobs.enqueue(project_id, "train", {"config": cfg.to_dict(), "parent_id": parent.id if parent else None})


def queue_first_text_model(project_id: int) -> Job | None:
    """Queue the plain first model of a text project, unless a job for it exists already."""
    with session_scope() as session:
        if session.scalar(select(Job.id).where(Job.project_id == project_id).limit(1)) is not None:
            return None
    return _queue_text_training(project_id, TextTrainConfig(method="none"))


def text_training_inputs(project_id: int) -> tuple[list[str], np.ndarray, list[list[int]], list[list[int]], int]:
    """Training texts with label corrections applied, the marked words of each, and how many pieces of
    feedback went in."""
    ds = dataset(project_id)
    train_idx = ds.indices("train")
    position = {int(row): i for i, row in enumerate(train_idx)}
    texts = [ds.texts[i] for i in train_idx]
    labels = ds.labels[train_idx].copy()
    irrelevant: list[list[int]] = [[] for _ in texts]
    relevant: list[list[int]] = [[] for _ in texts]
    used = 0
    for row, fb in feedback_words(project_id):
        if row not in position:
            continue
        used += 1
        i = position[row]
        irrelevant[i] = text.word_marks(fb.payload, "irrelevant")
        relevant[i] = text.word_marks(fb.payload, "relevant")
        if fb.label is not None:
            labels[i] = fb.label
    return texts, labels, irrelevant, relevant, used


def run_text_training_job(job: Job, ctx: jobs.JobContext) -> tuple[dict, int]:
    from xil.train.text_loop import train_text

    cfg = TextTrainConfig.from_dict(job.spec["config"])
    ds = dataset(job.project_id)
    texts, labels, irrelevant, relevant, n_feedback = text_training_inputs(job.project_id)
    ctx.report(
        0.0, log=f"fine-tuning {cfg.backbone} with {cfg.method} on {len(texts)} texts, {n_feedback} with feedback"
    )
    try:
        model, tokenizer, history = train_text(
            cfg, texts, labels, irrelevant, relevant, n_classes=len(ds.class_names), progress=_progress(ctx)
        )
    except Cancelled as exc:
        raise JobCancelled(str(exc)) from exc
    metrics = text_model_metrics(job.project_id, model.cpu(), tokenizer)
    metrics["train_s"] = round(sum(r["seconds"] for r in history), 3)
    metrics["lambda"] = history[-1]["lambda_"] if history else None
    version = text.register_text_model(
        job.project_id, model, tokenizer, cfg, metrics, n_feedback, job.spec.get("parent_id"), job=ctx
    )
    ctx.report(1.0, log=f"model version {version.version}: test accuracy {metrics['test_acc']:.3f}")
    return metrics, version.id


def _progress(ctx: jobs.JobContext):
    def progress(record: dict) -> bool:
        line = (
            f"epoch {record['epoch']}/{record['epochs']}: loss {record['loss']:.4f} "
            f"(ce {record['ce']:.4f}, penalty {record['penalty']:.3g})"
        )
        return ctx.report(record["epoch"] / record["epochs"] * 0.95, record, line)

    return progress


def training_data(project_id: int, method: str) -> tuple[TrainData, int]:
    """The training split with label corrections applied and the annotators' masks; and how many
    pieces of feedback went in."""
    ds = dataset(project_id)
    train_idx = ds.indices("train")
    x = torch.from_numpy(ds.images[train_idx])
    y = torch.from_numpy(ds.labels[train_idx].copy())
    position = {int(row): i for i, row in enumerate(train_idx)}
    rows, irrelevant, relevant = feedback_masks(project_id)
    irr = torch.zeros(len(train_idx), *ds.shape[1:])
    rel = torch.zeros_like(irr)
    for row, m_irr, m_rel in zip(rows, irrelevant, relevant, strict=True):
        if int(row) in position:
            irr[position[int(row)]] = torch.from_numpy(m_irr.astype(np.float32))
            rel[position[int(row)]] = torch.from_numpy(m_rel.astype(np.float32))
    with session_scope() as session:
        from db import Example

        idx_of = dict(session.execute(select(Example.id, Example.idx).where(Example.project_id == project_id)).all())
    used = 0
    for fb in training_feedback(project_id):  # without wrong reasons that give none
        row = idx_of[fb.example_id]
        if row in position:
            used += 1
            if fb.label is not None:
                y[position[row]] = fb.label
    return TrainData(x, y, irrelevant=irr, relevant=rel, n_classes=len(ds.class_names)), used


def run_training_job(job: Job, ctx: jobs.JobContext) -> tuple[dict, int]:
    task = get_project(job.project_id).task
    if task == "text":
        return run_text_training_job(job, ctx)
    if task == "ranking":
        from xil.services.ranking import run_reward_job

        return run_reward_job(job, ctx)
    cfg = TrainConfig.from_dict(job.spec["config"])
    data, n_feedback = training_data(job.project_id, cfg.method)
    ctx.report(0.0, log=f"training {cfg.arch} with {cfg.method} on {len(data.x)} examples, {n_feedback} with feedback")
    try:
        model, history = train(cfg, data, progress=_progress(ctx))
    except Cancelled as exc:
        raise JobCancelled(str(exc)) from exc
    model = model.cpu()
    metrics = model_metrics(job.project_id, model)
    metrics["train_s"] = round(sum(r["seconds"] for r in history), 3)
    metrics["lambda"] = history[-1]["lambda_"] if history else None
    version = register_model(job.project_id, model, cfg, metrics, n_feedback, job.spec.get("parent_id"), job=ctx)
    ctx.report(1.0, log=f"model version {version.version}: test accuracy {metrics['test_acc']:.3f}")
    return metrics, version.id


JOB_HANDLERS = {"train": run_training_job}


def run_worker(once: bool = False, stop: threading.Event | None = None) -> int:
    return jobs.run_worker(JOB_HANDLERS, once=once, stop=stop)


def list_jobs(project_id: int, limit: int = 50) -> list[Job]:
    with session_scope() as session:
        query = select(Job).where(Job.project_id == project_id).order_by(col(Job.id).desc()).limit(limit)
        return list(session.scalars(query))


def get_job(job_id: int) -> Job:
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise ValueError(f"no job {job_id}")
        return job


def cancel_job(job_id: int) -> Job:
    return jobs.cancel(job_id)


# --- what will run: the Train page shows this before a job is queued -------------------------------


def uses_lambda(task: str, method: str) -> bool:
    """Whether ``method`` has a penalty weight: counterexamples add copies instead, plain has none."""
    if task == "text":
        from xil.feedback.text import REGISTRY as registry
    else:
        registry = feedback.REGISTRY
    return method in registry and registry[method].terms is not None


def default_lambda(task: str, method: str) -> float | None:
    """A fixed lambda a method uses when none is given (text RRR: 3), instead of the automatic one."""
    if task != "text":
        return None
    from xil.feedback.text import REGISTRY as registry

    return registry[method].default_lambda if method in registry else None


def training_plan(project_id: int, cfg: TrainConfig | TextTrainConfig) -> str:
    """One sentence saying what a job with ``cfg`` will really run: the epochs (a small text dataset
    gets more than asked, see ``min_steps``), the optimiser steps and which lambda."""
    task = get_project(project_id).task
    n = len(dataset(project_id).indices("train"))
    epochs = cfg.epochs_for(n) if isinstance(cfg, TextTrainConfig) else cfg.epochs
    steps = epochs * -(-n // cfg.batch_size)
    kind = "texts" if task == "text" else "examples"
    plan = f"Will run {epochs} epoch{'s' if epochs != 1 else ''} ({steps:,} steps of {cfg.batch_size} on {n:,} training {kind})"
    if epochs != cfg.epochs:
        plan += f": {cfg.epochs} asked, but a dataset this small needs {epochs} to reach {cfg.min_steps} steps"
    if not uses_lambda(task, cfg.method):
        return plan + "; no penalty weight (lambda) for this method."
    fixed = default_lambda(task, cfg.method) if cfg.lambda_ is None else cfg.lambda_
    if fixed is not None:
        return plan + f", lambda {fixed:g}."
    scale = cfg.lambda_scale
    if scale is None:
        scale = feedback.REGISTRY[cfg.method].lambda_scale if task != "text" else _text_scale(cfg.method)
    return plan + f", automatic lambda: set after a warm-up so that the penalty is {scale:g} x the cross-entropy."


def _text_scale(method: str) -> float:
    from xil.feedback.text import REGISTRY as registry

    return registry[method].lambda_scale
