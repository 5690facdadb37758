"""Sentence embeddings for retrieval: MiniLM-L6 (the bundled ``all-MiniLM-L6-v2``) by default.

Two interchangeable backends with the same result (``all-MiniLM-L6-v2`` is exactly mean pooling plus
L2 normalisation; they agree to about 1e-6):

- ``"transformers"``: ``AutoModel`` + ``v = sum_t m_t h_t / sum_t m_t``, ``v / ||v||``, with ``h`` the
  last hidden states and ``m`` the attention mask;
- ``"sentence-transformers"``: ``SentenceTransformer(path)`` with ``normalize_embeddings=True``.

Both load local files only when given a local folder. Loaded encoders are cached per (kind, backbone,
device), so many indexes share one model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from xil.models.text import backbone_path

KINDS = ("transformers", "sentence-transformers")


@dataclass
class MeanPoolingEncoder:
    backbone: str = "minilm"
    max_length: int = 256  # all-MiniLM-L6-v2 was trained with 128 and caps at 256
    batch_size: int = 32
    device: str = "cpu"
    kind: str = field(default="transformers", init=False)
    _model: object = field(default=None, init=False, repr=False)
    _tokenizer: object = field(default=None, init=False, repr=False)

    def _load(self) -> None:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = backbone_path(self.backbone)
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._model = AutoModel.from_pretrained(path).to(self.device).eval()

    def encode(self, texts: list[str]) -> np.ndarray:
        """``(N, D)`` float32, unit rows."""
        if self._model is None:
            self._load()
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self._tokenizer(
                    texts[start : start + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._model(**batch).last_hidden_state.float()
                mask = batch["attention_mask"][..., None].to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=1).cpu())
        if not out:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return torch.cat(out).numpy().astype(np.float32)

    @property
    def dimension(self) -> int:
        if self._model is None:
            self._load()
        return int(self._model.config.hidden_size)


@dataclass
class SentenceTransformerEncoder:
    backbone: str = "minilm"
    batch_size: int = 32
    device: str = "cpu"
    kind: str = field(default="sentence-transformers", init=False)
    _model: object = field(default=None, init=False, repr=False)

    def _load(self) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(backbone_path(self.backbone), device=self.device)

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)

    @property
    def dimension(self) -> int:
        if self._model is None:
            self._load()
        return int(self._model.get_sentence_embedding_dimension())


@lru_cache(maxsize=4)
def load_encoder(kind: str = "transformers", backbone: str = "minilm", device: str = "cpu"):
    """A cached encoder with ``encode(texts) -> (N, D)`` unit rows and ``kind``/``backbone`` fields."""
    if kind == "transformers":
        return MeanPoolingEncoder(backbone=backbone, device=device)
    if kind == "sentence-transformers":
        return SentenceTransformerEncoder(backbone=backbone, device=device)
    raise ValueError(f"unknown encoder kind {kind!r}; choose from {KINDS}")
