"""Decoy swatches in the style of Decoy-MNIST (Ross et al. 2017).

At train time a ``size x size`` swatch in a random corner encodes the label; at test time it encodes
a random label, so a model that used it fails. On grey images the swatch is a shade
(``1 - 25 * label / 255``); on RGB images a colour of :data:`PALETTE`, the kind of coloured patch
ISIC's skin-lesion photos carry.
"""

from __future__ import annotations

import numpy as np

PALETTE = np.array(  # one distinct colour per label (matplotlib's tab10)
    [
        [0.12, 0.47, 0.71],
        [1.00, 0.50, 0.05],
        [0.17, 0.63, 0.17],
        [0.84, 0.15, 0.16],
        [0.58, 0.40, 0.74],
        [0.55, 0.34, 0.29],
        [0.89, 0.47, 0.76],
        [0.50, 0.50, 0.50],
        [0.74, 0.74, 0.13],
        [0.09, 0.75, 0.81],
    ],
    dtype=np.float32,
)


def swatch(label: int, channels: int) -> np.ndarray:
    """The decoy's value per channel for ``label``."""
    if channels == 3:
        return PALETTE[label % 10]
    return np.full(channels, 1.0 - 25.0 * (label % 10) / 255.0, dtype=np.float32)


def add_decoys(
    images: np.ndarray, labels: np.ndarray, split: np.ndarray, seed: int = 0, size: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images with swatches, decoy masks)``; ``images`` is ``(N, C, H, W)`` in ``[0, 1]``."""
    rng = np.random.default_rng(seed)
    out = images.copy()
    n, channels, h, w = images.shape
    masks = np.zeros((n, h, w), dtype=bool)
    corners = rng.integers(0, 4, size=n)
    random_labels = rng.integers(0, 10, size=n)
    for i in range(n):
        shade_label = labels[i] if split[i] == "train" else random_labels[i]
        top = 0 if corners[i] < 2 else h - size
        left = 0 if corners[i] % 2 == 0 else w - size
        masks[i, top : top + size, left : left + size] = True
        out[i, :, masks[i]] = swatch(int(shade_label), channels)
    return out, masks
