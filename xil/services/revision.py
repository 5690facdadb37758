"""The RiT revision corpus of the studio: corrections are rows of the ``correction`` table (feedback,
like every other judgement), the embedding of each one's retrieval key an array file beside them.

Adding is one insert, so any number of processes add at once without losing one. Each process keeps the
embeddings it has read and reads only rows that are new to it.
"""

from __future__ import annotations

import json
import os
import threading

import numpy as np
from sqlalchemy import select
from sqlmodel import col

from db import Correction as CorrectionRow
from db import session_scope
from xil import config, storage
from xil.ranking.encoder import load_encoder
from xil.ranking.revision import KINDS, Correction, RevisionIndex
from xil.services.access import Actor, require, require_owner

ENCODER_KIND, ENCODER_BACKBONE = "transformers", "minilm"
_ENCODER = f"{ENCODER_KIND}:{ENCODER_BACKBONE}"
_seen: dict[str, dict[int, tuple[Correction, np.ndarray]]] = {}  # per database URL: id -> (item, embedding)
_seen_lock = threading.Lock()


def _encoder():
    return load_encoder(ENCODER_KIND, ENCODER_BACKBONE)


def add_correction(
    text: str,
    kind: str = "rule",
    source_prompt: str | None = None,
    project_id: int | None = None,
    annotator: str | None = None,
    actor: Actor | None = None,
) -> int:
    """Add a stated rule, or a corrected answer to ``source_prompt``; returns its id. A signed-in
    ``actor`` adds it under their name, and needs the judge permission on ``project_id`` (a rule for
    every project, without one: a studio owner)."""
    if actor is not None:
        if project_id is None:
            require_owner(actor, "add a rule for every project")
        else:
            require(actor, project_id, "judge")
        annotator = actor.name
    text, source_prompt = text.strip(), (source_prompt or "").strip() or None
    if not text:
        raise ValueError("a correction needs text")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if kind == "answer" and source_prompt is None:
        raise ValueError("a corrected answer needs the prompt it answers (--prompt)")
    _import_legacy_file()
    item = Correction(0, text, kind, source_prompt)
    rel, sha = storage.put_array(_encoder().encode([item.key])[0].astype(np.float32), "embeddings")
    with session_scope(write=True) as session:
        row = CorrectionRow(
            kind=kind,
            text=text,
            source_prompt=source_prompt,
            project_id=project_id,
            annotator=annotator,
            encoder=_ENCODER,
            embedding_path=rel,
            embedding_sha=sha,
        )
        session.add(row)
        session.flush()
        return int(row.id)


def load_index() -> RevisionIndex:
    """Every correction, oldest first, with its key embedding."""
    _import_legacy_file()
    with session_scope() as session:
        rows = session.execute(
            select(
                CorrectionRow.id,
                CorrectionRow.kind,
                CorrectionRow.text,
                CorrectionRow.source_prompt,
                CorrectionRow.encoder,
                CorrectionRow.embedding_path,
            ).order_by(col(CorrectionRow.id))
        ).all()
    with _seen_lock:
        seen = _seen.setdefault(config.database_url(), {})
        for row_id, kind, text, source_prompt, encoder, path in rows:
            if row_id not in seen:
                item = Correction(row_id, text, kind, source_prompt)
                vector = storage.get_array(path) if encoder == _ENCODER else _encoder().encode([item.key])[0]
                seen[row_id] = (item, vector.astype(np.float32))
        known = [seen[row[0]] for row in rows]
    return RevisionIndex.from_items([c for c, _ in known], [v for _, v in known], _encoder())


def revise(prompt: str, threshold: float = 0.6, k: int = 3) -> dict:
    """The nearest corrections above ``threshold`` and the rewritten prompt."""
    if not 0 <= threshold <= 1.01:
        raise ValueError("threshold is a cosine similarity, between 0 and 1")
    return load_index().revise(prompt, threshold, k)


def _import_legacy_file() -> None:
    """Move a corpus kept by earlier versions in ``XIL_HOME/rit/index.json`` into the table, once: the
    process that renames the file away is the one that imports it."""
    legacy = config.home() / "rit" / "index.json"
    if not legacy.exists():
        return
    claimed = legacy.with_name(f"index.json.importing-{os.getpid()}")
    try:
        os.rename(legacy, claimed)
    except FileNotFoundError:  # another process took it
        return
    for item in json.loads(claimed.read_text(encoding="utf-8")).get("items", []):
        add_correction(item["text"], item.get("kind", "rule"), item.get("source_prompt"))
    os.replace(claimed, legacy.with_name("index.json.imported"))
