"""Engine and session factory.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout, and write
sessions start with ``BEGIN IMMEDIATE`` so a read-then-write transaction never fails half-way with
"database is locked". ``DATABASE_URL`` switches to any other database (PostgreSQL for teams).

The schema is brought to the newest Alembic revision when an engine is first made, under a lock that
any number of processes starting at once share (a file lock beside a SQLite database, an advisory
lock on PostgreSQL): one migrates, the others wait and find the schema current. A SQLite database that
holds data is copied beside itself (online backup API) before a migration is applied to it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlmodel import Session, create_engine

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
MIGRATIONS = Path(__file__).parent / "migrations"
LOCK_TIMEOUT_S = 600  # a migration of a large database may take minutes; a dead holder frees the lock at once
log = logging.getLogger("xil.db")


class DatabaseSetupError(RuntimeError):
    """The database cannot be used as configured: a bad URL, a server that does not answer, a schema
    this version does not know. The message says what is wrong and what to do."""


def default_url() -> str:
    """``DATABASE_URL`` if set (PostgreSQL for teams), else a SQLite file in ``XIL_HOME`` (default
    ``./xil-data``). A plain ``postgresql://`` (or ``postgres://``) URL, as ``psql`` and hosting
    services write it, uses the psycopg 3 driver the studio installs."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return with_driver(url)
    home = Path(os.environ.get("XIL_HOME", "xil-data")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'xil.sqlite'}"


def with_driver(url: str) -> str:
    """``url`` with the psycopg 3 driver named where it names none."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url.removeprefix(plain)
    return url


def shown(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = connection.info.pop("xil_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_path(engine: Engine) -> Path | None:
    database = engine.url.database
    return Path(database) if database and database != ":memory:" else None


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """Hold a lock named ``name`` across every process using this database: a file lock beside a
    SQLite file, a session-level advisory lock on PostgreSQL (freed by the server if we die)."""
    path = _sqlite_path(engine) if engine.dialect.name == "sqlite" else None
    if path is not None:
        with FileLock(f"{path}.{name}.lock", timeout=LOCK_TIMEOUT_S):
            yield
    elif engine.dialect.name == "postgresql":
        key = zlib.crc32(f"xil:{name}".encode())
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
    else:
        yield


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _backup(path: Path, revision: str) -> Path:
    """Copy a live SQLite database beside itself with SQLite's online backup API."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.before-{revision}-{stamp}.bak")
    source, copy = sqlite3.connect(path), sqlite3.connect(target)
    try:
        with copy:
            source.backup(copy)
    finally:
        source.close()
        copy.close()
    return target


def upgrade(engine: Engine) -> None:
    """Apply Alembic migrations up to head: once, however many processes start together."""
    from alembic import command

    cfg = _alembic_config()
    scripts = ScriptDirectory.from_config(cfg)
    head = scripts.get_current_head()
    with exclusive(engine, "migrate"):
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return
        if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
            raise DatabaseSetupError(
                f"the database {shown(str(engine.url))} is at schema revision {current!r}, which this version "
                "of xil does not know (a newer xil made it?). Upgrade xil, or point XIL_HOME / DATABASE_URL at "
                "another database."
            )
        path = _sqlite_path(engine) if engine.dialect.name == "sqlite" else None
        if current is not None and path is not None:
            backup = _backup(path, current)
            log.warning("migrating %s from schema %s to %s; a copy of it is at %s", path.name, current, head, backup)
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                connection.info["xil_immediate"] = True
            with connection.begin():
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "head")


def _make(url: str) -> Engine:
    try:
        is_sqlite = make_url(url).get_backend_name() == "sqlite"
        made = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30} if is_sqlite else {"connect_timeout": 10},
            pool_pre_ping=not is_sqlite,
        )
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise DatabaseSetupError(
            f"DATABASE_URL {shown(url)!r} is not a database URL xil can use ({exc}). Use "
            "postgresql://user:password@host:5432/name, or unset it for the SQLite file in XIL_HOME."
        ) from exc
    if is_sqlite:
        _sqlite_setup(made)
    try:
        upgrade(made)
    except OperationalError as exc:
        made.dispose()
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise DatabaseSetupError(
            f"cannot open the database {shown(url)}: {reason}. Check that the server is running and that "
            "DATABASE_URL's host, port, user and password are right (or that XIL_HOME is writable)."
        ) from exc
    return made


def engine(url: str | None = None) -> Engine:
    url = url or default_url()
    with _lock:
        if url not in _engines:
            _engines[url] = _make(url)
        return _engines[url]


def reset_engines() -> None:
    """Forget cached engines (tests that switch XIL_HOME / DATABASE_URL)."""
    with _lock:
        for made in _engines.values():
            made.dispose()
        _engines.clear()


@contextmanager
def session_scope(write: bool = False) -> Iterator[Session]:
    """One short transaction: commit on success, roll back on error."""
    eng = engine()
    with eng.connect() as connection:
        if write and eng.dialect.name == "sqlite":
            connection.info["xil_immediate"] = True
        with Session(bind=connection, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
