"""Explanation metrics: how much attribution sits where it should not, or where a person said it should.

All take ``(N, H, W)`` attribution maps and boolean masks and use absolute attribution.
"""

from __future__ import annotations

import numpy as np


def mass_in_mask(attributions: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per example, the share of absolute attribution that falls inside ``masks`` (0 where none)."""
    a = np.abs(np.asarray(attributions, dtype=np.float64)).reshape(len(attributions), -1)
    m = np.asarray(masks, dtype=bool).reshape(len(masks), -1)
    total = a.sum(axis=1)
    inside = (a * m).sum(axis=1)
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


def wrong_reason_score(attributions: np.ndarray, irrelevant: np.ndarray) -> float:
    """Mean share of attribution on the decoy or irrelevant region (XIL typology's WR); lower is better."""
    if len(attributions) == 0:
        return float("nan")
    return float(mass_in_mask(attributions, irrelevant).mean())


def plausibility(attributions: np.ndarray, relevant: np.ndarray) -> float:
    """Mean IoU between the top-k attributed pixels (k = mask size) and the annotator's relevant mask."""
    scores = []
    for a, m in zip(np.abs(attributions), np.asarray(relevant, dtype=bool), strict=True):
        k = int(m.sum())
        if k == 0:
            continue
        top = np.zeros(a.size, dtype=bool)
        top[np.argsort(a.ravel())[-k:]] = True
        scores.append((top & m.ravel()).sum() / (top | m.ravel()).sum())
    return float(np.mean(scores)) if scores else float("nan")
