"""Safe to leave running: processes starting together, concurrent writers, a full disk, signals, bad
settings and paths a visitor types. Storage behaviour runs on SQLite and, with ``XIL_TEST_DATABASE_URL``,
on PostgreSQL too."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import PROJECT_ROOT, both_backends, database_url, postgres_database
from sqlalchemy import create_engine, func, select, text, update
from sqlmodel import SQLModel

import db
from db import Correction, Feedback, Job, ModelVersion, session_scope
from db.engine import MIGRATIONS
from xil import config, services
from xil.data.text import demo_reviews
from xil.jobs import queue, worker
from xil.services import adapters, feedback_store
from xil.train import TrainConfig, train
from xil.train.text_config import TextTrainConfig

PYTHON = sys.executable


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {**env, "XIL_HOME": str(home), "XIL_START_WORKER": "0", **extra}


def _start_many(argv: list[str], n: int, env: dict[str, str]) -> list[subprocess.CompletedProcess]:
    """Start ``n`` processes as close together as the OS allows and wait for all of them."""
    procs = [
        subprocess.Popen(argv, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


# What every process of the studio does first (the app, a worker, each CLI command): open the database,
# which creates or migrates the schema. The processes wait for one start time, so they really overlap
# (the old code failed 19 of 20 this way with "database is locked").
OPEN_DATABASE = (
    "import os, time, db; from sqlalchemy import text\n"
    "time.sleep(max(0.0, float(os.environ['START_AT']) - time.time()))\n"
    "with db.engine().connect() as c: print(c.execute(text('SELECT count(*) FROM project')).scalar())"
)


# 1. Processes starting together on a new XIL_HOME (before: 'database is locked' at CREATE TABLE).


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request, tmp_path) -> Iterator[dict[str, str]]:
    """The environment of processes that find a new, empty database: SQLite in a new XIL_HOME, or a
    new PostgreSQL database."""
    home = tmp_path / "fresh-home"
    if request.param == "sqlite":
        yield _env(home)
        return
    with postgres_database() as name:
        yield _env(home, DATABASE_URL=database_url(name))


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def _revisions(env: dict[str, str]) -> list[str]:
    url = env.get("DATABASE_URL") or f"sqlite:///{Path(env['XIL_HOME']) / 'xil.sqlite'}"
    engine = create_engine(config.with_driver(url))
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


@pytest.mark.slow
def test_twenty_processes_open_a_new_database_at_once(fresh_database):
    start_at = str(time.time() + 8)  # after every process has imported what it needs
    results = _start_many([PYTHON, "-c", OPEN_DATABASE], 20, {**fresh_database, "START_AT": start_at})
    failures = [r.stderr[-800:] for r in results if r.returncode != 0]
    assert not failures, failures[0]
    assert [r.stdout.strip() for r in results] == ["0"] * 20
    assert _revisions(fresh_database) == [_head()]


@pytest.mark.slow
def test_two_cli_commands_start_together(xil_home):
    results = _start_many([PYTHON, "-m", "xil.cli", "status", "--json"], 2, _env(xil_home))
    assert [r.returncode for r in results] == [0, 0], results[0].stderr[-800:]
    assert all(json.loads(r.stdout)["projects"] == 0 for r in results)


@pytest.mark.slow
def test_seeding_the_demo_three_times_at_once_gives_one_first_model(fresh_database):
    seed = "from xil import services; services.seed_demo()"
    results = _start_many([PYTHON, "-c", seed], 3, fresh_database)
    assert [r.returncode for r in results] == [0, 0, 0], results[0].stderr[-800:]
    url = fresh_database.get("DATABASE_URL") or f"sqlite:///{Path(fresh_database['XIL_HOME']) / 'xil.sqlite'}"
    engine = create_engine(config.with_driver(url))
    try:
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(ModelVersion)).scalar() == 1
            assert connection.execute(select(func.count()).select_from(Job)).scalar() == 1  # the text demo's
            assert connection.execute(text("SELECT count(*) FROM project")).scalar() == 3
    finally:
        engine.dispose()


def test_the_tables_match_the_migrations(xil_home):
    """The models and the Alembic revisions describe the same schema (no change without a migration)."""
    with db.engine().connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []


# 9. Migrations with no way back: a SQLite database with data is copied before it is migrated.


def _database_at_0001(path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
    engine.dispose()


def _add_forked_feedback(path: Path) -> None:
    """Rows as concurrent saves left them on PostgreSQL before 0002: two rows superseding one."""
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO project (id, name, task, source, class_names, data_path, data_sha, created_at) "
            "VALUES (1, 'p', 'image', 's', '[\"a\"]', 'x', 'y', '2026-01-01 00:00:00')"
        )
        connection.execute(
            "INSERT INTO example (id, project_id, idx, split, label, name) VALUES (1, 1, 0, 'train', 0, 'e')"
        )
        for row_id, supersedes in ((1, None), (2, 1), (3, 1), (4, 1), (5, 2)):
            connection.execute(
                "INSERT INTO feedback (id, project_id, example_id, annotator, kind, payload, supersedes_id, "
                "created_at) VALUES (?, 1, 1, 'ada', 'image_rationale', '{}', ?, '2026-01-01 00:00:00')",
                (row_id, supersedes),
            )


def test_a_migration_backs_up_the_database_and_mends_forked_histories(xil_home, caplog):
    path = xil_home / "xil.sqlite"
    xil_home.mkdir(parents=True, exist_ok=True)
    _database_at_0001(path)
    _add_forked_feedback(path)
    with caplog.at_level("WARNING", logger="xil.db"):
        db.engine()
    backups = list(xil_home.glob("xil.sqlite.before-0001-*.bak"))
    assert len(backups) == 1 and str(backups[0]) in caplog.text
    with sqlite3.connect(backups[0]) as copy:
        assert copy.execute("SELECT count(*) FROM feedback").fetchone() == (5,)
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    with session_scope() as session:
        rows = session.scalars(select(Feedback).order_by(Feedback.id)).all()
    assert len(rows) == 5  # nothing lost
    parents = [r.supersedes_id for r in rows if r.supersedes_id is not None]
    assert len(parents) == len(set(parents)) == 4  # one line, in the order written
    assert [f.id for f in feedback_store.current_feedback(1)] == [5]  # the latest


def test_a_new_database_is_not_backed_up(xil_home):
    db.engine()
    assert not list(xil_home.glob("*.bak"))


# 7. Clear messages instead of tracebacks.


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "xil.cli", *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL xil can use"),
        ("foo://x", "is not a database URL xil can use"),
        ("postgresql://ada:secret@127.0.0.1:9/xil", "cannot open the database"),
    ],
)
def test_a_bad_database_url_is_one_clear_line(xil_home, url, message):
    result = _cli("status", env=_env(xil_home, DATABASE_URL=url))
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "secret" not in result.stderr  # the password is never printed
    assert len(result.stderr.strip().splitlines()) <= 2
    debug = _cli("--debug", "status", env=_env(xil_home, DATABASE_URL=url))
    assert "Traceback" in debug.stderr


@pytest.mark.slow
def test_an_unknown_schema_revision_says_what_to_do(xil_home):
    db.engine()
    with session_scope(write=True) as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    db.reset_engines()
    with pytest.raises(db.DatabaseSetupError, match="revision '9999'.*Upgrade xil"):
        db.engine()
    result = _cli("status", env=_env(xil_home))
    assert result.returncode == 1 and "does not know" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_an_unwritable_export_path_is_one_clear_line(demo, xil_home, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _cli("export", str(blocker / "out.jsonl"), env=_env(xil_home))
    assert result.returncode == 1 and "cannot write" in result.stderr and "Traceback" not in result.stderr


# 2. The RiT corpus: corrections added by several processes at once are all kept.


@pytest.mark.slow
def test_four_processes_adding_corrections_lose_none(xil_home):
    add = (
        "import sys; from xil.services import revision\n"
        "ids = [revision.add_correction(f'rule {sys.argv[1]}-{i}') for i in range(10)]\n"
        "print(' '.join(map(str, ids)))"
    )
    procs = [
        subprocess.Popen(
            [PYTHON, "-c", add, str(n)], env=_env(xil_home), cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
        )
        for n in range(4)
    ]
    ids = [int(i) for p in procs for i in p.communicate(timeout=600)[0].split()]
    assert [p.returncode for p in procs] == [0] * 4
    assert len(ids) == len(set(ids)) == 40
    from xil.services import revision

    index = revision.load_index()
    assert len(index) == 40 and sorted(c.id for c in index.items) == sorted(ids)
    assert index.revise("rule 3-7", threshold=0.99, k=1)["retrieved"][0]["text"] == "rule 3-7"


def test_a_corpus_file_of_an_earlier_version_is_imported_once(xil_home):
    from xil.services import revision

    legacy = xil_home / "rit" / "index.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"items": [{"id": 0, "text": "Boil eggs for nine minutes.", "kind": "rule"}]}))
    assert [c.text for c in revision.load_index().items] == ["Boil eggs for nine minutes."]
    assert not legacy.exists() and (legacy.parent / "index.json.imported").exists()
    assert len(revision.load_index()) == 1
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Correction)) == 1


# 4. Export: a disk that fills mid-export keeps the previous export whole.


def test_a_failed_export_keeps_the_previous_file(demo, tmp_path, monkeypatch):
    ids = [e.id for e in services.examples(demo.project_id, "train")[:3]]
    for example_id in ids:
        services.save_feedback(example_id, "ada", demo.version_id, verdict="right_reason")
    out = tmp_path / "feedback.jsonl"
    services.export_feedback(demo.project_id, out)
    before = out.read_bytes()
    services.save_feedback(ids[0], "ada", demo.version_id, verdict="wrong_reason", label=3)

    import xil.export.writers as writers

    real_dumps, calls = writers.json.dumps, []

    def disk_fills(*args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise OSError(28, "No space left on device")
        return real_dumps(*args, **kwargs)

    monkeypatch.setattr(writers.json, "dumps", disk_fills)
    with pytest.raises(OSError, match="No space"):
        services.export_feedback(demo.project_id, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".feedback")) == []  # no partial file


# 5. Signals, and a worker whose job was taken from it.


def _slow_job(project_id: int) -> Job:
    return services.queue_training(project_id, TrainConfig(method="none", arch="mlp", epochs=100000))


def _wait_for(predicate, timeout_s: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_sigterm_to_a_worker_hands_its_job_back_at_once(demo, xil_home):
    job = _slow_job(demo.project_id)
    proc = subprocess.Popen([PYTHON, "-m", "xil.cli", "worker"], env=_env(xil_home), cwd=PROJECT_ROOT)
    try:
        _wait_for(lambda: services.get_job(job.id).history, what="the first epoch")
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - sent < 15
    finally:
        if proc.poll() is None:
            proc.kill()
    after = services.get_job(job.id)
    assert (after.status, after.worker, after.attempts, after.history) == ("queued", None, 0, [])
    assert "handed back" in after.log_tail


def test_a_worker_whose_job_was_requeued_registers_no_model(demo):
    job = _slow_job(demo.project_id)
    claimed = queue.claim("worker-a")
    versions_before = len(services.list_model_versions(demo.project_id))

    def handler(job_row, ctx):
        with session_scope(write=True) as session:  # meanwhile: requeued as stale and taken by another worker
            session.execute(update(Job).where(Job.id == job_row.id).values(status="running", worker="worker-b"))
        model, _ = train(
            TrainConfig(method="none", epochs=1), adapters.for_task("image").training_data(job_row.project_id)[0]
        )
        version = services.register_model(job_row.project_id, model, TrainConfig(), {}, job=ctx)
        return {}, version.id

    worker.run_one(claimed, "worker-a", {"train": handler})
    assert len(services.list_model_versions(demo.project_id)) == versions_before
    assert services.get_job(job.id).status == "running" and services.get_job(job.id).worker == "worker-b"


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc (Linux)")
def test_serve_listens_on_loopback_and_sigterm_stops_its_children(demo, xil_home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [PYTHON, "-m", "xil.cli", "serve"], env=_env(xil_home, STREAMLIT_SERVER_PORT=str(port)), cwd=PROJECT_ROOT
    )
    try:
        addresses = _wait_for(lambda: _listening_addresses(port), what="the app to listen")
        assert addresses == {"0100007F"}  # 127.0.0.1 only
        children = _children(proc.pid)
        assert len(children) == 2  # the worker and Streamlit
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not [pid for pid in children if _alive(pid)]
        assert not _listening_addresses(port)
    finally:
        if proc.poll() is None:
            proc.kill()


# 8. A visitor cannot make the app read any server path.


def test_paths_a_visitor_types_stay_inside_the_data_folders(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("XIL_DATA_DIRS", str(tmp_path / "allowed"))
    with pytest.raises(ValueError, match="outside the data folders.*XIL_DATA_DIRS"):
        services.import_mnist("/etc")
    with pytest.raises(ValueError, match="outside the data folders"):
        services.import_mnist(str(tmp_path / "allowed" / ".." / ".."))
    reviews = services.create_project("reviews", demo_reviews(), "demo")
    with pytest.raises(ValueError, match="outside the data folders"):
        services.queue_training(reviews.id, TextTrainConfig(backbone="/etc"))
    assert services.queue_training(reviews.id, TextTrainConfig(backbone="minilm")).id  # names are not paths
    with pytest.raises(FileNotFoundError):  # inside: allowed, and then simply missing
        services.import_mnist(tmp_path / "allowed" / "mnist")


# 10. Superseding is atomic on both backends: concurrent saves keep one line of history per annotator.


@pytest.mark.slow
@both_backends
def test_twenty_concurrent_savers_keep_one_current_judgement_per_example(demo):
    ids = [e.id for e in services.examples(demo.project_id, "train")[:10]]

    def save(n: int) -> None:
        for example_id in ids:
            services.save_feedback(example_id, "ada", demo.version_id, verdict="right_reason", label=n % 10)

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(save, range(20)))
    with session_scope() as session:
        rows = session.scalars(select(Feedback).where(Feedback.project_id == demo.project_id)).all()
    assert len(rows) == 200
    parents = [r.supersedes_id for r in rows if r.supersedes_id is not None]
    assert len(parents) == len(set(parents)) == 190  # every row but the first of each example superseded once
    current = feedback_store.current_feedback(demo.project_id)
    assert sorted(f.example_id for f in current) == sorted(ids)


def test_the_app_says_what_is_wrong_with_its_database(xil_home, monkeypatch):
    """A bad DATABASE_URL in the app: one message on the page, no traceback."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("XIL_START_WORKER", "0")
    monkeypatch.setenv("DATABASE_URL", "postgresql://ada:secret@127.0.0.1:9/xil")
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] and "cannot open the database" in at.error[0].value
    assert "secret" not in at.error[0].value


def test_odd_paths_in_the_train_settings_are_one_clear_line(demo):
    """The Train page checks the settings on every change: a path that cannot even be looked at is a
    ValueError (shown on the page), never a crash."""
    for weights, message in (
        ("~nobody-here/w.safetensors", "is not a path this studio can read"),
        (str(config.home() / ("x" * 300 + ".safetensors")), "File name too long"),
    ):
        with pytest.raises(ValueError, match=message):
            services.check_training(demo.project_id, TrainConfig(arch="resnet18_half", weights=weights))
    assert not config.looks_like_path("y" * 300)  # too long for a file: a hub name, not a folder
    assert not services.list_jobs(demo.project_id)
