"""Bottom tier: projects and their examples. A project's dataset is one file under the data directory
(read once, cached); each image, text or prompt of it is an ``Example`` row."""

from __future__ import annotations

import functools
import posixpath
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from sqlalchemy import func, insert, select
from sqlmodel import col

from db import Example, Feedback, Job, ModelVersion, Project, engine, session_scope
from xil import storage
from xil.data import ImageDataset
from xil.data.base import PixelFile
from xil.data.prompts import PromptDataset
from xil.data.text import TextDataset

# The dataset class of each task: how a project's file is read, and what task a new dataset makes.
DATASETS: dict[str, type] = {"image": ImageDataset, "text": TextDataset, "ranking": PromptDataset}
Dataset = ImageDataset | TextDataset | PromptDataset


def open_database() -> None:
    """Open (create, migrate) the database now; DatabaseSetupError says what is wrong with it."""
    engine()


def task_of(ds: Dataset) -> str:
    return next(task for task, kind in DATASETS.items() if isinstance(ds, kind))


def _store_dataset(ds: Dataset) -> tuple[str, str]:
    """The dataset file under the data directory: ``(relative path, sha)``. An image dataset's pixels
    go to a pixel file of their own (an import's is moved in from the scratch folder, not copied)."""
    if task_of(ds) != "image":
        return storage.put_bytes(ds.to_bytes(), ".json.gz", "datasets")
    if isinstance(ds.images, PixelFile):
        moved = Path(ds.images.path).parent == storage.scratch()
        pixels, _ = storage.put_file(ds.images.path, ".npy", "pixels", move=moved)
    else:
        pixels, _ = storage.put_array(np.asarray(ds.images, dtype=np.float32), "pixels")
    # dataset files lie two folders down (datasets/ab/...): the pixel file's path from there
    return storage.put_bytes(ds.metadata_bytes(posixpath.relpath(pixels, "datasets/ab")), ".npz", "datasets")


def _example_rows(project_id: int, ds: Dataset, start: int = 0) -> list[dict]:
    """One Example row per dataset row from ``start`` on."""
    image = task_of(ds) == "image"
    return [
        {
            "project_id": project_id,
            "idx": i,
            "split": str(ds.split[i]),
            "label": int(ds.labels[i]),
            "name": ds.names[i] if image else f"{ds.split[i]}/{ds.ids[i]}",
        }
        for i in range(start, len(ds))
    ]


def create_project(name: str, ds: Dataset, source: str) -> Project:
    """Store the dataset file and one Example row per image or text, in one transaction."""
    if not name.strip():
        raise ValueError("a project needs a name")
    task = task_of(ds)
    rel, sha = _store_dataset(ds)
    with session_scope(write=True) as session:
        if session.scalar(select(Project).where(Project.name == name)) is not None:
            raise ValueError(f"a project named {name!r} exists already")
        project = Project(name=name, task=task, source=source, class_names=ds.class_names, data_path=rel, data_sha=sha)
        session.add(project)
        session.flush()
        session.execute(insert(Example), _example_rows(project.id, ds))
        return project


def extend_project(project_id: int, ds: Dataset, base_sha: str) -> list[int]:
    """Replace the project's dataset file by ``ds``, which keeps every row of the file ``base_sha`` it
    was made from and appends new ones, and add their Example rows, in one transaction; the ids of the
    new examples. Refused when the project's file is no longer ``base_sha`` (another extension won the
    race: its rows would be lost)."""
    project = get_project(project_id)
    old = dataset(project_id)
    if len(ds) < len(old) or task_of(ds) != project.task:
        raise ValueError("a project's dataset can only grow, with rows of the same task")
    rel, sha = _store_dataset(ds)
    with session_scope(write=True) as session:
        row = session.get(Project, project_id, with_for_update=True)
        if row.data_sha != base_sha:
            raise ValueError("the project's data changed meanwhile (another new round?): try again")
        row.data_path, row.data_sha = rel, sha
        new = [Example(**fields) for fields in _example_rows(project_id, ds, start=len(old))]
        session.add_all(new)
        session.flush()
        return [int(e.id) for e in new]


def project_named(name: str) -> Project | None:
    with session_scope() as session:
        return session.scalar(select(Project).where(Project.name == name))


@functools.lru_cache(maxsize=8)
def _load_dataset(rel: str, sha: str, task: str) -> Dataset:
    return DATASETS[task].from_file(storage.absolute(rel))


def dataset(project_id: int) -> Dataset:
    project = get_project(project_id)
    return _load_dataset(project.data_path, project.data_sha, project.task)


def get_project(project_id: int) -> Project:
    with session_scope() as session:
        project = session.get(Project, project_id)
        if project is None:
            raise ValueError(f"no project {project_id}")
        return project


def set_overlap(project_id: int, overlap: int) -> Project:
    """How many annotators judge each example of the project before it leaves everyone's queue."""
    if isinstance(overlap, bool) or not isinstance(overlap, int | np.integer) or overlap < 1:
        raise ValueError(f"the overlap is a number of annotators, 1 or more; got {overlap!r}")
    with session_scope(write=True) as session:
        project = session.get(Project, project_id, with_for_update=True)
        if project is None:
            raise ValueError(f"no project {project_id}")
        project.overlap = int(overlap)
        session.add(project)
        session.flush()
        session.refresh(project)
        return project


def list_projects() -> list[Project]:
    with session_scope() as session:
        return list(session.scalars(select(Project).order_by(Project.id)))


def get_example(example_id: int) -> Example:
    with session_scope() as session:
        row = session.get(Example, example_id)
        if row is None:
            raise ValueError(f"no example {example_id}")
        return row


def examples(project_id: int, split: str | None = None) -> list[Example]:
    with session_scope() as session:
        query = select(Example).where(Example.project_id == project_id)
        if split:
            query = query.where(Example.split == split)
        return list(session.scalars(query.order_by(col(Example.idx))))


def example_names(example_ids: list[int]) -> dict[int, str]:
    """``{example id: its name}`` (as the Annotate page shows it, e.g. ``train/17``)."""
    with session_scope() as session:
        return dict(session.execute(select(Example.id, Example.name).where(col(Example.id).in_(example_ids))).all())


def dataset_rows(project_id: int) -> dict[int, int]:
    """``{example id: row in the project's dataset file}``."""
    with session_scope() as session:
        return dict(session.execute(select(Example.id, Example.idx).where(Example.project_id == project_id)).all())


def tensors(ds: ImageDataset, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(ds.images[indices]), torch.from_numpy(ds.labels[indices])


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
