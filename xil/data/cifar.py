"""Decoy-CIFAR-10: CIFAR-10 from an image folder (``train/`` and ``test/``, one subfolder per class)
with a coloured decoy swatch (:mod:`xil.data.decoy`) whose colour encodes the label at train time.

``per_class_train`` / ``per_class_test`` keep the first N images of each class (by file name): the
CPU benchmark's smaller size. Images are read one at a time into one preallocated array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from xil.data.base import ImageDataset
from xil.data.decoy import add_decoys
from xil.data.image_folder import IMAGE_SUFFIXES


def _files(folder: Path, per_class: int | None) -> tuple[list[Path], list[int], list[str]]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} not found: a Decoy-CIFAR-10 folder holds train/ and test/ image folders")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found[:per_class]
        labels += [label] * len(found[:per_class])
    if not files:
        raise FileNotFoundError(f"{folder} has no images in class subfolders")
    return files, labels, classes


def decoy_cifar10(
    folder: str | Path,
    decoys: bool = True,
    seed: int = 0,
    per_class_train: int | None = None,
    per_class_test: int | None = None,
) -> ImageDataset:
    folder = Path(folder)
    train_files, train_labels, classes = _files(folder / "train", per_class_train)
    test_files, test_labels, test_classes = _files(folder / "test", per_class_test)
    if test_classes != classes:
        raise ValueError(f"train/ and test/ have different classes: {classes} vs {test_classes}")
    files = train_files + test_files
    with Image.open(files[0]) as first:
        width, height = first.size
    images = np.empty((len(files), 3, height, width), dtype=np.float32)
    for i, path in enumerate(files):
        with Image.open(path) as image:
            rgb = image.convert("RGB")
            if rgb.size != (width, height):
                rgb = rgb.resize((width, height))
            images[i] = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
    labels = np.array(train_labels + test_labels, dtype=np.int64)
    split = np.array(["train"] * len(train_files) + ["test"] * len(test_files))
    masks = None
    if decoys:
        images, masks = add_decoys(images, labels, split, seed=seed)
    return ImageDataset(
        name="Decoy-CIFAR-10" if decoys else "CIFAR-10",
        images=images,
        labels=labels,
        split=split,
        class_names=classes,
        decoy_masks=masks,
        names=[f"{s}/{p.parent.name}/{p.name}" for s, p in zip(split, files, strict=True)],
    )
