"""Reading a zip without extracting it.

Entries are checked by name first (an absolute path, ``..`` or a symbolic link is refused, so nothing
can point outside the import), the sizes their headers declare are summed against the cap, and then
each entry is read in memory one at a time, every decompressed byte counted against the same cap:
a header that lies about its size cannot beat it. Nothing is written to disk.
"""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from xil.limits import megabytes

CHUNK = 1 << 20  # bytes decompressed per read while counting
# what reading a damaged, encrypted or oddly compressed entry raises
ENTRY_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError)


class ArchiveTooLarge(ValueError):
    """The archive unpacks to more than the cap; the import stops at the first byte over it."""


@dataclass(frozen=True)
class Member:
    """One entry: ``parts`` is its path split on ``/`` (a trailing ``/`` marks a folder)."""

    info: zipfile.ZipInfo
    parts: tuple[str, ...]

    @property
    def is_dir(self) -> bool:
        return self.info.is_dir()


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why an entry must not be read, or None. Checked on the raw name: zipfile's own clean-up of
    names applies only when extracting, which this module never does."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in name.split("/"):
        return "a path that leaves the archive's folder ('..')"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    return None


def members(archive: zipfile.ZipFile, max_bytes: int) -> tuple[list[Member], list[str]]:
    """The entries of ``archive``, and one problem per unsafe entry plus one when the sizes the
    headers declare add up to more than ``max_bytes``. Nothing is read yet."""
    found, errors, declared = [], [], 0
    for info in archive.infolist():
        reason = unsafe_reason(info)
        if reason:
            errors.append(f"{info.filename}: {reason}; an archive may hold only files and folders inside it")
            continue
        declared += info.file_size
        found.append(Member(info, tuple(p for p in info.filename.replace("\\", "/").split("/") if p)))
    if declared > max_bytes:
        errors.append(
            f"the archive unpacks to {megabytes(declared)}, more than the {megabytes(max_bytes)} an import may "
            "unpack (XIL_MAX_ARCHIVE_MB)"
        )
    return found, errors


class BoundedReader:
    """Reads the entries of one archive, counting every decompressed byte against ``max_bytes``."""

    def __init__(self, archive: zipfile.ZipFile, max_bytes: int):
        self.archive, self.max_bytes, self.total = archive, max_bytes, 0

    def count(self, member: Member) -> int:
        """Read one entry to its end, chunk by chunk (so a corrupt entry shows up now, by its CRC),
        adding its bytes to the total; ArchiveTooLarge as soon as the total passes the cap."""
        size = 0
        with self.archive.open(member.info) as f:
            while chunk := f.read(CHUNK):
                size += len(chunk)
                if self.total + size > self.max_bytes:
                    raise ArchiveTooLarge(
                        f"the archive unpacks to more than the {megabytes(self.max_bytes)} an import may unpack "
                        f"(XIL_MAX_ARCHIVE_MB); stopped reading at {member.info.filename}"
                    )
        self.total += size
        return size

    def open(self, member: Member) -> BinaryIO:
        """A stream of one entry, for a reader that stops early (an image header)."""
        return self.archive.open(member.info)
