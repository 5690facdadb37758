"""Content-addressed array files under the data directory.

Large arrays (masks, attribution maps, datasets, checkpoints) live as files; the database keeps the
relative path and the SHA-256 of the content. Writing the same array twice stores it once.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import time
from pathlib import Path

import numpy as np

from xil import config


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def put_bytes(data: bytes, suffix: str, folder: str = "blobs") -> tuple[str, str]:
    """Store ``data``; return ``(relative path, sha256)``."""
    sha = hashlib.sha256(data).hexdigest()
    rel = f"{folder}/{sha[:2]}/{sha}{suffix}"
    path = config.home() / rel
    if not path.exists():
        _write_atomic(path, data)
    return rel, sha


def put_array(array: np.ndarray, folder: str = "arrays") -> tuple[str, str]:
    """Store one array as ``.npy``; return ``(relative path, sha256)``."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return put_bytes(buffer.getvalue(), ".npy", folder)


def put_file(source: str | Path, suffix: str, folder: str, move: bool = False) -> tuple[str, str]:
    """Store a file (read in chunks: any size); return ``(relative path, sha256)``. ``move`` takes the
    source away instead of copying it (a file made in :func:`scratch`)."""
    source = Path(source)
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    sha = digest.hexdigest()
    rel = f"{folder}/{sha[:2]}/{sha}{suffix}"
    path = config.home() / rel
    if path.exists():
        if move:
            source.unlink()
        return rel, sha
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    if move:
        try:
            os.replace(source, path)
            return rel, sha
        except OSError:  # another file system: copy, then remove
            pass
    shutil.copyfile(source, tmp)
    os.replace(tmp, path)
    if move:
        source.unlink()
    return rel, sha


def scratch() -> Path:
    """A folder under the data directory for files being made (an import's pixels), on the same
    file system as the store, so :func:`put_file` can move them in."""
    path = config.home() / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def clean_scratch(older_than_s: float = 24 * 3600) -> int:
    """Remove what a killed import or training job left in :func:`scratch` (entries untouched for
    ``older_than_s``); how many were removed."""
    cutoff, removed = time.time() - older_than_s, 0
    for entry in scratch().iterdir():
        if entry.lstat().st_mtime < cutoff:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    return removed


def get_array(rel: str) -> np.ndarray:
    return np.load(config.home() / rel, allow_pickle=False)


def absolute(rel: str) -> Path:
    return config.home() / rel
