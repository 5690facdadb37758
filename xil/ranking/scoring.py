"""Scalar rewards ``r(prompt, response)``: the single logit of the reward model's head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xil.precision import autocast
from xil.ranking.inputs import RewardInputs, encode_candidates


def rewards(model: nn.Module, inputs: RewardInputs, device) -> Tensor:
    """``(N,)`` float32 rewards of a batch, with gradients if enabled."""
    with autocast(device):
        logits = model(**inputs.model_inputs(device)).logits
    return logits[:, 0].float()


def score_inputs(model: nn.Module, inputs: RewardInputs, batch_size: int = 32) -> Tensor:
    """Rewards of every row, longest rows first in batches cut to their longest row; CPU float32."""
    device = next(model.parameters()).device
    model.eval()
    out = torch.zeros(len(inputs))
    order = torch.argsort(inputs.lengths, descending=True)
    with torch.inference_mode():
        for idx in order.split(batch_size):
            out[idx] = rewards(model, inputs.rows(idx), device).cpu()
    return out


def score_groups(
    model: nn.Module, tokenizer, groups: Sequence[dict], max_length: int = 256, batch_size: int = 32
) -> list[list[float]]:
    """Rewards of each group's candidates (groups are dicts with ``prompt`` and ``candidates``)."""
    prompts = [g["prompt"] for g in groups for _ in g["candidates"]]
    responses = [c for g in groups for c in g["candidates"]]
    if not responses:
        return [[] for _ in groups]
    flat = score_inputs(model, encode_candidates(tokenizer, prompts, responses, max_length), batch_size).tolist()
    out, start = [], 0
    for g in groups:
        out.append(flat[start : start + len(g["candidates"])])
        start += len(g["candidates"])
    return out


def score(model: nn.Module, tokenizer, prompt: str, candidates: list[str], max_length: int = 256) -> list[float]:
    """One reward per candidate; larger = preferred. Rewards are only comparable for the same prompt
    (Bradley-Terry fixes differences, not levels)."""
    return score_groups(model, tokenizer, [{"prompt": prompt, "candidates": candidates}], max_length)[0]
