"""Revision Transformer (RiT; Friedrich et al., 2023) retrieval: people's textual corrections revise
later prompts without any training.

A correction is either an ``answer`` (a prompt and the answer it should have had) or a ``rule`` (a
stated norm, e.g. "Never recommend raw eggs to pregnant people."). Its retrieval key is embedded with
the MiniLM sentence encoder (unit vectors): an answer's key is its source prompt (later prompts that
ask the same thing find it), a rule's key is its text. For a new prompt ``q``

    sim_i = cos(e(q), e(key_i)) = e(q) . e(key_i)

and the corrections with ``sim_i >= threshold``, at most ``k``, most similar first, become the
context of the revised prompt

    f"{context} Question: {q} Answer:"

where an answer contributes ``Question: {source prompt} Answer: {corrected answer}`` (a worked
example) and a rule its text, joined by single spaces. Nothing retrieved: the prompt is returned
unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xil.ranking.encoder import load_encoder

KINDS = ("answer", "rule")


@dataclass(frozen=True)
class Correction:
    id: int
    text: str
    kind: str = "rule"
    source_prompt: str | None = None

    @property
    def key(self) -> str:
        """What retrieval compares the query with."""
        return self.source_prompt if self.kind == "answer" else self.text

    @property
    def context(self) -> str:
        """What the correction adds to a revised prompt."""
        if self.kind == "answer":
            return f"Question: {self.source_prompt} Answer: {self.text}"
        return self.text


def final_prompt(query: str, retrieved: list[Correction]) -> str:
    if not retrieved:
        return query
    context = " ".join(c.context for c in retrieved)
    return f"{context} Question: {query} Answer:"


class RevisionIndex:
    """Corrections and their key embeddings; cosine retrieval by brute force (a few thousand
    corrections take well under a millisecond per query on a CPU)."""

    def __init__(self, encoder=None, encoder_kind: str = "transformers", backbone: str = "minilm"):
        self.encoder = encoder if encoder is not None else load_encoder(encoder_kind, backbone)
        self.items: list[Correction] = []
        self.embeddings: np.ndarray | None = None
        self._next_id = 0

    def __len__(self) -> int:
        return len(self.items)

    def add(self, text: str, kind: str = "rule", source_prompt: str | None = None) -> int:
        """Store a correction; returns its id (ids are never reused)."""
        text = text.strip()
        if not text:
            raise ValueError("a correction needs text")
        if kind not in KINDS:
            raise ValueError(f"unknown correction kind {kind!r}; choose from {KINDS}")
        if kind == "answer" and not (source_prompt and source_prompt.strip()):
            raise ValueError("an answer correction needs the prompt it answers (source_prompt)")
        item = Correction(self._next_id, text, kind, source_prompt.strip() if source_prompt else None)
        vector = self.encoder.encode([item.key])
        self.embeddings = vector if self.embeddings is None else np.concatenate([self.embeddings, vector])
        self.items.append(item)
        self._next_id += 1
        return item.id

    def remove(self, item_id: int) -> None:
        """Drop a correction (e.g. superseded by a newer one)."""
        keep = [n for n, item in enumerate(self.items) if item.id != item_id]
        if len(keep) == len(self.items):
            raise KeyError(f"no correction with id {item_id}")
        self.items = [self.items[n] for n in keep]
        self.embeddings = self.embeddings[keep] if keep else None

    def query(self, prompt: str, threshold: float = 0.6, k: int = 3) -> list[tuple[Correction, float]]:
        """Up to ``k`` ``(correction, cosine similarity)`` with similarity >= ``threshold``, best first."""
        if not self.items or k < 1:
            return []
        sims = self.embeddings @ self.encoder.encode([prompt])[0]
        order = np.argsort(-sims, kind="stable")[:k]
        return [(self.items[n], float(sims[n])) for n in order if sims[n] >= threshold]

    def revise(self, prompt: str, threshold: float = 0.6, k: int = 3) -> dict:
        """``{"prompt": final prompt, "retrieved": [{id, text, kind, source_prompt, similarity}]}``."""
        hits = self.query(prompt, threshold, k)
        return {
            "prompt": final_prompt(prompt, [c for c, _ in hits]),
            "retrieved": [{**asdict(c), "similarity": s} for c, s in hits],
        }

    def to_dict(self, embeddings_path: str | Path | None = None) -> dict:
        """JSON-ready state. The embeddings go inline as lists, or to ``embeddings_path`` (``.npy``)
        with the path stored instead."""
        data = {
            "encoder": {"kind": self.encoder.kind, "backbone": self.encoder.backbone},
            "next_id": self._next_id,
            "items": [asdict(item) for item in self.items],
        }
        embeddings = self.embeddings if self.embeddings is not None else np.zeros((0, 0), dtype=np.float32)
        if embeddings_path is not None:
            np.save(embeddings_path, embeddings)
            data["embeddings_path"] = str(embeddings_path)
        else:
            data["embeddings"] = embeddings.tolist()
        return data

    @classmethod
    def from_items(cls, items: list[Correction], embeddings: list[np.ndarray], encoder) -> RevisionIndex:
        """An index of stored corrections and their key embeddings (one unit vector each)."""
        index = cls(encoder)
        index.items = list(items)
        index.embeddings = np.stack(embeddings).astype(np.float32) if items else None
        index._next_id = max((c.id for c in items), default=-1) + 1
        return index

    @classmethod
    def from_dict(cls, data: dict, encoder=None) -> RevisionIndex:
        """Rebuild an index; its encoder is the stored one unless ``encoder`` is given. Embeddings that
        are missing or do not match the items are recomputed."""
        spec = data.get("encoder", {})
        index = cls(encoder, spec.get("kind", "transformers"), spec.get("backbone", "minilm"))
        index.items = [Correction(**item) for item in data.get("items", [])]
        index._next_id = int(data.get("next_id", max((c.id for c in index.items), default=-1) + 1))
        if "embeddings_path" in data:
            embeddings = np.load(data["embeddings_path"])
        else:
            embeddings = np.asarray(data.get("embeddings", []), dtype=np.float32)
        if index.items and (embeddings.ndim != 2 or len(embeddings) != len(index.items)):
            embeddings = index.encoder.encode([c.key for c in index.items])
        index.embeddings = embeddings.astype(np.float32) if index.items else None
        return index
