"""The text adapter: what differs for text projects (MiniLM classifiers, word rationales).

Feedback on a text marks whitespace-separated words by index; the indices live in the feedback
row's payload (``irrelevant_words``, ``relevant_words``). Models are folders (safetensors weights,
config and tokenizer) under the data directory.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from db import ModelVersion
from xil import storage
from xil.data.text import TextDataset
from xil.jobs import JobContext
from xil.models.text import encode, load_classifier
from xil.services.models import insert_version, save_model_folder

EXPLAIN_MAX_LENGTH = 128


def register_text_model(
    project_id: int,
    model,
    tokenizer,
    cfg,
    metrics: dict,
    n_feedback: int = 0,
    parent_id: int | None = None,
    job: JobContext | None = None,
) -> ModelVersion:
    rel, sha = save_model_folder(model.cpu(), tokenizer, "text")
    return insert_version(
        project_id,
        rel,
        sha,
        arch=cfg.backbone,
        method=cfg.method,
        config=cfg.to_dict(),
        metrics=metrics,
        n_feedback=n_feedback,
        parent_id=parent_id,
        job=job,
    )


@functools.lru_cache(maxsize=3)
def _load(rel: str, sha: str):
    return load_classifier(str(storage.absolute(rel)), device="cpu")


def load_text_model(row: ModelVersion):
    """``(model, tokenizer)`` of a text model version, cached."""
    return _load(row.path, row.sha)


def explain_words(row: ModelVersion, ds: TextDataset, idx: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``(one score per word, class probabilities)`` for text ``idx``."""
    from xil.explain.text import explain_text, word_scores

    model, tokenizer = load_text_model(row)
    encoded = encode(tokenizer, [ds.texts[idx]], max_length=EXPLAIN_MAX_LENGTH)
    tokens, probs = explain_text(model, encoded, method)
    scores = word_scores(tokens[0], encoded.word_ids[0], len(ds.words(idx)))
    return scores.numpy().astype(np.float32), probs[0].numpy()


def strategy_scores(row: ModelVersion, ds: TextDataset, strategy: str) -> np.ndarray:
    """Higher first. Suspicious: the largest share of attribution on a single word (a model that
    decides on one word is often using a shortcut); least confident: 1 - max probability."""
    from xil.explain.text import explain_text

    model, tokenizer = load_text_model(row)
    scores = np.zeros(len(ds), dtype=np.float64)
    for start in range(0, len(ds), 32):
        texts = ds.texts[start : start + 32]
        encoded = encode(tokenizer, texts, max_length=EXPLAIN_MAX_LENGTH)
        if strategy == "least_confident":
            with torch.no_grad():
                logits = model(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask).logits
            scores[start : start + len(texts)] = 1 - torch.softmax(logits, 1).max(1).values.numpy()
        else:
            tokens, _ = explain_text(model, encoded, "input_x_gradient")
            share = tokens.abs() / tokens.abs().sum(1, keepdim=True).clamp_min(1e-12)
            scores[start : start + len(texts)] = share.max(1).values.numpy()
    return scores


def predicted_classes(row: ModelVersion, ds: TextDataset) -> np.ndarray:
    """The model's predicted class per text (the queue mixes classes with it)."""
    model, tokenizer = load_text_model(row)
    predicted = np.zeros(len(ds), dtype=np.int64)
    for start in range(0, len(ds), 32):
        texts = ds.texts[start : start + 32]
        encoded = encode(tokenizer, texts, max_length=EXPLAIN_MAX_LENGTH)
        with torch.no_grad():
            logits = model(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask).logits
        predicted[start : start + len(texts)] = logits.argmax(1).numpy()
    return predicted


def word_marks(payload: dict, kind: str) -> list[int]:
    return [int(i) for i in payload.get(f"{kind}_words", [])]


def validate_words(words: list[int] | None, n_words: int, kind: str) -> list[int]:
    marked = sorted({int(i) for i in words or []})
    bad = [i for i in marked if not 0 <= i < n_words]
    if bad:
        raise ValueError(f"{kind} word indices {bad} are outside this text's {n_words} words")
    return marked
