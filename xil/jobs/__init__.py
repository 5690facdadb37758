"""The job queue: enqueue, claim, heartbeat, cancel, finish; ``xil worker`` runs it."""

from xil.jobs.queue import (
    MACHINE,
    STALE_AFTER_S,
    JobContext,
    JobLost,
    ahead_of,
    cancel,
    claim,
    enqueue,
    fail,
    finish,
    get,
    heartbeat,
    recover_stale,
    release,
)
from xil.jobs.worker import JobCancelled, run_worker

__all__ = [
    "MACHINE",
    "STALE_AFTER_S",
    "JobCancelled",
    "JobContext",
    "JobLost",
    "ahead_of",
    "cancel",
    "claim",
    "enqueue",
    "fail",
    "finish",
    "get",
    "heartbeat",
    "recover_stale",
    "release",
    "run_worker",
]
