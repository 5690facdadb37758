"""Projects and their datasets: the embedded demo, Decoy-MNIST from IDX files, image folders."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from sqlalchemy import func, insert, select
from sqlmodel import col

from db import Example, Feedback, Job, ModelVersion, Project, engine, exclusive, session_scope
from xil import config, data, storage
from xil.data import ImageDataset, ImportReport
from xil.data.prompts import PromptDataset
from xil.data.text import TextDataset, TextImportReport, import_text_file

DEMO_NAME = "Decoy-Digits demo"
TEXT_DEMO_NAME = "Review demo (text)"
RANKING_DEMO_NAME = "Ranking demo"


def create_project(name: str, ds: ImageDataset | TextDataset | PromptDataset, source: str) -> Project:
    """Store the dataset file and one Example row per image or text, in one transaction."""
    if not name.strip():
        raise ValueError("a project needs a name")
    task = {TextDataset: "text", PromptDataset: "ranking"}.get(type(ds), "image")
    rel, sha = storage.put_bytes(ds.to_bytes(), ".npz" if task == "image" else ".json.gz", "datasets")
    with session_scope(write=True) as session:
        if session.scalar(select(Project).where(Project.name == name)) is not None:
            raise ValueError(f"a project named {name!r} exists already")
        project = Project(name=name, task=task, source=source, class_names=ds.class_names, data_path=rel, data_sha=sha)
        session.add(project)
        session.flush()
        names = ds.names if task == "image" else [f"{ds.split[i]}/{ds.ids[i]}" for i in range(len(ds))]
        rows = [
            {
                "project_id": project.id,
                "idx": i,
                "split": str(ds.split[i]),
                "label": int(ds.labels[i]),
                "name": names[i],
            }
            for i in range(len(ds))
        ]
        session.execute(insert(Example), rows)
        return project


@functools.lru_cache(maxsize=8)
def _load_dataset(rel: str, sha: str, task: str) -> ImageDataset | TextDataset:
    reader = {"text": TextDataset, "ranking": PromptDataset}.get(task, ImageDataset)
    return reader.from_file(storage.absolute(rel))


def dataset(project_id: int) -> ImageDataset | TextDataset:
    project = get_project(project_id)
    return _load_dataset(project.data_path, project.data_sha, project.task)


def get_project(project_id: int) -> Project:
    with session_scope() as session:
        project = session.get(Project, project_id)
        if project is None:
            raise ValueError(f"no project {project_id}")
        return project


def list_projects() -> list[Project]:
    with session_scope() as session:
        return list(session.scalars(select(Project).order_by(Project.id)))


def _get_or_create(name: str, make, source: str) -> Project:
    with session_scope() as session:
        project = session.scalar(select(Project).where(Project.name == name))
    if project is not None:
        return project
    try:
        return create_project(name, make(), source)
    except ValueError:  # another process created it between our check and insert
        with session_scope() as session:
            return session.scalar(select(Project).where(Project.name == name))


def seed_demo(train: bool = True, text: bool = True) -> Project:
    """Create the demo projects, idempotently: Decoy-Digits with its first (shortcut-taking) model,
    trained here in about a second; the review demo (text), whose first MiniLM model is queued as a
    job for the worker (a minute or two on a CPU); and the ranking demo (prompts with candidate
    answers written for it). Returns the Decoy-Digits project."""
    with exclusive(engine(), "seed-demo"):  # processes starting together seed it once
        return _seed_demo(train, text)


def _seed_demo(train: bool, text: bool) -> Project:
    from xil.services.models import latest_model_version, train_initial_model

    project = _get_or_create(DEMO_NAME, data.decoy_digits, "decoy-digits")
    if train and latest_model_version(project.id) is None:
        train_initial_model(project.id)
    if text:
        from xil.data.text import demo_reviews

        reviews = _get_or_create(TEXT_DEMO_NAME, demo_reviews, "demo-reviews")
        if train and latest_model_version(reviews.id) is None:
            from xil.services.training import queue_first_text_model

            queue_first_text_model(reviews.id)
        from xil.ranking.prompts import demo_prompts

        _get_or_create(
            RANKING_DEMO_NAME, lambda: PromptDataset.from_rows("Ranking demo", demo_prompts()), "demo-prompts"
        )
    return project


def import_mnist(
    folder: str | Path, name: str = "Decoy-MNIST", limit: int | None = None, *, trusted: bool = False
) -> Project:
    """A Decoy-MNIST project from IDX files. Unless ``trusted`` (the operator's own command line), the
    folder must lie inside the data folders the operator allowed (:func:`xil.config.readable_path`)."""
    if not trusted:
        folder = config.readable_path(folder)
    return create_project(name, data.decoy_mnist(folder, limit=limit), "decoy-mnist")


def import_image_folder(
    folder: str | Path | BinaryIO, name: str | None = None, resize: tuple[int, int] | None = None
) -> tuple[Project | None, ImportReport]:
    """Import a folder, a ``.zip`` of one or an uploaded zip (an open binary file) only when every file
    is fine; otherwise return the report and import nothing. The zip is read in memory under the caps
    of :mod:`xil.limits`, never extracted. Default name: the folder's (or the zip's)."""
    report = data.import_image_folder(folder, resize=resize, name=name)
    if not report.ok:
        return None, report
    name = name or report.dataset.name
    with session_scope() as session:
        if session.scalar(select(Project).where(Project.name == name)) is not None:
            report.errors.append(f"a project named {name!r} exists already")
            return None, report
    return create_project(name, report.dataset, "image-folder"), report


def import_text(
    path: str | Path,
    data: bytes | None = None,
    name: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    id_column: str | None = None,
) -> tuple[Project | None, TextImportReport]:
    """Import a CSV / JSONL / Parquet text file only when every row is fine; else report, import nothing."""
    report = import_text_file(path, data, text_column=text_column, label_column=label_column, id_column=id_column)
    if not report.ok:
        return None, report
    name = name or Path(path).stem
    with session_scope() as session:
        if session.scalar(select(Project).where(Project.name == name)) is not None:
            report.errors.append(f"a project named {name!r} exists already")
            return None, report
    return create_project(name, report.dataset, "text-file"), report


def text_file_columns(path: str | Path, data: bytes) -> list[str]:
    """The columns of a text file about to be imported (from its first megabyte), for picking the text,
    label and id columns; empty when they cannot be read."""
    from xil.data.text import file_columns

    return file_columns(path, data)


def import_prompts(path: str | Path, name: str | None = None, generator: str | None = None, generation=None) -> Project:
    """A ranking project from a JSONL prompt file. With ``generator`` (a Hugging Face causal LM by local
    path or hub id) the K candidates of each prompt are sampled from it (``generation``: a
    GenerationConfig) and the file needs only ``prompt``; otherwise each line brings its
    ``candidates``. A bad line raises PromptFileError listing every one, and nothing is imported."""
    from xil.ranking.prompts import load_prompt_file, load_prompts_only

    path = Path(path)
    name = name or path.name.split(".")[0]
    if generator is None:
        return create_project(
            name, PromptDataset.from_rows(name, load_prompt_file(path), source=path.name), "prompt-file"
        )
    from xil.ranking.generate import GenerationConfig, sample_candidates

    prompts = load_prompts_only(path)
    candidates = sample_candidates(generator, prompts, generation or GenerationConfig())
    rows = [{"prompt": p, "candidates": c} for p, c in zip(prompts, candidates, strict=True)]
    return create_project(name, PromptDataset.from_rows(name, rows, source=generator), "generated")


def status() -> dict:
    """Counts for ``xil status --json``."""
    with session_scope() as session:

        def count(table) -> int:
            return session.scalar(select(func.count()).select_from(table)) or 0

        jobs = Counter(dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all()))
        return {
            "projects": count(Project),
            "examples": count(Example),
            "model_versions": count(ModelVersion),
            "feedback": count(Feedback),
            "jobs": {k: int(v) for k, v in sorted(jobs.items())},
        }


def tensors(ds: ImageDataset, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(ds.images[indices]), torch.from_numpy(ds.labels[indices])


def examples(project_id: int, split: str | None = None) -> list[Example]:
    with session_scope() as session:
        query = select(Example).where(Example.project_id == project_id)
        if split:
            query = query.where(Example.split == split)
        return list(session.scalars(query.order_by(col(Example.idx))))
