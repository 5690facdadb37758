"""The one in-memory record format for image datasets."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageDataset:
    """Images in ``[0, 1]`` as ``(N, C, H, W)`` float32, integer labels and a train/test split.

    ``decoy_masks`` (``(N, H, W)`` bool) marks known shortcut pixels where the source planted them
    (Decoy-Digits, Decoy-MNIST); it drives the wrong-reason score and simulated feedback.
    ``names`` identifies each example for people (a file name, or ``"train/17"``).
    """

    name: str
    images: np.ndarray
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

    def to_bytes(self) -> bytes:
        arrays = {
            "images": self.images.astype(np.float32),
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
        with np.load(path, allow_pickle=False) as z:
            return cls(
                name=str(z["name"]),
                images=z["images"],
                labels=z["labels"],
                split=z["split"],
                class_names=[str(c) for c in z["class_names"]],
                decoy_masks=z["decoy_masks"] if "decoy_masks" in z.files else None,
                names=[str(n) for n in z["names"]],
            )


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """``"train"``/``"test"`` per example, the same class balance in both."""
    rng = np.random.default_rng(seed)
    split = np.full(len(labels), "train", dtype="U5")
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        split[idx[: int(round(len(idx) * test_fraction))]] = "test"
    return split
