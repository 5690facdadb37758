"""The RiT revision corpus of the studio: one index of corrections under the data directory.

Corrections are written atomically (a new file replaces the old), so a reader never sees half of one.
"""

from __future__ import annotations

import json
import os
import threading

from xil import config
from xil.ranking.revision import KINDS, RevisionIndex

_lock = threading.Lock()


def _path():
    folder = config.home() / "rit"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "index.json"


def load_index() -> RevisionIndex:
    path = _path()
    if not path.exists():
        return RevisionIndex()
    return RevisionIndex.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _save(index: RevisionIndex) -> None:
    path = _path()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(index.to_dict()), encoding="utf-8")
    os.replace(tmp, path)


def add_correction(text: str, kind: str = "rule", source_prompt: str | None = None) -> int:
    """Add a stated rule, or a corrected answer to ``source_prompt``; returns its id."""
    if not text.strip():
        raise ValueError("a correction needs text")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if kind == "answer" and not (source_prompt or "").strip():
        raise ValueError("a corrected answer needs the prompt it answers (--prompt)")
    with _lock:
        index = load_index()
        item_id = index.add(text.strip(), kind, source_prompt)
        _save(index)
    return item_id


def revise(prompt: str, threshold: float = 0.6, k: int = 3) -> dict:
    """The nearest corrections above ``threshold`` and the rewritten prompt."""
    if not 0 <= threshold <= 1.01:
        raise ValueError("threshold is a cosine similarity, between 0 and 1")
    return load_index().revise(prompt, threshold, k)
