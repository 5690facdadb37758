"""How well a reward model agrees with people: pairwise accuracy and Kendall's tau."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from xil.ranking.scoring import score_groups


def pairwise_accuracy(
    model: nn.Module, tokenizer, groups: Sequence[dict], max_length: int = 256, batch_size: int = 32
) -> float:
    """Share of the stated pairs with ``r(chosen) > r(rejected)``, over all pairs of all groups
    (``{prompt, candidates, pairs}``); an exact tie counts one half. 0.5 is chance."""
    scores = score_groups(model, tokenizer, groups, max_length, batch_size)
    hits = total = 0.0
    for group, s in zip(groups, scores, strict=True):
        for i, j in group["pairs"]:
            hits += 1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0
            total += 1
    if total == 0:
        raise ValueError("no pairs to evaluate")
    return hits / total


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b between two scorings of the same items, both "larger = better"
    (pass ``[-r for r in ranks]`` for ranks where 1 = best):

        tau_b = (concordant - discordant) / sqrt((n0 - ties_a) (n0 - ties_b)),  n0 = n (n - 1) / 2

    Ties count in neither concordant nor discordant and shrink the denominator; 1 = same order,
    -1 = reversed. NaN when it is undefined: fewer than two items, or one side all tied.
    """
    from scipy.stats import kendalltau

    if len(a) != len(b):
        raise ValueError(f"kendall_tau needs two sequences of the same length, got {len(a)} and {len(b)}")
    if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return math.nan
    return float(kendalltau(a, b, variant="b").statistic)
