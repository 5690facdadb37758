"""Job rows as a queue.

A claim is one ``UPDATE ... WHERE id = (oldest queued) RETURNING id`` statement: atomic in SQLite
(it takes the write lock) and, with ``FOR UPDATE SKIP LOCKED`` in the subquery, on PostgreSQL.
Running jobs heartbeat; a job whose worker stopped heartbeating is requeued (up to ``MAX_ATTEMPTS``)
or failed with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, func, select, update
from sqlmodel import col

from db import Job, session_scope
from db.models import utcnow

STALE_AFTER_S = 60.0
MAX_ATTEMPTS = 3
LOG_TAIL_CHARS = 4000
# A job row that runs one more machine's processes of a job spanning several (``spec["parent"]``):
# claimed before any other, since a running job waits for it.
MACHINE = "machine"


def enqueue(project_id: int, kind: str, spec: dict) -> Job:
    with session_scope(write=True) as session:
        job = Job(project_id=project_id, kind=kind, spec=spec)
        session.add(job)
        session.flush()
        session.refresh(job)
        return job


def claim(worker: str) -> Job | None:
    """Atomically take the oldest queued job (a :data:`MACHINE` job first), or None."""
    with session_scope(write=True) as session:
        first = case((col(Job.kind) == MACHINE, 0), else_=1)
        oldest = select(Job.id).where(Job.status == "queued").order_by(first, Job.id).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            oldest = oldest.with_for_update(skip_locked=True)
        now = utcnow()
        statement = (
            update(Job)
            .where(col(Job.id) == oldest.scalar_subquery(), col(Job.status) == "queued")
            .values(status="running", worker=worker, heartbeat_at=now, started_at=now, attempts=Job.attempts + 1)
            .returning(Job.id)
        )
        job_id = session.execute(statement).scalar_one_or_none()
        return session.get(Job, job_id) if job_id is not None else None


def get(job_id: int) -> Job | None:
    with session_scope() as session:
        return session.get(Job, job_id)


def ahead_of(job_id: int) -> tuple[int, int]:
    """``(jobs running, jobs queued before it)`` in every project: what a queued job waits for (the
    rows of a job's other machines are part of their job, not counted)."""
    with session_scope() as session:
        counts = dict(
            session.execute(
                select(Job.status, func.count())
                .where(col(Job.kind) != MACHINE)
                .where((col(Job.status) == "running") | ((col(Job.status) == "queued") & (col(Job.id) < job_id)))
                .group_by(Job.status)
            ).all()
        )
    return counts.get("running", 0), counts.get("queued", 0)


class JobLost(Exception):
    """The job is no longer this worker's (requeued while it was away, cancelled, or failed)."""


@dataclass
class JobContext:
    """What a running job's handler uses to report progress and hear a cancel request."""

    job_id: int
    worker: str

    def assert_owned(self, session) -> None:
        """Inside a write transaction: raise JobLost unless the job still runs on this worker. The row is
        locked until the transaction ends, so a requeue cannot slip in before what the caller writes."""
        job = session.get(Job, self.job_id, with_for_update=True)
        if job is None or job.status != "running" or job.worker != self.worker:
            raise JobLost(f"job {self.job_id} is no longer run by worker {self.worker}")

    def report(self, progress: float, record: dict | None = None, log: str | None = None) -> bool:
        """Store progress; return False when the job was cancelled or taken from this worker."""
        with session_scope(write=True) as session:
            job = session.get(Job, self.job_id)
            if job is None or job.status != "running" or job.worker != self.worker:
                return False
            job.progress = progress
            job.heartbeat_at = utcnow()
            if record is not None:
                job.history = [*job.history, record]
            if log:
                job.log_tail = (job.log_tail + log.rstrip() + "\n")[-LOG_TAIL_CHARS:]
            session.add(job)
            return not job.cancel_requested


def heartbeat(job_id: int, worker: str) -> bool:
    with session_scope(write=True) as session:
        result = session.execute(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.worker) == worker, col(Job.status) == "running")
            .values(heartbeat_at=utcnow())
        )
        return result.rowcount == 1


def finish(job_id: int, worker: str, metrics: dict, model_version_id: int | None) -> None:
    with session_scope(write=True) as session:
        job = session.get(Job, job_id)
        if job is None or job.worker != worker or job.status != "running":
            return
        job.status, job.progress, job.metrics = "succeeded", 1.0, metrics
        job.model_version_id, job.finished_at = model_version_id, utcnow()
        session.add(job)


def fail(job_id: int, worker: str | None, error: str, status: str = "failed") -> None:
    with session_scope(write=True) as session:
        job = session.get(Job, job_id)
        if job is None or job.status in ("succeeded", "failed", "cancelled"):
            return
        if worker is not None and job.worker != worker:
            return
        job.status, job.error, job.finished_at = status, error, utcnow()
        job.log_tail = (job.log_tail + error + "\n")[-LOG_TAIL_CHARS:]
        session.add(job)


def release(job_id: int, worker: str, reason: str) -> None:
    """Hand a running job back: queued again, the attempt not counted (or cancelled, if that was asked)."""
    with session_scope(write=True) as session:
        job = session.get(Job, job_id)
        if job is None or job.status != "running" or job.worker != worker:
            return
        if job.cancel_requested:
            job.status, job.error, job.finished_at = "cancelled", reason, utcnow()
        else:
            job.status, job.worker, job.progress, job.history = "queued", None, 0.0, []
            job.attempts = max(0, job.attempts - 1)
        job.log_tail = (job.log_tail + f"{reason}; handed back\n")[-LOG_TAIL_CHARS:]
        session.add(job)


def cancel(job_id: int) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next progress report."""
    with session_scope(write=True) as session:
        job = session.get(Job, job_id)
        if job is None:
            raise ValueError(f"no job {job_id}")
        if job.status == "queued":
            job.status, job.finished_at, job.error = "cancelled", utcnow(), "cancelled before it started"
        elif job.status == "running":
            job.cancel_requested = True
        session.add(job)
        return job


def recover_stale(stale_after_s: float = STALE_AFTER_S) -> list[int]:
    """Requeue (or fail, after MAX_ATTEMPTS) running jobs whose worker stopped heartbeating."""
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    recovered = []
    with session_scope(write=True) as session:
        stale = session.scalars(select(Job).where(col(Job.status) == "running", col(Job.heartbeat_at) < cutoff)).all()
        for job in stale:
            reason = f"worker {job.worker} stopped heartbeating (last at {job.heartbeat_at:%H:%M:%S} UTC)"
            if job.cancel_requested:
                job.status, job.error, job.finished_at = "cancelled", reason, utcnow()
            elif job.attempts >= MAX_ATTEMPTS:
                job.status, job.error, job.finished_at = (
                    "failed",
                    f"{reason}; gave up after {job.attempts} attempts",
                    utcnow(),
                )
            else:
                job.status, job.worker, job.progress, job.history = "queued", None, 0.0, []
                job.log_tail = (job.log_tail + f"{reason}; requeued\n")[-LOG_TAIL_CHARS:]
            session.add(job)
            recovered.append(job.id)
    return recovered
