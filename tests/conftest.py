"""Shared fixtures: every test gets its own data directory and database.

``XIL_HOME`` points at a fresh folder under ``tmp_path`` and ``DATABASE_URL`` is unset, so each test
starts from an empty SQLite database (created and migrated on first use). ``XIL_PRECISION`` is
float32, so results do not depend on whether the CPU has bf16; tests of the bf16 path set it. Cached engines and the
annotation caches (keyed by database ids, which repeat across fresh databases) are cleared before and
after each test.

``demo`` gives a test the seeded Decoy-Digits demo project and its first model. Seeding trains an MLP
(a few seconds), so it is done once per session into a template folder that each test copies.

PostgreSQL: where ``XIL_TEST_DATABASE_URL`` names a server (any database on it; the role needs
CREATEDB; ``.ci/run`` starts Debian's PostgreSQL and sets it), tests decorated with ``@both_backends``
run a second time on a fresh PostgreSQL database of their own, copied from a seeded template database.
Without it they are skipped, except where ``XIL_REQUIRE_POSTGRES`` is set (``.ci/run``): an error there.
The server must be PostgreSQL 13 or newer (``DROP DATABASE ... WITH (FORCE)``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import db
from xil import config
from xil.services import explanations, queue

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
    explanations.CACHE.wait()


def _clear_caches() -> None:
    explanations.CACHE.clear()
    queue.SCORES.clear()


@pytest.fixture(autouse=True)
def xil_home(tmp_path, monkeypatch) -> Path:
    """A private, empty XIL_HOME (and SQLite database) for every test."""
    home = tmp_path / "xil-home"
    monkeypatch.setenv("XIL_HOME", str(home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("XIL_PRECISION", "float32")
    # what an operator allows visitors to name as paths: the test's own files and the shared data
    monkeypatch.setenv("XIL_DATA_DIRS", os.pathsep.join([str(tmp_path), str(SHARED_DATA)]))
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


POSTGRES_URL = os.environ.get("XIL_TEST_DATABASE_URL")
both_backends = pytest.mark.parametrize("demo", ["sqlite", "postgresql"], indirect=True)


def require_postgres() -> str:
    if not POSTGRES_URL:
        if os.environ.get("XIL_REQUIRE_POSTGRES"):
            pytest.fail("XIL_TEST_DATABASE_URL is not set: .ci/run should have started PostgreSQL")
        pytest.skip("XIL_TEST_DATABASE_URL is not set (a PostgreSQL server for the storage tests)")
    return POSTGRES_URL


@contextmanager
def postgres_database(template: str | None = None) -> Iterator[str]:
    """A new, uniquely named database on the test server (a copy of ``template``); dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(config.with_driver(require_postgres()))
    name = f"xil_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        try:
            yield name
        finally:
            db.reset_engines()
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def database_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(config.with_driver(require_postgres())).set(database=name)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A PostgreSQL database and data folder holding the seeded demo; built once per session."""
    from xil import services

    home = tmp_path_factory.mktemp("postgres-template") / "xil-home"
    with postgres_database() as name:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("XIL_HOME", str(home))
            mp.setenv("DATABASE_URL", database_url(name))
            db.reset_engines()
            try:
                services.seed_demo(text=False)
            finally:
                db.reset_engines()  # no open connection: a template database must be idle to be copied
        _clear_caches()
        yield name, home


@pytest.fixture
def demo(request, xil_home, demo_template, monkeypatch) -> Iterator[Demo]:
    """The seeded demo project in this test's own XIL_HOME: a copy of the session template, in SQLite,
    or with ``@both_backends`` also in a PostgreSQL database of its own."""
    from xil import services

    db.reset_engines()
    if getattr(request, "param", "sqlite") == "sqlite":
        shutil.copytree(demo_template, xil_home, dirs_exist_ok=True)
        yield _open_demo(services)
        return
    template, template_home = request.getfixturevalue("postgres_template")
    with postgres_database(template) as name:
        shutil.copytree(template_home, xil_home, dirs_exist_ok=True)
        monkeypatch.setenv("DATABASE_URL", database_url(name))
        yield _open_demo(services)
        _finish_prefetch()


def _open_demo(services) -> Demo:
    projects = services.list_projects()
    assert len(projects) == 1, "the demo template should hold exactly one project"
    version = services.latest_model_version(projects[0].id)
    assert version is not None
    return Demo(projects[0].id, version.id)


def require_mnist() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST test files not found in {MNIST_DIR} (the shared data folder is absent)")
    return MNIST_DIR
