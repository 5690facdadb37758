"""Engine and session factory.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout, and write
sessions start with ``BEGIN IMMEDIATE`` so a read-then-write transaction never fails half-way with
"database is locked". ``DATABASE_URL`` switches to any other database (PostgreSQL for teams).
The schema is brought to the newest Alembic revision when an engine is first made.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from xil import config

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = connection.info.pop("xil_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def upgrade(engine: Engine) -> None:
    """Apply Alembic migrations up to head."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def engine(url: str | None = None) -> Engine:
    url = url or config.database_url()
    with _lock:
        if url not in _engines:
            is_sqlite = url.startswith("sqlite")
            made = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30} if is_sqlite else {},
                pool_pre_ping=not is_sqlite,
            )
            if is_sqlite:
                _sqlite_setup(made)
            upgrade(made)
            _engines[url] = made
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
