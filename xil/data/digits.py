"""Decoy-Digits: scikit-learn's bundled handwritten digits with Decoy-MNIST swatches.

Ships with scikit-learn, so the embedded demo works offline. The 8x8 digits are upscaled to 20x20
and centred on a 28x28 canvas, like MNIST, so the same models and decoys apply to both.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from xil.data.base import ImageDataset, stratified_split
from xil.data.decoy import add_decoys


def clean_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    big = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
    images = F.pad(big, (4, 4, 4, 4)).clamp(0, 1).numpy()
    return images, digits.target.astype(np.int64)


def decoy_digits(seed: int = 0, decoys: bool = True, test_fraction: float = 0.2) -> ImageDataset:
    images, labels = clean_digits()
    split = stratified_split(labels, test_fraction, seed)
    masks = None
    if decoys:
        images, masks = add_decoys(images, labels, split, seed=seed)
    return ImageDataset(
        name="Decoy-Digits" if decoys else "Digits",
        images=images.astype(np.float32),
        labels=labels,
        split=split,
        class_names=[str(d) for d in range(10)],
        decoy_masks=masks,
    )
