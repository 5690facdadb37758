"""Ranking datasets: prompts with the candidate responses an annotator orders."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xil.data.base import stratified_split


@dataclass
class PromptDataset:
    """Prompts, K candidates each, and a train/test split by prompt (held-out prompts evaluate the
    reward model). ``source`` says what produced the candidates (a file, or a generator model);
    ``origins`` says it per prompt where later rounds came from other generator versions (empty: all
    from ``source``). A prompt can appear again in a later round with new candidates."""

    name: str
    prompts: list[str]
    candidates: list[list[str]]
    split: np.ndarray
    source: str = "file"
    ids: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)  # no classes: rankings, not labels
    origins: list[str] = field(default_factory=list)
    generation: dict = field(default_factory=dict)  # how a generator sampled the candidates (GenerationConfig)

    def __post_init__(self) -> None:
        self.split = np.asarray(self.split, dtype="U5")
        if not (len(self.prompts) == len(self.candidates) == len(self.split)):
            raise ValueError("prompts, candidates and split must have the same length")
        if not self.ids:
            self.ids = [str(i) for i in range(len(self.prompts))]
        if not self.origins:
            self.origins = [self.source] * len(self.prompts)

    def with_round(self, rows: list[int], candidates: list[list[str]], origin: str, tag: str) -> PromptDataset:
        """A copy with a new round appended: prompt ``rows[i]`` again, with ``candidates[i]`` from
        ``origin``, in the same split, its id suffixed ``@tag``."""
        return PromptDataset(
            self.name,
            self.prompts + [self.prompts[i] for i in rows],
            self.candidates + [list(c) for c in candidates],
            np.concatenate([self.split, self.split[rows]]),
            self.source,
            self.ids + [f"{self.ids[i]}@{tag}" for i in rows],
            origins=self.origins + [origin] * len(rows),
            generation=self.generation,
        )

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def labels(self) -> np.ndarray:
        return np.zeros(len(self), dtype=np.int64)

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    @classmethod
    def from_rows(
        cls, name: str, rows: list[dict], source: str = "file", seed: int = 0, generation: dict | None = None
    ) -> PromptDataset:
        split = stratified_split(np.zeros(len(rows), dtype=np.int64), 0.25, seed)
        candidates = [list(r["candidates"]) for r in rows]
        return cls(name, [r["prompt"] for r in rows], candidates, split, source, generation=generation or {})

    def to_bytes(self) -> bytes:
        payload = {
            "kind": "ranking",
            "name": self.name,
            "prompts": self.prompts,
            "candidates": self.candidates,
            "split": self.split.tolist(),
            "source": self.source,
            "ids": self.ids,
            "origins": self.origins,
            "generation": self.generation,
        }
        return gzip.compress(json.dumps(payload).encode("utf-8"), mtime=0)

    @classmethod
    def from_file(cls, path) -> PromptDataset:
        payload = json.loads(gzip.decompress(Path(path).read_bytes()))
        payload.pop("kind", None)
        return cls(**payload)
