"""Why does the reward model prefer one answer? Input x Gradient of the reward margin.

With ``m = r(prompt, chosen) - r(prompt, rejected)`` and ``e`` a token's word embedding, a token's
score is ``sum_h e_h * dm/de_h`` (Input x Gradient, Shrikumar et al.), summed into whitespace words.
Positive = the word pushes the preference towards the chosen answer. Chosen words get their score from
the chosen pass (evidence for it), rejected words from the rejected pass with the sign of ``-r``
(positive = makes the rejected answer look worse), prompt words the sum over both passes (how the
prompt's word changes the margin). One forward and one backward pass over the two rows.
"""

from __future__ import annotations

import torch
from torch import nn

from xil.explain.text.gradients import input_x_gradient
from xil.models.text import tokens_to_words
from xil.precision import autocast
from xil.ranking.inputs import PROMPT, RESPONSE, encode_candidates

SIDES = ("chosen", "rejected", "prompt")


def reward_margin(logits: torch.Tensor) -> torch.Tensor:
    """``r(chosen) - r(rejected)`` from the rewards of the two rows."""
    r = logits[:, 0].float()
    return r[0] - r[1]


def preference_attributions(
    model: nn.Module, tokenizer, prompt: str, chosen: str, rejected: str, max_length: int = 256
) -> dict:
    """``{"margin": m, "chosen": [(word, score)], "rejected": [...], "prompt": [...]}``; words cut off by
    truncation are listed with score 0."""
    device = next(model.parameters()).device
    model.eval()
    enc = encode_candidates(tokenizer, [prompt, prompt], [chosen, rejected], max_length)
    inputs = enc.model_inputs(device)
    input_ids = inputs.pop("input_ids")
    with torch.no_grad():
        embeds = model.get_input_embeddings()(input_ids).float()
    with autocast(device):
        logits, tokens = input_x_gradient(model, input_ids, reward_margin, embeddings=embeds, **inputs)
    margin = reward_margin(logits.detach())
    tokens = tokens.float().cpu()  # (2, T)

    def words(text: str, row: int, seq: int) -> torch.Tensor:
        n = len(text.split())
        ids = torch.where(enc.sequence_ids[row] == seq, enc.word_ids[row], -1)
        return tokens_to_words(tokens[row], ids, n)

    prompt_scores = words(prompt, 0, PROMPT) + words(prompt, 1, PROMPT)
    out = {"margin": float(margin.detach())}
    for side, text, scores in (
        ("chosen", chosen, words(chosen, 0, RESPONSE)),
        ("rejected", rejected, words(rejected, 1, RESPONSE)),
        ("prompt", prompt, prompt_scores),
    ):
        out[side] = list(zip(text.split(), scores.tolist(), strict=True))
    return out


def explain_preference(
    model: nn.Module,
    tokenizer,
    prompt: str,
    chosen: str,
    rejected: str,
    side: str = "chosen",
    max_length: int = 256,
) -> list[tuple[str, float]]:
    """``(word, score)`` for the words of one side (``chosen``, ``rejected`` or ``prompt``): how much each
    word moves ``r(chosen) - r(rejected)``; see the module docstring for the signs."""
    if side not in SIDES:
        raise ValueError(f"unknown side {side!r}; choose from {SIDES}")
    return preference_attributions(model, tokenizer, prompt, chosen, rejected, max_length)[side]
