"""Where the studio keeps its data: ``XIL_HOME`` (default ``./xil-data``) and ``DATABASE_URL``."""

from __future__ import annotations

import os
from pathlib import Path

from db.engine import default_url, with_driver

__all__ = ["database_url", "device", "home", "precision", "with_driver"]


def home() -> Path:
    """The data directory; created on first use."""
    path = Path(os.environ.get("XIL_HOME", "xil-data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """``DATABASE_URL`` if set (PostgreSQL for teams), else a SQLite file under :func:`home`."""
    return default_url()


def device(requested: str = "auto") -> str:
    """Resolve ``auto`` to CUDA when present, the CPU otherwise."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


PRECISIONS = ("auto", "float32", "bfloat16")


def precision() -> str:
    """``XIL_PRECISION``: what transformer training and explanations compute in. ``auto`` (the default)
    is bfloat16 autocast where the hardware multiplies it natively (CPUs with AVX512-BF16 or AMX, recent
    GPUs), else float32; ``float32`` always gives the reference numbers (see :mod:`xil.precision`)."""
    value = os.environ.get("XIL_PRECISION", "auto")
    if value not in PRECISIONS:
        raise ValueError(f"XIL_PRECISION must be one of {PRECISIONS}, got {value!r}")
    return value
