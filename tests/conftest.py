"""Shared fixtures: every test gets its own data directory and database.

``XIL_HOME`` points at a fresh folder under ``tmp_path`` and ``DATABASE_URL`` is unset, so each test
starts from an empty SQLite database (created and migrated on first use). Cached engines and the
annotation caches (keyed by database ids, which repeat across fresh databases) are cleared before and
after each test.

``demo`` gives a test the seeded Decoy-Digits demo project and its first model. Seeding trains an MLP
(a few seconds), so it is done once per session into a template folder that each test copies.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import db
from xil.services import annotate

# The models here are tiny: one thread is faster than several, and far faster when another process
# (a dev server, a second test run) competes for the same few cores.
torch.set_num_threads(1)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ROOT = PROJECT_ROOT
SHARED_DATA = ROOT.parent / "shared" / "data"
MNIST_DIR = SHARED_DATA / "mnist"


def _finish_prefetch() -> None:
    """Wait for queued prefetches: one left running would open the *next* test's database (its
    XIL_HOME) while the demo fixture copies the template over it, corrupting the file."""
    annotate._executor.submit(lambda: None).result(timeout=300)


def _clear_caches() -> None:
    with annotate._cache_lock:
        annotate._cache.clear()
    annotate._scores.clear()


@pytest.fixture(autouse=True)
def xil_home(tmp_path, monkeypatch) -> Path:
    """A private, empty XIL_HOME (and SQLite database) for every test."""
    home = tmp_path / "xil-home"
    monkeypatch.setenv("XIL_HOME", str(home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    db.reset_engines()
    _clear_caches()
    yield home
    _finish_prefetch()
    db.reset_engines()
    _clear_caches()


@dataclass(frozen=True)
class Demo:
    project_id: int
    version_id: int


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A data directory holding the seeded demo project; built once per session."""
    from xil import services

    template = tmp_path_factory.mktemp("demo-template") / "xil-home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XIL_HOME", str(template))
        mp.delenv("DATABASE_URL", raising=False)
        db.reset_engines()
        try:
            services.seed_demo(text=False)
        finally:
            db.reset_engines()  # closes the connections, which checkpoints the WAL into the file
    _clear_caches()
    return template


@pytest.fixture
def demo(xil_home, demo_template) -> Demo:
    """The seeded demo project in this test's own XIL_HOME (a copy of the session template)."""
    from xil import services

    db.reset_engines()
    shutil.copytree(demo_template, xil_home, dirs_exist_ok=True)
    projects = services.list_projects()
    assert len(projects) == 1, "the demo template should hold exactly one project"
    version = services.latest_model_version(projects[0].id)
    assert version is not None
    return Demo(projects[0].id, version.id)


def require_mnist() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST test files not found in {MNIST_DIR} (the shared data folder is absent)")
    return MNIST_DIR
