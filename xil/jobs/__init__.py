"""The job queue: enqueue, claim, heartbeat, cancel, finish; ``xil worker`` runs it."""

from xil.jobs.queue import (
    STALE_AFTER_S,
    JobContext,
    cancel,
    claim,
    enqueue,
    fail,
    finish,
    heartbeat,
    recover_stale,
)
from xil.jobs.worker import run_worker

__all__ = [
    "STALE_AFTER_S",
    "JobContext",
    "cancel",
    "claim",
    "enqueue",
    "fail",
    "finish",
    "heartbeat",
    "recover_stale",
    "run_worker",
]
