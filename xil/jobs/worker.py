"""The worker loop: claim a job, run its handler with a heartbeat thread, record the outcome.

SIGTERM or SIGINT stops a worker cleanly: idle, it exits at once; running a job, it hands the job back
(queued again, the attempt not counted) and exits, instead of leaving it ``running`` until the stale
timeout.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import traceback
from collections.abc import Callable

from db import Job
from xil.jobs import queue

log = logging.getLogger("xil.worker")
Handler = Callable[[Job, queue.JobContext], tuple[dict, int | None]]


class JobCancelled(Exception):
    pass


class WorkerStopping(BaseException):  # not an Exception: a handler's `except Exception` must not swallow it
    """The worker was asked to stop (SIGTERM / SIGINT) while it ran a job."""


class _Signals:
    """Turns SIGTERM / SIGINT into a stop: a flag while idle, WorkerStopping while a job runs."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.in_job = False
        self._previous: dict[int, object] = {}

    def _on_signal(self, signum, _frame) -> None:
        self.stop.set()
        if self.in_job:
            raise WorkerStopping(signal.Signals(signum).name)

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _beat(job_id: int, worker: str, stop: threading.Event, every_s: float) -> None:
    while not stop.wait(every_s):
        try:
            queue.heartbeat(job_id, worker)
        except Exception:  # a locked or unreachable database must not kill the job
            log.exception("heartbeat failed")


def run_one(job: Job, worker: str, handlers: dict[str, Handler], heartbeat_s: float = 5.0) -> None:
    handler = handlers.get(job.kind)
    if handler is None:
        queue.fail(job.id, worker, f"no handler for job kind {job.kind!r}")
        return
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(job.id, worker, stop, heartbeat_s), daemon=True)
    beat.start()
    try:
        metrics, model_version_id = handler(job, queue.JobContext(job.id, worker))
        queue.finish(job.id, worker, metrics, model_version_id)
    except JobCancelled as exc:
        queue.fail(job.id, worker, str(exc) or "cancelled", status="cancelled")
    except queue.JobLost as exc:
        log.warning("%s; its result was dropped", exc)
    except WorkerStopping as exc:
        queue.release(job.id, worker, f"worker {worker} stopped ({exc})")
        raise
    except Exception as exc:
        log.exception("job %s failed", job.id)
        tail = traceback.format_exc(limit=3)
        queue.fail(job.id, worker, f"{exc.__class__.__name__}: {exc}\n{tail}")
    finally:
        stop.set()
        beat.join(timeout=1)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_worker(
    handlers: dict[str, Handler],
    once: bool = False,
    poll_s: float = 1.0,
    stop: threading.Event | None = None,
) -> int:
    """Run jobs until stopped; with ``once``, run what is queued now and return. Returns jobs run."""
    name = worker_name()
    ran = 0
    with _Signals() as signals:
        while not (signals.stop.is_set() or (stop is not None and stop.is_set())):
            queue.recover_stale()
            job = queue.claim(name)
            if job is None:
                if once:
                    break
                signals.stop.wait(poll_s)
                continue
            log.info("running job %s (%s)", job.id, job.kind)
            signals.in_job = True
            try:
                run_one(job, name, handlers)
            except WorkerStopping:
                log.info("stopped; job %s handed back", job.id)
                break
            finally:
                signals.in_job = False
            ran += 1
    return ran
