"""Middle tier: training as a job. Queue it from the UI or CLI (the config validates itself, the
project's adapter checks the rest); a worker runs it through the same adapter and registers the
model version; the pages read job rows."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from db import Job, ModelVersion, session_scope
from xil import config, feedback, jobs, models, storage
from xil.jobs.worker import JobCancelled
from xil.services import adapters, launch
from xil.services.access import Actor, audit, require
from xil.services.adapters import config_class
from xil.services.catalog import dataset, get_project
from xil.services.feedback_store import training_feedback
from xil.services.versions import insert_version, latest_model_version
from xil.train import Cancelled, coarse_map

FEEDBACK_TITLES = {
    "all": "All feedback",
    "accepted": "Accepted by a reviewer",
    "consensus": "Consensus of the annotators",
}


def feedback_titles() -> dict[str, str]:
    """``{slice: title}`` of the feedback a job can train on (a config's ``feedback`` field)."""
    return dict(FEEDBACK_TITLES)


def check_training(project_id: int, cfg) -> None:
    """What a config cannot check on its own, raised as ValueError before a job is queued (the Train
    page shows it while the settings change): a backbone named by a local path (``hf:FOLDER`` for
    images) and a weights file must lie inside the data folders the operator allowed; the config must
    suit the project's task, and its adapter checks the rest (an image model's map too coarse for
    RRR-G, a ranking project without rankings)."""
    backbone = (
        getattr(cfg, "backbone", "") or getattr(cfg, "generator", "") or getattr(cfg, "arch", "").removeprefix("hf:")
    )
    weights = getattr(cfg, "weights", None)  # always a file: always inside the allowed folders
    try:
        if backbone and config.looks_like_path(backbone) and not config.readable_path(backbone).exists():
            raise ValueError(f"{backbone} not found")
        if weights and not config.readable_path(weights).is_file():
            raise ValueError(f"weights file {weights} not found")
    except OSError as error:  # inside the allowed folders, but not readable by the studio
        raise ValueError(f"{error.filename or backbone or weights}: {error.strerror}") from None
    adapter = adapters.for_project(project_id)
    if not isinstance(cfg, adapter.config_classes):
        raise ValueError(
            f"a {adapter.task} project trains with {' or '.join(c.__name__ for c in adapter.config_classes)}"
        )
    adapter.check(project_id, cfg)


def queue_training(project_id: int, cfg, actor: Actor | None = None) -> Job:
    """Validate the settings (:func:`check_training`) and queue a training job; errors are raised before
    anything is stored. Needs the train permission; the job's config records which feedback it trains
    on (``cfg.feedback``)."""
    require(actor, project_id, "train")
    check_training(project_id, cfg)
    parent = latest_model_version(project_id, getattr(cfg, "VERSION_METHOD", None))  # its own lineage
    spec = {"config": cfg.to_dict(), "kind": cfg.KIND, "parent_id": parent.id if parent else None}
    job = jobs.enqueue(project_id, "train", spec)
    audit(actor, "job_queued", project_id, job_id=job.id, method=getattr(cfg, "method", None), feedback=cfg.feedback)
    return job


def queue_first_model(project_id: int) -> Job | None:
    """Queue the plain first model of a new project, unless it has a job already (or its task has no
    first model: a reward model needs rankings)."""
    cfg = adapters.for_project(project_id).first_config()
    if cfg is None:
        return None
    with session_scope() as session:
        if session.scalar(select(Job.id).where(Job.project_id == project_id).limit(1)) is not None:
            return None
    return queue_training(project_id, cfg)


def register_model(
    project_id: int,
    artifact: Any,
    cfg,
    metrics: dict,
    n_feedback: int = 0,
    parent_id: int | None = None,
    job: jobs.JobContext | None = None,
) -> ModelVersion:
    """Save a trained artifact (a module, or ``(model, tokenizer)``) and insert its version; with
    ``job``, only while the job is still this worker's."""
    rel, sha, arch, method = adapters.for_project(project_id).save(project_id, artifact, cfg)
    return insert_version(
        project_id,
        rel,
        sha,
        arch=arch,
        method=method,
        config=cfg.to_dict(),
        metrics=metrics,
        n_feedback=n_feedback,
        parent_id=parent_id,
        job=job,
    )


def run_job(job: Job, ctx: jobs.JobContext) -> tuple[dict, int]:
    """Train, evaluate and register one model version, reporting each epoch on the job row."""
    adapter = adapters.for_project(job.project_id)
    cfg = config_class(job.project_id, job.spec.get("kind")).from_dict(job.spec["config"])

    def progress(record: dict) -> bool:
        done = record["epoch"] / record["epochs"] * 0.95
        if record.get("step_only"):  # between epochs: the progress bar moves, a cancel is seen
            return ctx.report(done)
        return ctx.report(done, record, adapter.progress_line(record))

    def log(line: str) -> None:
        ctx.report(0.0, log=line)

    asked = getattr(cfg, "processes", 1)  # the job's own number, else the worker's (xil worker --processes)
    processes = asked if asked > 1 else config.worker_processes()
    try:
        if (processes > 1 or getattr(cfg, "machines", 1) > 1) and launch.parallel_config(cfg):
            artifact, history, n_feedback = launch.train_in_processes(
                job.project_id, cfg, processes, progress, log, job_id=job.id
            )
        else:
            artifact, history, n_feedback = adapter.train(job.project_id, cfg, progress, log)
    except Cancelled as exc:
        raise JobCancelled(str(exc)) from exc
    metrics = adapter.evaluate(job.project_id, artifact, cfg)
    metrics["train_s"] = round(sum(r["seconds"] for r in history), 3)
    if history and "lambda_" in history[-1]:
        metrics["lambda"] = history[-1]["lambda_"]
    version = register_model(job.project_id, artifact, cfg, metrics, n_feedback, job.spec.get("parent_id"), job=ctx)
    ctx.report(1.0, log=adapter.result_line(version, metrics))
    return metrics, version.id


JOB_HANDLERS = {"train": run_job, jobs.MACHINE: launch.run_machine}


def run_worker(once: bool = False, stop: threading.Event | None = None) -> int:
    storage.clean_scratch()  # what a killed import or job left a day ago or more
    return jobs.run_worker(JOB_HANDLERS, once=once, stop=stop)


def list_jobs(project_id: int, limit: int = 50) -> list[Job]:
    with session_scope() as session:
        query = (  # a job's other machines are part of it, not jobs of their own
            select(Job)
            .where(Job.project_id == project_id, col(Job.kind) != jobs.MACHINE)
            .order_by(col(Job.id).desc())
            .limit(limit)
        )
        return list(session.scalars(query))


def jobs_ahead(job_id: int) -> str:
    """What a queued job waits for, in words ("" when nothing is ahead of it)."""
    running, queued = jobs.ahead_of(job_id)
    parts = [f"{running} job{'s' * (running != 1)} running"] if running else []
    parts += [f"{queued} queued before it"] if queued else []
    return ", ".join(parts)


def get_job(job_id: int) -> Job:
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise ValueError(f"no job {job_id}")
        return job


def cancel_job(job_id: int, actor: Actor | None = None) -> Job:
    """Ask the job to stop (at the end of its epoch); needs the train permission on its project."""
    project_id = get_job(job_id).project_id
    require(actor, project_id, "train")
    job = jobs.cancel(job_id)
    audit(actor, "job_cancelled", project_id, job_id=job_id)
    return job


# --- what will run: the Train page shows this before a job is queued -------------------------------


def uses_lambda(task: str, method: str) -> bool:
    """Whether ``method`` has a penalty weight: counterexamples add copies instead, plain has none."""
    registry = adapters.for_task(task).methods
    return method in registry and registry[method].terms is not None


def default_lambda(task: str, method: str, arch: str | None = None) -> float | None:
    """A fixed lambda a method uses when none is given (text RRR: 3; image RRR: 10 per marked example,
    1 on a backbone such as ``resnet18``), instead of the automatic one."""
    entry = adapters.for_task(task).methods.get(method)
    if entry is None:
        return None
    return entry.fixed_lambda(backbone=task == "text" or (arch is not None and is_backbone(arch)))


def feedback_plan(project_id: int, cfg) -> str:
    """What a job trains on when its feedback is not "all": "" for all, else a sentence."""
    chosen = getattr(cfg, "feedback", "all")
    if chosen == "all":
        return ""
    n = len(training_feedback(project_id, chosen))
    unit = "prompt" if get_project(project_id).task == "ranking" else "example"
    what = (
        "the feedback accepted by a reviewer" if chosen == "accepted" else "the annotators' consensus (ties left out)"
    )
    return f" Trains only on {what}: {n} {unit}{'s' if n != 1 else ''}."


def training_plan(project_id: int, cfg) -> str:
    """One sentence saying what a job with ``cfg`` will really run: the epochs (a small text dataset
    gets more than asked, see ``min_steps``), the optimiser steps and which lambda; and which feedback
    where it is not all of it."""
    return _steps_plan(project_id, cfg) + feedback_plan(project_id, cfg)


def _steps_plan(project_id: int, cfg) -> str:
    task = get_project(project_id).task
    n = len(dataset(project_id).indices("train"))
    epochs = cfg.epochs_for(n) if hasattr(cfg, "epochs_for") else cfg.epochs  # text: at least min_steps
    steps = epochs * -(-n // cfg.batch_size)
    kind = "texts" if task == "text" else "examples"
    plan = f"Will run {epochs} epoch{'s' if epochs != 1 else ''} ({steps:,} steps of {cfg.batch_size} on {n:,} training {kind})"
    if epochs != cfg.epochs:
        plan += f": {cfg.epochs} asked, but a dataset this small needs {epochs} to reach {cfg.min_steps} steps"
    if not uses_lambda(task, cfg.method):
        return plan + "; no penalty weight (lambda) for this method."
    fixed = default_lambda(task, cfg.method, getattr(cfg, "arch", None)) if cfg.lambda_ is None else cfg.lambda_
    if fixed is not None:
        per_marked = " per marked example (over the share of examples with marks)"
        return plan + f", lambda {fixed:g}{per_marked if cfg.lambda_ is None and task != 'text' else ''}."
    scale = (
        cfg.lambda_scale if cfg.lambda_scale is not None else adapters.for_task(task).methods[cfg.method].lambda_scale
    )
    when = "after the learning-rate warm-up" if task == "text" else "on the untrained model, before the first step"
    return plan + f", automatic lambda: set {when} so that the penalty is {scale:g} x the cross-entropy."


def architectures() -> dict[str, str]:
    """``{name: title}`` of the image classifiers a job can train (besides hf:, torchvision:, timm: names)."""
    return {name: arch.title for name, arch in models.REGISTRY.items()}


def upscaling_note(project_id: int, image_size: int | None, method: str, arch: str) -> str | None:
    """What training a backbone at its own input size costs on a project of smaller images (a sentence),
    or None where the images are as large or an ``image_size`` is set. It suggests training at the
    images' size only where ``method`` could then still train ``arch`` (RRR-G needs a fine enough map)."""
    shape = dataset(project_id).shape
    _, height, width = shape
    side, own = max(height, width), models.backbones.INPUT_SIDE  # a built-in backbone's; others' are about it
    if image_size or side >= own:
        return None
    advice = f"A model without pretrained weights can train at {side}: set Image size."
    if ":" not in arch and coarse_map(method, arch, shape, side):  # hub names are checked by their job
        advice = f"At {side} pixels its last map would be too coarse for {feedback.REGISTRY.lookup(method).title}."
    return (
        f"These images are {width}x{height} pixels and the model's own input size is about {own}: each is "
        f"upscaled, about {(own / side) ** 2:.0f}x the work of training at their size. {advice}"
    )


def is_backbone(arch: str) -> bool:
    """Whether ``arch`` takes a weights file, an image size and head-only training (False for a name
    that is no architecture: the config says what is wrong with it)."""
    try:
        return models.lookup(arch).backbone
    except ValueError:
        return False
