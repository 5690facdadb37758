"""Top tier: the demo projects, seeded once however many processes start together: Decoy-Digits with its
first (shortcut-taking) model, the review demo (text) with its first model queued, the ranking demo."""

from __future__ import annotations

import torch

from db import ModelVersion, Project, engine, exclusive
from xil import data
from xil.data.prompts import PromptDataset
from xil.data.text import demo_reviews
from xil.ranking.prompts import demo_prompts
from xil.services import adapters
from xil.services.catalog import create_project, dataset, project_named, tensors
from xil.services.training import queue_first_model, register_model
from xil.services.versions import latest_model_version
from xil.train import TrainConfig, TrainData, train

DEMO_NAME = "Decoy-Digits demo"
TEXT_DEMO_NAME = "Review demo (text)"
RANKING_DEMO_NAME = "Ranking demo"


def _get_or_create(name: str, make, source: str) -> Project:
    project = project_named(name)
    if project is not None:
        return project
    try:
        return create_project(name, make(), source)
    except ValueError:  # another process created it between our check and insert
        return project_named(name)


def train_initial_model(project_id: int, arch: str = "mlp") -> ModelVersion:
    """The first model of an image project, trained here in about a second: plain cross-entropy on
    the training split (it learns any shortcut there is)."""
    ds = dataset(project_id)
    x, y = tensors(ds, ds.indices("train"))
    cfg = TrainConfig(method="none", arch=arch, epochs=30, device="cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is faster, and far faster on a busy machine
    try:
        model, _ = train(cfg, TrainData(x, y, n_classes=len(ds.class_names)))
    finally:
        torch.set_num_threads(threads)
    metrics = adapters.for_task("image").evaluate(project_id, model, cfg)
    return register_model(project_id, model, cfg, metrics)


def seed_demo(train: bool = True, text: bool = True) -> Project:
    """Create the demo projects, idempotently: Decoy-Digits with its first (shortcut-taking) model,
    trained here in about a second; the review demo (text), whose first MiniLM model is queued as a
    job for the worker (a minute or two on a CPU); and the ranking demo (prompts with candidate
    answers written for it). Returns the Decoy-Digits project."""
    with exclusive(engine(), "seed-demo"):  # processes starting together seed it once
        project = _get_or_create(DEMO_NAME, data.decoy_digits, "decoy-digits")
        if train and latest_model_version(project.id) is None:
            train_initial_model(project.id)
        if text:
            reviews = _get_or_create(TEXT_DEMO_NAME, demo_reviews, "demo-reviews")
            if train and latest_model_version(reviews.id) is None:
                queue_first_model(reviews.id)
            _get_or_create(
                RANKING_DEMO_NAME, lambda: PromptDataset.from_rows("Ranking demo", demo_prompts()), "demo-prompts"
            )
        return project
