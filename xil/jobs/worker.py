"""The worker loop: claim a job, run its handler with a heartbeat thread, record the outcome."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable

from db import Job
from xil.jobs import queue

log = logging.getLogger("xil.worker")
Handler = Callable[[Job, queue.JobContext], tuple[dict, int | None]]


class JobCancelled(Exception):
    pass


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
    while stop is None or not stop.is_set():
        queue.recover_stale()
        job = queue.claim(name)
        if job is None:
            if once:
                return ran
            time.sleep(poll_s)
            continue
        log.info("running job %s (%s)", job.id, job.kind)
        run_one(job, name, handlers)
        ran += 1
    return ran
