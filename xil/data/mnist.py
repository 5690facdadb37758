"""Decoy-MNIST from IDX files in a folder (the standard MNIST distribution format).

Reads ``t10k-images-idx3-ubyte[.gz]`` / ``t10k-labels-idx1-ubyte[.gz]`` (and ``train-*`` when present).
``download=True`` fetches MNIST with torchvision for users who have a network.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from xil.data.base import ImageDataset, stratified_split
from xil.data.decoy import add_decoys

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into an array, checking its header."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path.name}: not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path.name}: truncated IDX header ({ndim} dimensions need {header} bytes, got {len(data)})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_DTYPES[data[2]])
    if (len(data) - header) % dtype.itemsize:
        raise ValueError(f"{path.name}: header says {dims} of {dtype}, file holds {len(data) - header} bytes")
    body = np.frombuffer(data, dtype=dtype, offset=header)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path.name}: header says {dims}, file holds {body.size} values")
    return body.reshape(dims)


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    return None


def load_mnist_folder(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    folder = Path(folder)
    images, labels = [], []
    for prefix in ("train", "t10k"):
        img = _find(folder, f"{prefix}-images-idx3-ubyte")
        lab = _find(folder, f"{prefix}-labels-idx1-ubyte")
        if img and lab:
            images.append(read_idx(img))
            labels.append(read_idx(lab))
    if not images:
        raise FileNotFoundError(
            f"no MNIST IDX files in {folder} (expected t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz])"
        )
    x = np.concatenate(images).astype(np.float32)[:, None] / 255.0
    y = np.concatenate(labels).astype(np.int64)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels in {folder}")
    return x, y


def download_mnist(folder: str | Path) -> Path:
    """Fetch MNIST's raw files with torchvision (needs a network and torchvision)."""
    from torchvision.datasets import MNIST

    MNIST(str(folder), train=False, download=True)
    return Path(folder) / "MNIST" / "raw"


def decoy_mnist(
    folder: str | Path,
    seed: int = 0,
    decoys: bool = True,
    test_fraction: float = 0.2,
    limit: int | None = None,
) -> ImageDataset:
    images, labels = load_mnist_folder(folder)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    split = stratified_split(labels, test_fraction, seed)
    masks = None
    if decoys:
        images, masks = add_decoys(images, labels, split, seed=seed)
    return ImageDataset(
        name="Decoy-MNIST" if decoys else "MNIST",
        images=images,
        labels=labels,
        split=split,
        class_names=[str(d) for d in range(10)],
        decoy_masks=masks,
    )
