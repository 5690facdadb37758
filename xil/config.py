"""Where the studio keeps its data: ``XIL_HOME`` (default ``./xil-data``) and ``DATABASE_URL``."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The data directory; created on first use."""
    path = Path(os.environ.get("XIL_HOME", "xil-data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """``DATABASE_URL`` if set (PostgreSQL for teams), else a SQLite file under :func:`home`.

    A plain ``postgresql://`` (or ``postgres://``) URL, as ``psql`` and hosting services write it, uses
    the psycopg 3 driver the studio installs."""
    url = os.environ.get("DATABASE_URL")
    return with_driver(url) if url else f"sqlite:///{home() / 'xil.sqlite'}"


def with_driver(url: str) -> str:
    """``url`` with the psycopg 3 driver named where it names none."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url.removeprefix(plain)
    return url


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
