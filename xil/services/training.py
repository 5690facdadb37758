"""Training as a job: queue it from the UI or CLI, a worker runs it and registers a model version."""

from __future__ import annotations

import threading

import numpy as np
import torch
from sqlalchemy import select
from sqlmodel import col

from db import Job, session_scope
from xil import feedback, jobs, models
from xil.jobs.worker import JobCancelled
from xil.services.annotate import current_feedback, feedback_masks
from xil.services.models import latest_model_version, model_metrics, register_model
from xil.services.projects import dataset, get_project
from xil.train import Cancelled, TrainConfig, TrainData, train


def queue_training(project_id: int, cfg: TrainConfig) -> Job:
    """Validate the settings and queue a training job; errors are raised before anything is stored."""
    get_project(project_id)
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
    for fb in current_feedback(project_id):
        row = idx_of[fb.example_id]
        if row in position:
            used += 1
            if fb.label is not None:
                y[position[row]] = fb.label
    return TrainData(x, y, irrelevant=irr, relevant=rel, n_classes=len(ds.class_names)), used


def run_training_job(job: Job, ctx: jobs.JobContext) -> tuple[dict, int]:
    cfg = TrainConfig.from_dict(job.spec["config"])
    data, n_feedback = training_data(job.project_id, cfg.method)
    ctx.report(0.0, log=f"training {cfg.arch} with {cfg.method} on {len(data.x)} examples, {n_feedback} with feedback")

    def progress(record: dict) -> bool:
        line = f"epoch {record['epoch']}/{record['epochs']}: loss {record['loss']:.4f} (ce {record['ce']:.4f}, penalty {record['penalty']:.3g})"
        return ctx.report(record["epoch"] / record["epochs"] * 0.95, record, line)

    try:
        model, history = train(cfg, data, progress=progress)
    except Cancelled as exc:
        raise JobCancelled(str(exc)) from exc
    model = model.cpu()
    metrics = model_metrics(job.project_id, model)
    metrics["train_s"] = round(sum(r["seconds"] for r in history), 3)
    metrics["lambda"] = history[-1]["lambda_"] if history else None
    version = register_model(job.project_id, model, cfg, metrics, n_feedback, job.spec.get("parent_id"))
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
