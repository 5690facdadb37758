"""The one record format for image datasets, and the file its pixels live in.

A dataset is two files: a small ``.npz`` with the labels, split, names and classes, and a ``.npy``
with the pixels, one row per image (:class:`PixelFile`), read a few rows at a time. Imports write
the pixels row by row (:class:`PixelWriter`), so no dataset is ever in memory whole.
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_OPENING = threading.Lock()
HEADER_BYTES = 128  # a .npy header padded to this size, so the row count can be written up front


class PixelFile:
    """``(N, C, H, W)`` pixels in a ``.npy`` file, uint8 (imports) or float32 (computed datasets),
    read on demand as float32 in ``[0, 1]``: indexing reads just the rows asked for, by positional
    reads (nothing is mapped or cached, so memory stays flat however large the file is). ``view``
    gives the same file restricted to some rows. Safe to pickle into DataLoader workers."""

    ndim = 4
    dtype = np.dtype(np.float32)

    def __init__(self, path: str | Path, rows: np.ndarray | None = None) -> None:
        self.path = str(path)
        with open(self.path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran, stored = read_header(f)
            self._offset = f.tell()
        if fortran or len(shape) != 4 or stored not in (np.dtype(np.uint8), np.dtype(np.float32)):
            raise ValueError(f"{self.path}: not an (N, C, H, W) uint8 or float32 pixel file")
        self.stored = stored
        self._file_shape = tuple(int(s) for s in shape)
        self._row_bytes = int(np.prod(shape[1:])) * stored.itemsize
        self._rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self._fd: tuple[int, int] | None = None  # (pid, descriptor): reopened in a forked worker

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None}

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)  # None too where __init__ failed
        if fd is not None and fd[0] == os.getpid():
            os.close(fd[1])

    def __len__(self) -> int:
        return self._file_shape[0] if self._rows is None else len(self._rows)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self), *self._file_shape[1:])

    @property
    def nbytes(self) -> int:
        return len(self) * self._row_bytes

    def view(self, indices) -> PixelFile:
        """The rows ``indices`` of this one (no pixel is read)."""
        view = PixelFile.__new__(PixelFile)
        view.__dict__.update(self.__getstate__())
        view._rows = self._file_rows(indices)
        return view

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, tuple):  # rows first, then within them: ds.images[i, 0], images[:, :, 3]
            rows = self[key[0]]
            return rows[key[1:]] if isinstance(key[0], (int, np.integer)) else rows[(slice(None), *key[1:])]
        if isinstance(key, bool | np.bool_):
            raise TypeError("index a pixel file by a row number, not a bool")
        if isinstance(key, (int, np.integer)) or (hasattr(key, "ndim") and key.ndim == 0):
            return self._read(self._file_rows([int(key)]))[0]
        return self._read(self._file_rows(key))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)

    def _file_rows(self, key) -> np.ndarray:
        """The file rows of ``key``: a slice, or a 1-d array (list, tensor) of row numbers or of bools."""
        mine = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key)
        if mine.ndim != 1 or not (mine.dtype == bool or np.issubdtype(mine.dtype, np.integer) or mine.size == 0):
            raise TypeError(f"index a pixel file by a row, a slice or a 1-d array of rows or bools, not {key!r}")
        if mine.dtype == bool:
            if len(mine) != len(self):
                raise IndexError(f"a boolean index of {len(mine)} for {len(self)} images")
            mine = np.flatnonzero(mine)
        mine = mine.astype(np.int64, copy=False)
        if len(mine) and (mine.min() < -len(self) or mine.max() >= len(self)):
            raise IndexError(f"row index out of range for {len(self)} images")
        mine = np.where(mine < 0, mine + len(self), mine)
        return mine if self._rows is None else self._rows[mine]

    def _descriptor(self) -> int:
        with _OPENING:  # the app's prefetch thread and a page may read the same file at once
            if self._fd is None or self._fd[0] != os.getpid():
                self._fd = (os.getpid(), os.open(self.path, os.O_RDONLY))
            return self._fd[1]

    def _read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), *self._file_shape[1:]), dtype=self.stored)
        if len(rows) == 0:
            return out.astype(np.float32)
        flat = out.reshape(len(rows), -1).view(np.uint8)
        fd, start = self._descriptor(), 0
        while start < len(rows):  # one read per run of consecutive rows
            end = start + 1
            while end < len(rows) and rows[end] == rows[end - 1] + 1:
                end += 1
            want = (end - start) * self._row_bytes
            data = os.pread(fd, want, self._offset + int(rows[start]) * self._row_bytes)
            if len(data) != want:
                raise OSError(f"{self.path}: truncated pixel file (row {int(rows[start])})")
            flat[start:end] = np.frombuffer(data, dtype=np.uint8).reshape(end - start, -1)
            start = end
        if self.stored == np.uint8:
            return out.astype(np.float32) / np.float32(255)
        return out


class PixelWriter:
    """Writes ``n`` images of one ``(C, H, W)`` shape to a uint8 pixel file, one at a time: at most one
    image is in memory. ``discard()`` removes the file (an import that failed)."""

    def __init__(self, path: str | Path, n: int, shape: tuple[int, int, int]) -> None:
        self.path, self.n, self.shape, self.written = Path(path), n, tuple(shape), 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "|u1", "fortran_order": False, "shape": (n, *self.shape)}
        )
        raw = header.getvalue()
        text = raw[10:].rstrip().ljust(HEADER_BYTES - 11) + b"\n"  # fixed length: a simple file
        self._file.write(raw[:8] + (HEADER_BYTES - 10).to_bytes(2, "little") + text)

    def add(self, image: np.ndarray) -> None:
        """One ``(C, H, W)`` uint8 image."""
        if image.shape != self.shape or image.dtype != np.uint8:
            raise ValueError(f"an image of {image.shape} {image.dtype}, the file holds {self.shape} uint8")
        if self.written >= self.n:
            raise ValueError(f"the pixel file holds {self.n} images")
        self._file.write(np.ascontiguousarray(image).tobytes())
        self.written += 1

    def close(self) -> PixelFile:
        self._file.close()
        if self.written != self.n:
            self.discard()
            raise ValueError(f"{self.written} of {self.n} images written")
        return PixelFile(self.path)

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


@dataclass
class ImageDataset:
    """Images in ``[0, 1]`` as ``(N, C, H, W)``, integer labels and a train/test split.

    ``images`` is a float32 array (a dataset made in memory: the digit demos, Decoy-MNIST) or a
    :class:`PixelFile` (a stored or imported one): both index the same way and give float32 arrays.
    ``decoy_masks`` (``(N, H, W)`` bool) marks known shortcut pixels where the source planted them
    (Decoy-Digits, Decoy-MNIST); it drives the wrong-reason score and simulated feedback.
    ``names`` identifies each example for people (a file name, or ``"train/17"``).
    """

    name: str
    images: np.ndarray | PixelFile
    labels: np.ndarray
    split: np.ndarray
    class_names: list[str]
    decoy_masks: np.ndarray | None = None
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {self.images.shape}")
        if len(self.labels) != n or len(self.split) != n:
            raise ValueError("images, labels and split must have the same length")
        if self.decoy_masks is not None and self.decoy_masks.shape != (n, *self.images.shape[2:]):
            raise ValueError("decoy_masks must be (N, H, W)")
        if not self.names:
            self.names = [f"{s}/{i}" for i, s in enumerate(self.split)]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    def rows(self, indices) -> np.ndarray | PixelFile:
        """The images of ``indices``: read now from an array, lazily (a view) from a pixel file."""
        if isinstance(self.images, PixelFile):
            return self.images.view(indices)
        return self.images[indices]

    def metadata_bytes(self, pixels: str) -> bytes:
        """Everything but the pixels, as ``.npz``; ``pixels`` is the pixel file's path relative to the
        folder this file will be stored in."""
        arrays = {
            "pixels": np.array(pixels),
            "labels": self.labels.astype(np.int64),
            "split": self.split.astype("U5"),
            "class_names": np.array(self.class_names),
            "names": np.array(self.names),
            "name": np.array(self.name),
        }
        if self.decoy_masks is not None:
            arrays["decoy_masks"] = self.decoy_masks.astype(bool)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_file(cls, path) -> ImageDataset:
        """A dataset file with its pixel file (or, as written before pixel files, its images inline)."""
        with np.load(path, allow_pickle=False) as z:
            if "pixels" in z.files:
                images = PixelFile(Path(path).parent / str(z["pixels"]))
            else:
                images = z["images"]
            return cls(
                name=str(z["name"]),
                images=images,
                labels=z["labels"],
                split=z["split"],
                class_names=[str(c) for c in z["class_names"]],
                decoy_masks=z["decoy_masks"] if "decoy_masks" in z.files else None,
                names=[str(n) for n in z["names"]],
            )


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """``"train"``/``"test"`` per example, the same class balance in both; a class of two or more
    keeps at least one example for each (``test_fraction`` > 0)."""
    rng = np.random.default_rng(seed)
    split = np.full(len(labels), "train", dtype="U5")
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(len(idx) * test_fraction))
        if test_fraction > 0 and len(idx) >= 2:
            n_test = min(max(n_test, 1), len(idx) - 1)
        split[idx[:n_test]] = "test"
    return split


def small_class_errors(counts: dict[str, int]) -> list[str]:
    """One line naming the classes with fewer than two examples (a model trains on one and is tested on
    another), or none. Classes with none are the caller's to name (it knows why they are empty)."""
    small = [name for name, n in counts.items() if n == 1]
    if not small:
        return []
    shown = ", ".join(repr(str(name)) for name in small[:5]) + (f" and {len(small) - 5} more" if len(small) > 5 else "")
    return [
        f"{len(small)} label(s) with a single example ({shown}): each needs at least two, one to train on and "
        "one to test on"
    ]
