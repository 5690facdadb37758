"""Prompt-grouped batches (InstructGPT): all pairs of a prompt go into the same batch, and each of its
K candidates is forwarded once; the C(K, 2) pair losses are then read off those K scores. This is
K forward passes per prompt instead of 2 C(K, 2), and a prompt's pairs, which share their texts, cannot
be split across steps (InstructGPT found that shuffled pairs overfit).

Batches are drawn like the text classifier's (:func:`xil.train.optim.length_bucketed_batches`):
groups shuffled, sorted by length within buckets of batches (little padding), then the batches shuffled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from xil.ranking.inputs import RewardInputs, encode_candidates
from xil.train.optim import length_bucketed_batches


def check_groups(groups: Sequence[dict]) -> None:
    """Raise ValueError naming the first malformed group: {prompt, candidates, pairs}."""
    for g, group in enumerate(groups):
        for key in ("prompt", "candidates", "pairs"):
            if key not in group:
                raise ValueError(f"group {g} has no {key!r}")
        k = len(group["candidates"])
        for pair in group["pairs"]:
            i, j = pair
            if not (0 <= i < k and 0 <= j < k) or i == j:
                raise ValueError(f"group {g}: pair {tuple(pair)} is not two different candidates of {k}")


@dataclass
class EncodedGroups:
    """Every candidate of every group as one row of ``inputs``; group g owns rows ``starts[g]`` to
    ``starts[g] + sizes[g]``; ``pairs[g]`` are its (chosen, rejected) indices into its candidates."""

    inputs: RewardInputs
    starts: list[int]
    sizes: list[int]
    pairs: list[list[tuple[int, int]]]

    def group_lengths(self) -> Tensor:
        """Longest row per group."""
        return torch.stack([self.inputs.lengths[s : s + n].max() for s, n in zip(self.starts, self.sizes, strict=True)])


def encode_groups(tokenizer, groups: Sequence[dict], max_length: int) -> EncodedGroups:
    prompts, responses, starts, sizes = [], [], [], []
    for group in groups:
        starts.append(len(prompts))
        sizes.append(len(group["candidates"]))
        prompts += [group["prompt"]] * len(group["candidates"])
        responses += list(group["candidates"])
    pairs = [[(int(i), int(j)) for i, j in group.get("pairs", [])] for group in groups]
    return EncodedGroups(encode_candidates(tokenizer, prompts, responses, max_length), starts, sizes, pairs)


@dataclass
class PromptBatch:
    """One step: ``rows`` of the encoded table to forward, and per pair the positions of its chosen and
    rejected candidate among those rows, with weight ``1 / (pairs of its prompt)``."""

    groups: list[int]
    rows: Tensor
    chosen: Tensor
    rejected: Tensor
    weight: Tensor


def collate(table: EncodedGroups, groups: Sequence[int]) -> PromptBatch:
    rows, chosen, rejected, weight = [], [], [], []
    for g in groups:
        offset = len(rows)
        rows += range(table.starts[g], table.starts[g] + table.sizes[g])
        for i, j in table.pairs[g]:
            chosen.append(offset + i)
            rejected.append(offset + j)
            weight.append(1.0 / len(table.pairs[g]))
    return PromptBatch(
        list(groups),
        torch.tensor(rows, dtype=torch.long),
        torch.tensor(chosen, dtype=torch.long),
        torch.tensor(rejected, dtype=torch.long),
        torch.tensor(weight, dtype=torch.float32),
    )


def prompt_batches(
    table: EncodedGroups,
    batch_prompts: int,
    generator: torch.Generator,
    share: Callable[[Tensor], Tensor] | None = None,
) -> list[PromptBatch | None]:
    """Shuffled, length-bucketed batches of ``batch_prompts`` groups; groups without pairs are left out.
    With ``share`` (one of several training processes) each batch is this process's share of it, None
    where that is empty."""
    usable = torch.tensor([g for g, p in enumerate(table.pairs) if p], dtype=torch.long)
    if len(usable) == 0:
        return []
    batches = length_bucketed_batches(table.group_lengths()[usable], batch_prompts, generator)
    if share is not None:
        batches = [share(b) for b in batches]
    return [collate(table, usable[b].tolist()) if len(b) else None for b in batches]
