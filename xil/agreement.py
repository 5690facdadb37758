"""How far annotators agree with each other: pure functions over plain lists and arrays.

The common shape is *units x annotators*: one inner sequence per unit (an example, a word, a prompt),
one entry per annotator, ``None`` where that annotator gave no value. Only units with two or more
values carry information about agreement; the others are left out. Every measure returns ``None``
where it is undefined (nothing to compare), never a made-up 0 or 1.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from datetime import datetime
from itertools import combinations

import numpy as np

ACTIVE_GAP_CAP_S = 300.0  # a pause longer than five minutes is a break, not annotating
WORD_CODES = {"none": 0, "irrelevant": 1, "relevant": 2, "both": 3}


def _paired(units: Sequence[Sequence]) -> list[list]:
    """The units with two or more values, each as the list of its values."""
    kept = [[v for v in unit if v is not None] for unit in units]
    return [values for values in kept if len(values) >= 2]


def nominal_alpha(units: Sequence[Sequence[Hashable | None]]) -> float | None:
    """Krippendorff's alpha for nominal values (the ``krippendorff`` package computes it):

        alpha = 1 - D_o / D_e = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k

    with the coincidence matrix ``o_ck = sum_u (number of ordered c-k pairs of values in unit u) / (m_u - 1)``
    (``m_u`` values in unit u), ``n_c = sum_k o_ck`` and ``n = sum_c n_c`` the pairable values.
    1 = perfect agreement, 0 = what chance gives, below 0 = systematic disagreement.

    ``None`` when it is undefined: fewer than two units with two or more values (one unit says
    nothing about how the values spread, so ``D_e`` measures nothing), or a single value among all
    pairable ones (``D_e = 0``: alpha is 0/0 — everyone agrees, but on a scale with nothing to get
    wrong, so it is not reported as 1)."""
    import krippendorff

    paired = _paired(units)
    if len(paired) < 2:
        return None
    domain = sorted({v for values in paired for v in values}, key=repr)
    if len(domain) < 2:
        return None
    code = {v: i for i, v in enumerate(domain)}
    width = max(len(values) for values in paired)
    data = np.full((width, len(paired)), np.nan)  # the package wants annotators x units
    for u, values in enumerate(paired):
        data[: len(values), u] = [code[v] for v in values]
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def iou(a: np.ndarray, b: np.ndarray) -> float | None:
    """Intersection over union ``|A & B| / |A | B|`` of two boolean masks; ``None`` when both are empty."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    union = int(np.logical_or(a, b).sum())
    return None if union == 0 else int(np.logical_and(a, b).sum()) / union


def mean_pairwise_iou(units: Sequence[Sequence[np.ndarray | None]]) -> float | None:
    """Mean IoU over every pair of masks on the same unit, pooled over all units:

        mean over pairs (i, j) of annotators of unit u of |M_i & M_j| / |M_i | M_j|

    An empty mask (the annotator marked nothing) takes part: against a marked mask its IoU is 0.
    A pair of two empty masks is skipped, not counted as 1.0: neither annotator said *where*, so the
    pair says nothing about agreement on regions, and counting it 1 would make every project full of
    "right reason" verdicts look like perfect agreement. ``None`` when no pair is left."""
    scores = [s for masks in _paired(units) for a, b in combinations(masks, 2) if (s := iou(a, b)) is not None]
    return float(np.mean(scores)) if scores else None


def word_codes(n_words: int, irrelevant: Sequence[int], relevant: Sequence[int]) -> list[int]:
    """One nominal value per word of a text: 0 unmarked, 1 irrelevant, 2 relevant, 3 both."""
    irrelevant, relevant = set(irrelevant), set(relevant)
    return [int(i in irrelevant) + 2 * int(i in relevant) for i in range(n_words)]


def word_mark_alpha(texts: Sequence[Sequence[Sequence[int] | None]]) -> float | None:
    """Krippendorff's alpha (nominal, :func:`nominal_alpha`) over per-word marks: each word of each
    text is one unit, each annotator's value the word's mark (:func:`word_codes`); ``texts`` holds per
    text one code list per annotator (``None``: that annotator did not judge the text). Texts where
    nobody marked a word take part: every word of them is an agreement on "not marked"."""
    units: list[list[int | None]] = []
    for annotators in texts:
        present = [codes for codes in annotators if codes is not None]
        if len(present) < 2:
            continue
        n_words = len(present[0])
        if any(len(codes) != n_words for codes in present):
            raise ValueError("every annotator's word codes of a text must have one code per word")
        units.extend([list(column) for column in zip(*present, strict=True)])
    return nominal_alpha(units)


def token_f1(a: Sequence[int], b: Sequence[int]) -> float | None:
    """F1 between two sets of marked words, taking either as the reference (it is symmetric):

        F1 = 2 |A & B| / (|A| + |B|)

    ``None`` when both are empty."""
    a, b = set(a), set(b)
    return None if not a and not b else 2 * len(a & b) / (len(a) + len(b))


def mean_pairwise_token_f1(units: Sequence[Sequence[Sequence[int] | None]]) -> float | None:
    """Mean :func:`token_f1` over every pair of annotators' marked words on the same text, pooled over
    texts; pairs where neither marked a word are skipped (as in :func:`mean_pairwise_iou`)."""
    scores = [s for marks in _paired(units) for a, b in combinations(marks, 2) if (s := token_f1(a, b)) is not None]
    return float(np.mean(scores)) if scores else None


def mid_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n of ``values`` (smaller value = smaller rank); tied values share their mean rank."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[order[j + 1]] == values[order[i]]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def common_ranks(rankings: Sequence[Sequence[float | None]]) -> list[list[float]]:
    """The rankings (1 = best, equal numbers tie, ``None`` unranked) restricted to the items every one
    of them ranked; a ranking with no ranked item is left out. Kendall's W needs complete rankings."""
    kept = [r for r in rankings if r is not None and any(v is not None for v in r)]
    if not kept:
        return []
    items = [i for i in range(len(kept[0])) if all(r[i] is not None for r in kept)]
    return [[float(r[i]) for i in items] for r in kept]


def kendall_w(rankings: Sequence[Sequence[float]]) -> float | None:
    """Kendall's coefficient of concordance W of m rankings of the same n items, ties corrected:

        W = 12 S / (m^2 (n^3 - n) - m sum_j T_j),   S = sum_i (R_i - m (n + 1) / 2)^2

    where ``R_i`` is item i's sum of (mid-)ranks over the m rankings and ``T_j = sum_g (t_g^3 - t_g)``
    over the groups of t_g tied items in ranking j. 1 = all rankings the same, 0 = no agreement.
    ``None`` when fewer than two rankings or two items, or when every ranking ties all its items
    (the denominator is 0)."""
    m = len(rankings)
    if m < 2:
        return None
    n = len(rankings[0])
    if n < 2:
        return None
    ranks = np.stack([mid_ranks(r) for r in rankings])
    totals = ranks.sum(axis=0)
    s = float(((totals - m * (n + 1) / 2) ** 2).sum())
    ties = sum(t**3 - t for r in rankings for t in Counter(r).values())
    denominator = m**2 * (n**3 - n) - m * ties
    return None if denominator <= 0 else 12 * s / denominator


def mean_pairwise_tau(rankings: Sequence[Sequence[float]]) -> float | None:
    """Mean Kendall tau-b (:func:`xil.ranking.metrics.kendall_tau`) over every pair of rankings
    (1 = best) of the same items; pairs where it is undefined (a ranking ties everything) are skipped."""
    from xil.ranking.metrics import kendall_tau

    taus = [kendall_tau([-v for v in a], [-v for v in b]) for a, b in combinations(rankings, 2)]
    taus = [t for t in taus if not math.isnan(t)]
    return float(np.mean(taus)) if taus else None


def majority(values: Sequence[Hashable]) -> Hashable | None:
    """The value most of ``values`` have; ``None`` when none or when two or more share the top count."""
    top = Counter(values).most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def annotator_agreement(units: Sequence[Sequence[Hashable | None]]) -> list[dict[str, float | None]]:
    """Per annotator (column j of ``units``), two shares over the units where j and at least one other
    annotator gave a value:

        with_others    = share of those units where j's value equals the majority of the others' values
        with_consensus = share where j's value equals the majority vote of everyone (j included)

    A unit whose majority is a tie is left out of that share (there is no majority to agree with).
    ``None`` where no unit is left. Also ``units``: how many units j shares with someone."""
    width = max((len(u) for u in units), default=0)
    result = []
    for j in range(width):
        others_hits = others_n = consensus_hits = consensus_n = shared = 0
        for unit in units:
            mine = unit[j] if j < len(unit) else None
            others = [v for k, v in enumerate(unit) if k != j and v is not None]
            if mine is None or not others:
                continue
            shared += 1
            if (top := majority(others)) is not None:
                others_n += 1
                others_hits += mine == top
            if (top := majority([mine, *others])) is not None:
                consensus_n += 1
                consensus_hits += mine == top
        result.append(
            {
                "units": shared,
                "with_others": others_hits / others_n if others_n else None,
                "with_consensus": consensus_hits / consensus_n if consensus_n else None,
            }
        )
    return result


def ranking_agreement(prompts: Sequence[Sequence[Sequence[float | None] | None]]) -> list[dict[str, float | None]]:
    """Per annotator (column j), over the prompts j and at least one other ranked (on the items all of
    them ranked, :func:`common_ranks`):

        with_others    = mean Kendall tau-b between j's ranking and each other's
        with_consensus = mean tau-b between j's ranking and the consensus: the items ordered by their
                         mean rank over everyone (j included)

    Undefined taus are skipped; ``None`` where none is left."""
    from xil.ranking.metrics import kendall_tau

    width = max((len(p) for p in prompts), default=0)
    others: list[list[float]] = [[] for _ in range(width)]
    consensus: list[list[float]] = [[] for _ in range(width)]
    shared = [0] * width
    for prompt in prompts:
        present = [j for j, r in enumerate(prompt) if r is not None and any(v is not None for v in r)]
        if len(present) < 2:
            continue
        ranks = common_ranks([prompt[j] for j in present])
        if len(ranks[0]) < 2:
            continue
        mean_rank = np.mean(ranks, axis=0)
        for k, j in enumerate(present):
            shared[j] += 1
            mine = [-v for v in ranks[k]]
            for other in (r for i, r in enumerate(ranks) if i != k):
                others[j].append(kendall_tau(mine, [-v for v in other]))
            consensus[j].append(kendall_tau(mine, [-float(v) for v in mean_rank]))

    def mean(taus: list[float]) -> float | None:
        taus = [t for t in taus if not math.isnan(t)]
        return float(np.mean(taus)) if taus else None

    return [
        {"units": shared[j], "with_others": mean(others[j]), "with_consensus": mean(consensus[j])} for j in range(width)
    ]


def active_seconds(times: Sequence[datetime], cap_s: float = ACTIVE_GAP_CAP_S) -> float:
    """Active annotating time from the moments of one annotator's saves:

        active = sum over consecutive saves (sorted) of min(t_{k+1} - t_k, cap)

    A gap over ``cap_s`` (five minutes) is a break, counted as ``cap_s`` (the annotator was likely
    working for a while before the break ended with a save). The time before the first save is unknown
    and not counted, so one save gives 0."""
    ordered = sorted(times)
    return float(sum(min((b - a).total_seconds(), cap_s) for a, b in zip(ordered, ordered[1:], strict=False)))


def per_hour(n: int, times: Sequence[datetime], cap_s: float = ACTIVE_GAP_CAP_S) -> float | None:
    """Judgements per hour of active time: ``n * 3600 / active_seconds(times)``; ``None`` when no
    active time is known (fewer than two saves, or all at the same instant)."""
    seconds = active_seconds(times, cap_s)
    return None if seconds <= 0 else n * 3600.0 / seconds
