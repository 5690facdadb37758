"""The job queue: enqueue, claim, heartbeat, cancel, finish; ``xil worker`` runs it."""

from xil.jobs.queue import (
    STALE_AFTER_S,
    JobContext,
    JobLost,
    cancel,
    claim,
    enqueue,
    fail,
    finish,
    heartbeat,
    recover_stale,
    release,
)
from xil.jobs.worker import run_worker

__all__ = [
    "STALE_AFTER_S",
    "JobContext",
    "JobLost",
    "cancel",
    "claim",
    "enqueue",
    "fail",
    "finish",
    "heartbeat",
    "recover_stale",
    "release",
    "run_worker",
]
