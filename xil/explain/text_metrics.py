"""Explanation metrics for text: how much attribution sits on a shortcut, how well it agrees with a
person's rationale (plausibility), and how much the model's output depends on it (faithfulness).

The first group are pure functions on word- or token-level scores. Rows may be one 2D array or a list
of 1D arrays of different lengths (words per text differ); each returns the mean over the rows it is
defined for (NaN when none). Plausibility ranks by absolute attribution and takes an optional
``valid`` mask per row (for token-level rows: leave out [CLS]/[SEP]/padding).

Faithfulness (ERASER, DeYoung et al. 2020; as in ferret) needs the model: the top-k tokens by signed
attribution (positive = evidence for the target) are *removed* by setting their word embedding to zero,
position and segment embeddings kept, exactly as the occlusion explainer blanks a token. This keeps
the sequence length and works for any tokenizer; dropping tokens through ``attention_mask = 0`` would
also hide them, but from attention only, not from the residual stream of their own position.
k = ceil(fraction x number of word pieces), at least 1; [CLS]/[SEP] are never removed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from xil.explain.text.common import content_mask, removed_log_probs
from xil.models.text import Encoded

FRACTIONS = (0.1, 0.2, 0.5)


def _rows(values) -> list[np.ndarray]:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return [
        np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64).ravel() for v in values
    ]


def _paired(attr, mask, valid=None) -> list[tuple[np.ndarray, np.ndarray]]:
    a_rows, m_rows = _rows(attr), _rows(mask)
    if len(a_rows) != len(m_rows):
        raise ValueError(f"{len(a_rows)} attribution rows but {len(m_rows)} mask rows")
    v_rows = _rows(valid) if valid is not None else [None] * len(a_rows)
    pairs = []
    for a, m, v in zip(a_rows, m_rows, v_rows, strict=True):
        if a.shape != m.shape:
            raise ValueError(f"attribution row of length {a.size} but mask row of length {m.size}")
        keep = np.ones(a.size, dtype=bool) if v is None else v.astype(bool)
        pairs.append((np.abs(a[keep]), m[keep].astype(bool)))
    return pairs


def _mean(scores: list[float]) -> float:
    return float(np.mean(scores)) if scores else float("nan")


def wrong_reason(attr, marked) -> float:
    """Mean share of |attribution| on marked (shortcut / irrelevant) tokens, over the rows with a mark
    and some attribution; lower is better."""
    scores = []
    for a, m in _paired(attr, marked):
        if m.any() and a.sum() > 0:
            scores.append(a[m].sum() / a.sum())
    return _mean(scores)


def _top_k(a: np.ndarray, k: int) -> np.ndarray:
    top = np.zeros(a.size, dtype=bool)
    top[np.argsort(-a, kind="stable")[:k]] = True  # ties: earlier tokens first
    return top


def token_f1(attr, rationale, valid=None) -> float:
    """Mean F1 between the top-k tokens by |attribution| (k = rationale size) and the rationale; with
    k predicted and k true tokens, precision = recall = F1 = overlap / k."""
    scores = []
    for a, m in _paired(attr, rationale, valid):
        k = int(m.sum())
        if k:
            scores.append((_top_k(a, k) & m).sum() / k)
    return _mean(scores)


def iou(attr, rationale, valid=None) -> float:
    """Mean intersection over union of the top-k tokens by |attribution| (k = rationale size) and the
    rationale."""
    scores = []
    for a, m in _paired(attr, rationale, valid):
        k = int(m.sum())
        if k:
            top = _top_k(a, k)
            scores.append((top & m).sum() / (top | m).sum())
    return _mean(scores)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the precision-recall curve as sum_n (R_n - R_{n-1}) P_n over the distinct score
    thresholds, high to low (tied scores enter together; scikit-learn's definition)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    if not labels.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tp = np.cumsum(y)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def auprc(attr, rationale, valid=None) -> float:
    """Mean average precision of the |attribution| ranking against the rationale."""
    return _mean([average_precision(a, m) for a, m in _paired(attr, rationale, valid) if m.any()])


def _top_k_removed(attr: torch.Tensor, content: torch.Tensor, fraction: float) -> torch.Tensor:
    """``(N, T)`` bool: per row, the ceil(fraction x n) content tokens with the largest signed score."""
    scores = torch.where(content, attr.float(), -math.inf)
    n = content.sum(dim=1)
    k = torch.clamp(torch.ceil(n * fraction - 1e-9), min=1).minimum(n).long()
    ranks = torch.argsort(torch.argsort(scores, dim=1, descending=True, stable=True), dim=1)
    return (ranks < k[:, None]) & content


def _faithfulness(model, encoded, attr, target, fractions, keep_top: bool) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    encoded = encoded.to(device)
    attr = torch.as_tensor(attr, device=device)
    fractions = (fractions,) if isinstance(fractions, (int, float)) else tuple(fractions)
    content = content_mask(encoded)
    n = len(encoded)
    rows = torch.arange(n, device=device)
    if target is None:
        with torch.no_grad():
            target = model(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask).logits.argmax(dim=1)
    target = torch.as_tensor(target, dtype=torch.long, device=device).expand(n).contiguous()
    full = removed_log_probs(model, encoded, target, rows, torch.zeros_like(content)).exp()
    removed = []
    for f in fractions:
        top = _top_k_removed(attr, content, f)
        removed.append(content & ~top if keep_top else top)
    p = removed_log_probs(model, encoded, target, rows.repeat(len(fractions)), torch.cat(removed)).exp()
    drop = full.repeat(len(fractions)) - p
    return drop.view(len(fractions), n).mean(dim=0).cpu().numpy()


def comprehensiveness(
    model: nn.Module,
    encoded: Encoded,
    attr: torch.Tensor,
    target: torch.Tensor | None = None,
    fractions: float | Sequence[float] = FRACTIONS,
) -> np.ndarray:
    """Per text, p(t | x) - p(t | x without its top-k tokens), averaged over ``fractions``; higher means
    the attribution found tokens the prediction needs. Target defaults to the prediction."""
    return _faithfulness(model, encoded, attr, target, fractions, keep_top=False)


def sufficiency(
    model: nn.Module,
    encoded: Encoded,
    attr: torch.Tensor,
    target: torch.Tensor | None = None,
    fractions: float | Sequence[float] = FRACTIONS,
) -> np.ndarray:
    """Per text, p(t | x) - p(t | only its top-k tokens kept), averaged over ``fractions``; lower means
    the top tokens alone carry the prediction."""
    return _faithfulness(model, encoded, attr, target, fractions, keep_top=True)
