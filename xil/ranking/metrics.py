"""How well a reward model agrees with people (pairwise accuracy, Kendall's tau), and how sure a win rate is
(the Wilson interval)."""

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


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a rate ``successes / n`` (95% with the default ``z``):

        (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n),  p = successes / n

    Unlike p ± z sqrt(p(1-p)/n) it stays inside [0, 1] and is not zero-width at 0 or n successes,
    which matters for the few dozen blind comparisons a team makes. ``successes`` may be fractional (a
    tie counts one half). ``(0, 1)`` when ``n`` is 0: nothing is known."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)
