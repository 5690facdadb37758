"""Where the studio keeps its data: ``XIL_HOME`` (default ``./xil-data``) and ``DATABASE_URL``."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from db.engine import default_url, with_driver

__all__ = [
    "data_roots",
    "database_url",
    "device",
    "home",
    "looks_like_path",
    "precision",
    "readable_path",
    "with_driver",
]


def home() -> Path:
    """The data directory; created on first use."""
    path = Path(os.environ.get("XIL_HOME", "xil-data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_roots() -> list[Path]:
    """The folders a visitor of the app may name as a path (an MNIST folder, a local backbone): the data
    directory and the folders the operator lists in ``XIL_DATA_DIRS`` (separated by ``os.pathsep``)."""
    extra = [Path(p).expanduser().resolve() for p in os.environ.get("XIL_DATA_DIRS", "").split(os.pathsep) if p]
    return [home(), *extra]


def readable_path(value: str | Path) -> Path:
    """``value`` resolved, if it lies inside :func:`data_roots`; otherwise a ValueError that says how
    the operator allows it. Keeps the app from reading any server path a visitor types."""
    try:
        path = Path(value).expanduser().resolve()
    except (OSError, RuntimeError) as error:  # "~nobody/x": no such user; a name too long
        raise ValueError(f"{value} is not a path this studio can read: {error}") from None
    roots = data_roots()
    if not any(path == root or path.is_relative_to(root) for root in roots):
        listed = ", ".join(str(r) for r in roots)
        raise ValueError(
            f"{value} is outside the data folders this studio may read ({listed}); "
            f"the operator can add folders with XIL_DATA_DIRS"
        )
    return path


def looks_like_path(value: str) -> bool:
    """A backbone given as a local folder rather than a name (``minilm``) or a hub id (``org/name``)."""
    try:
        return value.startswith((os.sep, ".", "~")) or Path(value).exists()
    except OSError:  # a name too long for a file is no local folder
        return False


def database_url() -> str:
    """``DATABASE_URL`` if set (PostgreSQL for teams), else a SQLite file under :func:`home`."""
    return default_url()


def device(requested: str = "auto") -> str:
    """Resolve ``auto`` to CUDA when present, the CPU otherwise."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def worker_processes() -> int:
    """``XIL_PROCESSES`` (set by ``xil worker --processes N``): the data-parallel processes a worker
    launches for a training job whose config asks for one; 1 by default."""
    raw = os.environ.get("XIL_PROCESSES", "").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"XIL_PROCESSES must be a whole number, 1 or more, not {raw!r}")
    return int(raw)


def worker_address() -> str:
    """``XIL_WORKER_ADDRESS``: where the other machines of a job spanning several reach this one (its
    first process); by default the address the host name resolves to."""
    if address := os.environ.get("XIL_WORKER_ADDRESS", "").strip():
        return address
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def machine_wait_s() -> float:
    """``XIL_MACHINE_WAIT_S``: how long a job spanning machines waits for the others' workers (600)."""
    return float(os.environ.get("XIL_MACHINE_WAIT_S", "600"))


PRECISIONS = ("auto", "float32", "bfloat16")


def precision() -> str:
    """``XIL_PRECISION``: what transformer training and explanations compute in. ``auto`` (the default)
    is bfloat16 autocast where the hardware multiplies it natively (CPUs with AVX512-BF16 or AMX, recent
    GPUs), else float32; ``float32`` always gives the reference numbers (see :mod:`xil.precision`)."""
    value = os.environ.get("XIL_PRECISION", "auto")
    if value not in PRECISIONS:
        raise ValueError(f"XIL_PRECISION must be one of {PRECISIONS}, got {value!r}")
    return value


_frozen = False


def freeze_startup_objects() -> None:
    """Once per process, after the imports: move every object alive now (modules, torch, the app)
    out of the garbage collector's view. A long-running server collects its oldest generation every
    few requests, and walking those few million startup objects took 150 ms each time (every fifth
    next example of a 20,000-image project); they live as long as the process anyway."""
    global _frozen
    if not _frozen:
        import gc

        gc.freeze()
        _frozen = True
