"""Import a user's image folder, or a zip of one: one subfolder per class.

Everything is checked before the dataset is built, and every problem goes into one report, file by
file; nothing is ever half-imported. In order:

1. a zip is never extracted: its entries are checked by name (no absolute paths, ``..`` or links),
   then read one by one in memory, every byte counted against ``XIL_MAX_ARCHIVE_MB``;
2. each image's header gives its size and mode without decoding a pixel: more pixels than
   ``XIL_MAX_IMAGE_PIXELS`` (Pillow's decompression-bomb error included), sizes that differ from the
   rest (unless ``resize``) and a dataset larger than ``XIL_MAX_DATASET_MB`` are reported here;
3. the images are decoded one at a time and written, as uint8 rows, to a pixel file in ``scratch``
   while nothing was wrong so far (only one image is ever in memory: a folder of 100,000 photos
   imports in a few hundred megabytes), and only verified otherwise, so a truncated file still shows
   up in the same report; a failed import removes its pixel file.
"""

from __future__ import annotations

import struct
import tempfile
import uuid
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from xil.data import archive as zip_archive
from xil.data.base import ImageDataset, PixelWriter, small_class_errors, stratified_split
from xil.limits import Limits, limits, megabytes

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
GRAY_MODES = {"1", "L", "I", "I;16", "I;16B", "I;16L", "F"}
MAX_IMAGES = 500_000
# folders a zip made on a Mac or Windows carries that are not classes
SKIPPED_PARTS = {"__MACOSX", "Thumbs.db", "desktop.ini"}


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


@dataclass(frozen=True)
class _File:
    """One file of the import: ``rel`` is what people see, ``open`` gives a fresh binary stream."""

    rel: str
    label: int
    open: Callable[[], BinaryIO]


@dataclass(frozen=True)
class _Header:
    file: _File
    width: int
    height: int
    channels: int


def import_image_folder(
    root: str | Path | BinaryIO,
    resize: tuple[int, int] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    name: str | None = None,
    scratch: str | Path | None = None,
) -> ImportReport:
    """A folder, a ``.zip`` file, or an open zip (an upload) -> an :class:`ImportReport` whose
    ``dataset`` is set only when nothing is wrong; its images are a pixel file in ``scratch``
    (default: the system's temporary folder). A bad cap setting raises ValueError."""
    caps = limits()
    target = _Target(Path(scratch or tempfile.gettempdir()), resize, test_fraction, seed, name)
    if isinstance(root, (str, Path)) and not Path(root).is_file():
        return _import_folder(Path(root), target, caps)
    return _import_zip(root, target, caps)


@dataclass(frozen=True)
class _Target:
    """What the import makes: where its pixel file goes, the size, the split, the name."""

    scratch: Path
    resize: tuple[int, int] | None
    test_fraction: float
    seed: int
    name: str | None


def _import_folder(root: Path, target: _Target, caps: Limits) -> ImportReport:
    report = ImportReport()
    if not root.is_dir():
        report.errors.append(f"{root}: not a folder")
        return report
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        report.errors.append(f"{root}: needs one subfolder per class, at least two (found {len(class_dirs)})")
        return report
    files = []
    for label, class_dir in enumerate(class_dirs):
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
            files.append(_File(str(path.relative_to(root)), label, lambda p=path: open(p, "rb")))
    classes = [d.name for d in class_dirs]
    return _build(files, classes, target.name or root.name, target, caps, report)


def _import_zip(source: str | Path | BinaryIO, target: _Target, caps: Limits) -> ImportReport:
    report = ImportReport()
    label = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "the upload")
    size = _size_of(source)
    if size > caps.upload_bytes:
        report.errors.append(
            f"{label}: {megabytes(size)}, more than the {megabytes(caps.upload_bytes)} an upload may have "
            "(XIL_MAX_UPLOAD_MB)"
        )
        return report
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        report.errors.append(f"{label}: not a readable zip archive ({exc})")
        return report
    with archive:
        members, errors = zip_archive.members(archive, caps.archive_bytes)
        if errors:  # unsafe names or a declared size over the cap: read nothing at all
            report.errors += errors
            return report
        members = _drop_top_folder([m for m in members if not _skipped(m.parts)])
        classes = sorted({m.parts[0] for m in members if len(m.parts) > 1 or m.is_dir})
        if len(classes) < 2:
            report.errors.append(
                f"{label}: needs one folder per class, at least two (found {len(classes)}), "
                "either at the top of the zip or inside one top folder"
            )
            return report
        reader = zip_archive.BoundedReader(archive, caps.archive_bytes)
        files = []
        for member in sorted((m for m in members if not m.is_dir and len(m.parts) > 1), key=lambda m: m.parts):
            rel = "/".join(member.parts)
            if Path(rel).suffix.lower() in IMAGE_SUFFIXES:
                try:
                    reader.count(member)
                except zip_archive.ArchiveTooLarge as exc:
                    report.errors.append(str(exc))
                    return report
                except zip_archive.ENTRY_ERRORS as exc:
                    report.errors.append(f"{rel}: unreadable entry ({exc.__class__.__name__}: {exc})")
                    continue
            files.append(_File(rel, classes.index(member.parts[0]), lambda m=member: reader.open(m)))
        stem = Path(str(label)).stem if label != "the upload" else "upload"
        return _build(files, classes, target.name or stem, target, caps, report)


def _size_of(source: str | Path | BinaryIO) -> int:
    if isinstance(source, (str, Path)):
        return Path(source).stat().st_size
    position = source.seek(0, 2)
    source.seek(0)
    return position


def _skipped(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p in SKIPPED_PARTS for p in parts)


def _drop_top_folder(members: list[zip_archive.Member]) -> list[zip_archive.Member]:
    """A zip of a folder holds one top folder with the classes in it; a zip of the class folders
    holds them at its top. Both import the same."""
    tops = {m.parts[0] for m in members}
    if len(tops) == 1 and all(len(m.parts) > 1 or m.is_dir for m in members):
        return [zip_archive.Member(m.info, m.parts[1:]) for m in members if len(m.parts) > 1]
    return members


# --- the checks and the build, the same for folders and zips -----------------------------------

# what a damaged image raises in Pillow, beyond its own UnidentifiedImageError (an OSError)
_UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, struct.error, *zip_archive.ENTRY_ERRORS)


def _build(
    files: list[_File], class_names: list[str], name: str, target: _Target, caps: Limits, report: ImportReport
) -> ImportReport:
    report.classes = {c: 0 for c in class_names}
    headers = [h for f in files if (h := _header(f, caps, report)) is not None]
    report.n_images = len(headers)
    if report.n_images > MAX_IMAGES:
        report.errors.append(f"{report.n_images} images: more than the {MAX_IMAGES} an import takes")
    height, width = target.resize or _common_size(headers, report)
    channels = 3 if any(h.channels == 3 for h in headers) else 1
    n_bytes = len(headers) * channels * height * width
    if n_bytes > caps.dataset_bytes:
        report.errors.append(
            f"{len(headers)} images of {channels}x{height}x{width} take {megabytes(n_bytes)} on disk, more than "
            f"the {megabytes(caps.dataset_bytes)} a dataset may take (XIL_MAX_DATASET_MB); import with a smaller "
            "resize or fewer images"
        )
    # Only a clean report writes pixels; otherwise each image is decoded just to check it.
    writer = None
    if not report.errors and headers:
        path = target.scratch / f"import-{uuid.uuid4().hex}.npy"
        writer = PixelWriter(path, len(headers), (channels, height, width))
    images = None
    try:
        for header in headers:
            array = _decode(header, target.resize, channels, caps, report)
            if array is not None and writer is not None and array.shape != writer.shape:
                report.errors.append(f"{header.file.rel}: decodes to {array.shape}, its header said {writer.shape}")
                array = None  # a header that disagrees with its own pixels
            if writer is not None and report.errors:  # something is wrong: from here on only check
                writer.discard()
                writer = None
            if array is None:
                continue
            if writer is not None:
                writer.add(array)
            report.classes[class_names[header.file.label]] += 1
        for class_name, count in report.classes.items():
            if count == 0:
                report.errors.append(f"{class_name}/: empty class (no readable images)")
        report.errors += small_class_errors(report.classes)
        if not report.errors and writer is not None:
            images = writer.close()
    finally:
        if images is None and writer is not None:  # failed, or interrupted: no pixel file stays
            writer.discard()
    if images is None:
        return report
    labels = np.array([h.file.label for h in headers], dtype=np.int64)
    report.dataset = ImageDataset(
        name=name,
        images=images,
        labels=labels,
        split=stratified_split(labels, target.test_fraction, target.seed),
        class_names=class_names,
        names=[h.file.rel for h in headers],
    )
    return report


def _opened(file: _File, caps: Limits):
    """The file's stream, opened as an image with Pillow's decompression-bomb warning silenced (the
    pixel cap below is the check that counts). Pillow refuses above twice its own limit, so the limit
    is raised when an operator raises ours beyond it."""
    from PIL import Image

    if Image.MAX_IMAGE_PIXELS is not None and caps.image_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = caps.image_pixels
    stream = file.open()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return stream, Image.open(stream)
    except BaseException:
        stream.close()
        raise


def _header(file: _File, caps: Limits, report: ImportReport) -> _Header | None:
    """Size and mode from the header only; None (and a line in the report) for a file that fails."""
    from PIL import Image

    suffix = Path(file.rel).suffix
    if suffix.lower() not in IMAGE_SUFFIXES:
        report.errors.append(f"{file.rel}: not an image file (suffix {suffix or 'none'})")
        return None
    try:
        stream, image = _opened(file, caps)
        with stream, image:
            (width, height), mode = image.size, image.mode
    except Image.DecompressionBombError as exc:
        report.errors.append(f"{file.rel}: {_too_many_pixels(caps)} ({exc})")
        return None
    except _UNREADABLE as exc:
        report.errors.append(f"{file.rel}: unreadable image ({exc.__class__.__name__}: {exc})")
        return None
    if width * height > caps.image_pixels:
        report.errors.append(f"{file.rel}: {width}x{height} is {width * height:,} pixels; {_too_many_pixels(caps)}")
        return None
    return _Header(file, width, height, 1 if mode in GRAY_MODES else 3)


def _too_many_pixels(caps: Limits) -> str:
    return (
        f"an image may have at most {caps.image_pixels:,} pixels (XIL_MAX_IMAGE_PIXELS); "
        "scale it down before the import"
    )


def _common_size(headers: list[_Header], report: ImportReport) -> tuple[int, int]:
    """The most common (height, width); each image of another size is a line in the report."""
    if not headers:
        return 0, 0
    height, width = Counter((h.height, h.width) for h in headers).most_common(1)[0][0]
    for h in headers:
        if (h.height, h.width) != (height, width):
            report.errors.append(
                f"{h.file.rel}: size {h.width}x{h.height} differs from the {width}x{height} of most images "
                "(import with a resize to accept)"
            )
    return height, width


def _decode(
    header: _Header, resize: tuple[int, int] | None, channels: int, caps: Limits, report: ImportReport
) -> np.ndarray | None:
    """One image as ``(C, H, W)`` uint8; None (and a line in the report) when it fails."""
    from PIL import Image

    try:
        stream, image = _opened(header.file, caps)
        with stream, image:
            image.load()
            image = image.convert("L" if header.channels == 1 else "RGB")
            if resize is not None:
                image = image.resize((resize[1], resize[0]))
            array = np.asarray(image, dtype=np.uint8)
    except (Image.DecompressionBombError, *_UNREADABLE) as exc:
        report.errors.append(f"{header.file.rel}: unreadable image ({exc.__class__.__name__}: {exc})")
        return None
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    if array.shape[0] < channels:
        array = np.repeat(array, channels, axis=0)
    return np.ascontiguousarray(array)
