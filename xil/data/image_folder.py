"""Import a user's image folder: one subfolder per class.

Everything is checked before anything is imported: unreadable files, sizes that differ from the
rest and empty classes are reported file by file, and the dataset is built only when the report is
clean (or ``resize`` makes mixed sizes acceptable). Nothing is ever half-imported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xil.data.base import ImageDataset, stratified_split

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
MAX_IMAGES = 50_000


@dataclass
class ImportReport:
    """What an import found. ``ok`` only when ``errors`` is empty."""

    errors: list[str] = field(default_factory=list)
    n_images: int = 0
    classes: dict[str, int] = field(default_factory=dict)
    dataset: ImageDataset | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.dataset is not None


def import_image_folder(
    root: str | Path,
    resize: tuple[int, int] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> ImportReport:
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    report = ImportReport()
    if not root.is_dir():
        report.errors.append(f"{root}: not a folder")
        return report
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        report.errors.append(f"{root}: needs one subfolder per class, at least two (found {len(class_dirs)})")
        return report

    loaded: list[tuple[str, int, np.ndarray]] = []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
        report.classes[class_dir.name] = 0
        for path in files:
            rel = str(path.relative_to(root))
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                report.errors.append(f"{rel}: not an image file (suffix {path.suffix or 'none'})")
                continue
            try:
                with Image.open(path) as im:
                    im.load()
                    mode = "L" if im.mode in ("1", "L", "I", "I;16", "F") else "RGB"
                    im = im.convert(mode)
                    if resize is not None:
                        im = im.resize((resize[1], resize[0]))
                    array = np.asarray(im, dtype=np.float32) / 255.0
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                report.errors.append(f"{rel}: unreadable image ({exc.__class__.__name__}: {exc})")
                continue
            loaded.append((rel, label, array if array.ndim == 3 else array[..., None]))
            report.classes[class_dir.name] += 1
        if report.classes[class_dir.name] == 0:
            report.errors.append(f"{class_dir.name}/: empty class (no readable images)")

    report.n_images = len(loaded)
    if report.n_images > MAX_IMAGES:
        report.errors.append(f"{report.n_images} images: more than the {MAX_IMAGES} an import takes")
    if loaded:
        sizes = Counter(a.shape[:2] for _, _, a in loaded)
        common = sizes.most_common(1)[0][0]
        for rel, _, array in loaded:
            if array.shape[:2] != common:
                report.errors.append(
                    f"{rel}: size {array.shape[1]}x{array.shape[0]} differs from the "
                    f"{common[1]}x{common[0]} of most images (import with a resize to accept)"
                )
    if report.errors:
        return report

    channels = 3 if any(a.shape[2] == 3 for _, _, a in loaded) else 1
    images = np.stack([np.repeat(a, 3, axis=2) if a.shape[2] < channels else a for _, _, a in loaded]).transpose(
        0, 3, 1, 2
    )
    labels = np.array([label for _, label, _ in loaded], dtype=np.int64)
    report.dataset = ImageDataset(
        name=root.name,
        images=np.ascontiguousarray(images, dtype=np.float32),
        labels=labels,
        split=stratified_split(labels, test_fraction, seed),
        class_names=[d.name for d in class_dirs],
        names=[rel for rel, _, _ in loaded],
    )
    return report
