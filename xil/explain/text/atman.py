"""AtMan-style attention suppression (Deiseroth et al. 2023): log p(t | x) - log p(t | x, word w
suppressed), per word w, with no backward pass.

Suppressing a word multiplies the (unnormalised) attention every query pays to each of its word
pieces, in every layer and head, by (1 - p), p = 0.9: log(1 - p) is added to the pre-softmax scores of
those key columns through an additive float attention mask of shape (B, 1, 1, T), which transformers'
eager and SDPA attention add to the scores as given (a 4D mask is passed through unchanged). The word's
score is spread evenly over its pieces, so :func:`xil.explain.text.word_scores` gives it back whole.
Whole words, not single pieces: they are what annotators see and mark, and a text has fewer words than
pieces (a 64-piece review: 56 words, 10 % fewer forward passes). The paper instead scales the
pre-softmax score itself by (1 - p), and also suppresses the tokens whose embeddings are cosine-similar
to the word; neither is done here. Positive: the word supports the target class.

The suppressed variants go through the model in batches (64 on the CPU, so one 64-token text is one
pass); the memory needed is that of inference, a fraction of a gradient method's. Needs a model that
accepts a 4D additive attention mask (transformers' BERT-style encoders do).
"""

from __future__ import annotations

import math

import torch

from xil.explain.text.common import chunk_size, content_mask, target_log_probs
from xil.explain.text.explainer import TextExplainer

SUPPRESSION = 0.9


def additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(N, 1, 1, T)``: 0 on tokens, the dtype's minimum on padding (what the 2D mask turns into)."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def text_words(encoded) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, words)``: every (text, word id) pair that has at least one word piece, sorted."""
    content = content_mask(encoded)
    rows = torch.arange(content.shape[0], device=content.device)[:, None].expand_as(content)
    pairs = torch.unique(torch.stack([rows[content], encoded.word_ids[content]], dim=1), dim=0)
    return pairs[:, 0], pairs[:, 1]


def attribute(model, encoded, target, suppression: float = SUPPRESSION, chunk: int | None = None):
    if not 0.0 <= suppression < 1.0:
        raise ValueError(f"suppression must be in [0, 1), got {suppression}")
    rows, words = text_words(encoded)
    word_ids = torch.where(content_mask(encoded), encoded.word_ids, -1)
    scores = torch.zeros(word_ids.shape, dtype=torch.float32, device=word_ids.device)
    if not len(rows):
        return scores  # no words (an empty text)
    dtype = next(model.parameters()).dtype
    bias = additive_mask(encoded.attention_mask, dtype)
    log_keep = math.log1p(-suppression)
    chunk = chunk or chunk_size(encoded.input_ids.device)
    with torch.inference_mode():
        full = target_log_probs(model(input_ids=encoded.input_ids, attention_mask=bias).logits, target)
        suppressed = []
        for start in range(0, len(rows), chunk):
            r, w = rows[start : start + chunk], words[start : start + chunk]
            pieces = word_ids[r] == w[:, None]
            b = bias[r] + (pieces * log_keep).to(dtype)[:, None, None, :]
            suppressed.append(
                target_log_probs(model(input_ids=encoded.input_ids[r], attention_mask=b).logits, target[r])
            )
        drop = full[rows] - torch.cat(suppressed)
        pieces = (word_ids[rows] == words[:, None]).float()
        per_piece = pieces * (drop / pieces.sum(dim=1))[:, None]
        scores = scores.index_add(0, rows, per_piece.float())
    return scores.clone()


EXPLAINER = TextExplainer(
    name="atman",
    title="AtMan (attention suppression)",
    attribute=attribute,
)
