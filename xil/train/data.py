"""What an image training job reads: the images (in memory, or a pixel file read batch by batch by
DataLoader workers), the labels and the annotators' masks (dense, or only the marked rows)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from xil import feedback
from xil.data.base import PixelFile

# A pixel file whose training rows take at most this many bytes as float32 is read into memory (and
# onto the GPU) once; a larger one streams from disk, batch by batch.
IN_MEMORY_BYTES = 1 << 30


class SparseMasks:
    """``(N, H, W)`` masks of which few rows are marked: only those are kept, every other row reads as
    zeros. Indexing with row numbers gives a dense float32 tensor of those rows."""

    def __init__(self, n: int, shape: tuple[int, int], rows: np.ndarray, masks: np.ndarray) -> None:
        self.shape = (n, *shape)
        self._where = np.full(n, -1, dtype=np.int64)
        self._where[np.asarray(rows, dtype=np.int64)] = np.arange(len(rows))
        self._masks = np.asarray(masks, dtype=bool)

    def __len__(self) -> int:
        return self.shape[0]

    def marked(self) -> np.ndarray:
        """The rows with at least one marked pixel."""
        rows = np.flatnonzero(self._where >= 0)
        return rows[self._masks[self._where[rows]].reshape(len(rows), -1).any(1)]

    def __getitem__(self, idx) -> Tensor:
        if isinstance(idx, (int, np.integer)):
            return self[[idx]][0]
        where = self._where[np.asarray(idx.cpu() if isinstance(idx, Tensor) else idx)]
        out = np.zeros((len(where), *self.shape[1:]), dtype=np.float32)
        out[where >= 0] = self._masks[where[where >= 0]]
        return torch.from_numpy(out)

    def dense(self) -> Tensor:
        return self[np.arange(len(self))]


Masks = Tensor | SparseMasks


@dataclass
class TrainData:
    x: Tensor | PixelFile  # (N, C, H, W) in [0, 1]
    y: Tensor  # (N,)
    irrelevant: Masks | None = None  # (N, H, W), 1 where an annotator marked irrelevant
    relevant: Masks | None = None  # (N, H, W), 1 where an annotator marked relevant
    n_classes: int | None = None  # the model's outputs; None: the largest label + 1

    def mask_for(self, method: feedback.FeedbackMethod) -> Masks:
        mask = self.irrelevant if method.mask == "irrelevant" else self.relevant
        if mask is None:
            if isinstance(self.x, Tensor):
                return torch.zeros(self.x.shape[0], *self.x.shape[2:])
            return SparseMasks(len(self.y), tuple(self.x.shape[2:]), np.zeros(0, dtype=np.int64), np.zeros((0, 1, 1)))
        return mask if isinstance(mask, SparseMasks) else mask.float()

    @property
    def streamed(self) -> bool:
        """Read from disk batch by batch (too large for memory), not held whole."""
        return isinstance(self.x, PixelFile) and len(self.x) * np.prod(self.x.shape[1:]) * 4 > IN_MEMORY_BYTES

    def resident(self) -> TrainData:
        """The same data with the images (and masks) in memory as tensors, where they fit."""
        if self.streamed:
            return self
        x = self.x if isinstance(self.x, Tensor) else torch.from_numpy(self.x[:])
        dense = [m.dense() if isinstance(m, SparseMasks) else m for m in (self.irrelevant, self.relevant)]
        return TrainData(x, self.y, *dense, n_classes=self.n_classes)


def marked_rows(mask: Masks) -> Tensor:
    """The rows of ``mask`` with at least one marked pixel (on the CPU)."""
    if isinstance(mask, SparseMasks):
        return torch.from_numpy(mask.marked())
    return mask.flatten(1).any(dim=1).nonzero()[:, 0].cpu()


def take(rows: Tensor | PixelFile | SparseMasks, idx: Tensor, device: str) -> Tensor:
    """``rows[idx]`` as a tensor on ``device``, whatever holds the rows."""
    if isinstance(rows, Tensor):
        return rows[idx.to(rows.device)].to(device)
    if isinstance(rows, PixelFile):
        return torch.from_numpy(rows[idx.cpu().numpy()]).to(device)
    return rows[idx].to(device)


class _Batches(torch.utils.data.Dataset):
    """Each item is a whole batch: the rows of one index tensor (one read per run of rows)."""

    def __init__(self, x: PixelFile, y: Tensor, mask: Masks | None) -> None:
        self.x, self.y, self.mask = x, y, mask

    def __getitem__(self, idx: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        xb = torch.from_numpy(self.x[idx.numpy()])
        return xb, self.y[idx], None if self.mask is None else take(self.mask, idx, "cpu")


def loader_workers() -> int:
    """DataLoader worker processes for streamed data: ``XIL_LOADER_WORKERS``, else half the cores (1 to 4)."""
    raw = os.environ.get("XIL_LOADER_WORKERS", "").strip()
    if raw:
        if not raw.isdigit():
            raise ValueError(
                f"XIL_LOADER_WORKERS must be a whole number (0: read in the training process), not {raw!r}"
            )
        return int(raw)
    return min(4, max(1, (os.cpu_count() or 2) // 2))


def batches(
    x: Tensor | PixelFile,
    y: Tensor,
    mask: Masks | None,
    order: Tensor,
    batch_size: int,
    device: str,
    share: Callable[[Tensor], Tensor] | None = None,
) -> Iterator[tuple[Tensor, Tensor, Tensor | None]]:
    """``(images, labels, masks)`` per batch of ``order`` (only this process's ``share`` of each, when
    several train together), on ``device``: indexed in memory, or read from the pixel file by
    DataLoader workers a few batches ahead."""
    chunks = [share(c) if share is not None else c for c in order.cpu().split(batch_size)]
    if isinstance(x, Tensor):
        for idx in chunks:
            idx = idx.to(x.device)
            yield x[idx], y[idx], None if mask is None else mask[idx]
        return
    workers = loader_workers()
    loader = torch.utils.data.DataLoader(
        _Batches(x, y.cpu(), mask),
        sampler=chunks,
        batch_size=None,
        num_workers=workers,
        prefetch_factor=2 if workers else None,
        pin_memory=str(device).startswith("cuda"),
    )
    for xb, yb, mb in loader:
        yield xb.to(device, non_blocking=True), yb.to(device), None if mb is None else mb.to(device)
