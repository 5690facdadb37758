"""Decoy swatches in the style of Decoy-MNIST (Ross et al. 2017).

At train time a ``size x size`` swatch in a random corner has a shade that encodes the label
(``1 - 25 * label / 255``); at test time the shade is random, so a model that used it fails.
"""

from __future__ import annotations

import numpy as np


def add_decoys(
    images: np.ndarray, labels: np.ndarray, split: np.ndarray, seed: int = 0, size: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images with swatches, decoy masks)``; ``images`` is ``(N, 1, H, W)`` in ``[0, 1]``."""
    rng = np.random.default_rng(seed)
    out = images.copy()
    n, _, h, w = images.shape
    masks = np.zeros((n, h, w), dtype=bool)
    corners = rng.integers(0, 4, size=n)
    random_labels = rng.integers(0, 10, size=n)
    for i in range(n):
        shade_label = labels[i] if split[i] == "train" else random_labels[i]
        top = 0 if corners[i] < 2 else h - size
        left = 0 if corners[i] % 2 == 0 else w - size
        masks[i, top : top + size, left : left + size] = True
        out[i, :, masks[i]] = 1.0 - 25.0 * (shade_label % 10) / 255.0
    return out, masks
