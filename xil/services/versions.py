"""Bottom tier: model versions. A version is a row (arch, method, config, metrics, lineage) and a file
or folder under the data directory; loading goes through one cache, keyed by the weights' hash, and
one lock, since captum's layer methods hook the shared model objects it returns."""

from __future__ import annotations

import functools
import hashlib
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import col

from db import ModelVersion, session_scope
from xil import config, storage
from xil.jobs import JobContext

model_lock = threading.Lock()  # one explanation or queue scoring at a time on the shared models


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


def save_model_files(write: Callable[[Path], Path], prefix: str) -> tuple[str, str]:
    """A new folder under the data directory filled by ``write(folder)``, which returns the weights
    file: ``(relative path, SHA-256 of the weights)``."""
    rel = f"models/{prefix}-{uuid.uuid4().hex}"
    weights = write(config.home() / rel)
    return rel, hashlib.sha256(weights.read_bytes()).hexdigest()


def save_model_folder(model, tokenizer, prefix: str) -> tuple[str, str]:
    """A Hugging Face model and tokenizer as a folder under the data directory: ``(relative path,
    SHA-256 of the weights)``."""
    from xil.models.text import save_classifier

    return save_model_files(lambda folder: save_classifier(model, tokenizer, folder) / "model.safetensors", prefix)


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


def latest_model_version(project_id: int, method: str | None = None) -> ModelVersion | None:
    """The project's newest version (with ``method``: the newest made by it, e.g. a ranking project's
    newest reward model, "bradley_terry", or generator, "dpo")."""
    versions = [v for v in list_model_versions(project_id) if method is None or v.method == method]
    return versions[-1] if versions else None


def load(row: ModelVersion, loader: Callable[[str], object]):
    """What ``loader`` makes of the version's file (a module, or ``(model, tokenizer)``), cached."""
    return _load(str(storage.absolute(row.path)), row.sha, loader)


@functools.lru_cache(maxsize=8)
def _load(path: str, sha: str, loader: Callable[[str], object]):
    return loader(path)
