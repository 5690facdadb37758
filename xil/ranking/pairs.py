"""Preference pairs from an annotator's ranking of K candidate outputs for one prompt.

A ranking of K candidates gives C(K, 2) ordered pairs (InstructGPT); ties and unranked candidates
give fewer. Pairs are ``(chosen_index, rejected_index)`` into the candidate list.
"""

from __future__ import annotations

from collections.abc import Sequence


def _check_ranks(candidates: Sequence[str], ranks: Sequence[int | None]) -> None:
    if len(ranks) != len(candidates):
        raise ValueError(f"{len(ranks)} ranks for {len(candidates)} candidates")
    for i, rank in enumerate(ranks):
        if rank is None:
            continue
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank of candidate {i} must be a positive integer or None, got {rank!r}")


def pairs_from_ranking(candidates: list[str], ranks: list[int | None], all_bad: bool = False) -> list[tuple[int, int]]:
    """Every strictly ordered pair of a ranking, as ``(chosen_index, rejected_index)``.

    ``ranks[i]`` is candidate i's rank: 1 = best, larger = worse, gaps allowed (1, 3, 3, 7 is fine).
    Equal ranks are ties: no pair between them. ``None`` = unranked: the candidate is in no pair.
    A candidate whose text equals another's is in no pair with that one either (a pair of identical
    texts teaches nothing and contradicts itself when both orders occur). With all K ranked and no
    ties the result has C(K, 2) = K (K - 1) / 2 pairs, in the order of the index pairs (i, j), i < j.

    ``all_bad=True`` means the annotator judged every candidate unacceptable: the order among bad
    answers is not a preference anyone stated, so no pairs come from the ranking (the ranks are ignored
    and may all be None). The candidates are still stored by the caller; if the annotator also wrote a
    corrected answer, :func:`pairs_with_correction` turns it into K pairs "correction beats each
    candidate" (and the correction can go to the RiT revision index as well).
    """
    _check_ranks(candidates, ranks)
    if all_bad:
        return []
    pairs: list[tuple[int, int]] = []
    for i in range(len(candidates)):
        for j in range(i + 1, len(candidates)):
            ri, rj = ranks[i], ranks[j]
            if ri is None or rj is None or ri == rj or candidates[i] == candidates[j]:
                continue
            pairs.append((i, j) if ri < rj else (j, i))
    return pairs


def pairs_with_correction(candidates: list[str], correction: str) -> tuple[list[str], list[tuple[int, int]]]:
    """``(candidates + [correction], [(K, i) for each candidate i])``: an annotator's edited answer is
    preferred to every candidate (identical texts excepted). Used for the "all bad" case."""
    correction = correction.strip()
    if not correction:
        raise ValueError("the correction is empty")
    k = len(candidates)
    return [*candidates, correction], [(k, i) for i, text in enumerate(candidates) if text != correction]
