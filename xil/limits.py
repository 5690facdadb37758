"""Caps on what one import may hold, so an upload cannot exhaust the server's memory or disk.

Each cap is an environment setting, so an operator raises it without editing code:

| setting | default | caps |
| --- | --- | --- |
| ``XIL_MAX_UPLOAD_MB`` | 200 | one uploaded file, and a text or prompt file (after gunzip) |
| ``XIL_MAX_ARCHIVE_MB`` | 1024 | the bytes a zip unpacks to, all entries together |
| ``XIL_MAX_IMAGE_PIXELS`` | 16777216 (4096x4096) | width x height of one image, read from its header |
| ``XIL_MAX_DATASET_MB`` | 16384 | an imported image dataset's pixels on disk (N x C x H x W bytes) |
| ``XIL_MAX_TEXT_CHARS`` | 5000 | one text, prompt or candidate answer |

The values are read on every call (not at import), so a test or a restarted server sees a change.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

MB = 1024 * 1024

# setting name -> default; floats for megabytes (0.5 is a fine cap), ints for counts
DEFAULTS: dict[str, float | int] = {
    "XIL_MAX_UPLOAD_MB": 200,
    "XIL_MAX_ARCHIVE_MB": 1024,
    "XIL_MAX_IMAGE_PIXELS": 4096 * 4096,
    "XIL_MAX_DATASET_MB": 16384,
    "XIL_MAX_TEXT_CHARS": 5000,
}


@dataclass(frozen=True)
class Limits:
    upload_mb: float
    archive_mb: float
    image_pixels: int
    dataset_mb: float
    text_chars: int

    @property
    def upload_bytes(self) -> int:
        return int(self.upload_mb * MB)

    @property
    def archive_bytes(self) -> int:
        return int(self.archive_mb * MB)

    @property
    def dataset_bytes(self) -> int:
        return int(self.dataset_mb * MB)


def _read(name: str, kind: type) -> float | int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return DEFAULTS[name]
    try:
        value = kind(raw.replace("_", ""))
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        what = "a positive whole number" if kind is int else "a positive number"
        raise ValueError(f"{name} must be {what} (default {DEFAULTS[name]}), not {raw!r}")
    return value


def limits() -> Limits:
    """The caps now in force; a ValueError naming the setting when one is not a positive number."""
    return Limits(
        upload_mb=_read("XIL_MAX_UPLOAD_MB", float),
        archive_mb=_read("XIL_MAX_ARCHIVE_MB", float),
        image_pixels=_read("XIL_MAX_IMAGE_PIXELS", int),
        dataset_mb=_read("XIL_MAX_DATASET_MB", float),
        text_chars=_read("XIL_MAX_TEXT_CHARS", int),
    )


def megabytes(n_bytes: int) -> str:
    """``n_bytes`` for a message: ``"3.2 MB"``, or ``"1,048 bytes"`` where a tenth of a MB would round away."""
    return f"{n_bytes / MB:,.1f} MB" if n_bytes >= MB // 10 else f"{n_bytes:,} bytes"
