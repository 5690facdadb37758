"""Reward-model inputs: one (prompt, response) pair per row, in the tokenizer's pair encoding.

For a BERT tokenizer a row is ``[CLS] prompt [SEP] response [SEP]`` with token type 0 for the prompt
and 1 for the response, so the model sees where the answer starts (the plain concatenation
``prompt + "\\n\\n" + response`` loses that: BERT's tokenizer drops newlines). Texts are split into
whitespace words first, so every token knows its word (for explanations).

Truncation, when prompt and response do not fit in ``max_length``: the response keeps its start, the
prompt keeps its end (in a dialogue the last turn matters most), and the prompt keeps at least a
quarter of the room or all of itself if shorter. Truncation is by whole words.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

PROMPT, RESPONSE = 0, 1


@dataclass
class RewardInputs:
    """Padded rows (to the longest) and, per token, its word and sequence (-1: special or padding)."""

    input_ids: Tensor
    attention_mask: Tensor
    token_type_ids: Tensor | None
    word_ids: Tensor  # index of the whitespace word in its own text (the prompt's or the response's)
    sequence_ids: Tensor  # PROMPT, RESPONSE or -1
    lengths: Tensor  # tokens per row

    def __len__(self) -> int:
        return len(self.input_ids)

    def rows(self, idx: Tensor) -> RewardInputs:
        """The rows ``idx``, cut to the longest of them (dynamic padding)."""
        width = int(self.lengths[idx].max())
        tt = None if self.token_type_ids is None else self.token_type_ids[idx, :width]
        return RewardInputs(
            self.input_ids[idx, :width],
            self.attention_mask[idx, :width],
            tt,
            self.word_ids[idx, :width],
            self.sequence_ids[idx, :width],
            self.lengths[idx],
        )

    def model_inputs(self, device) -> dict[str, Tensor]:
        out = {"input_ids": self.input_ids.to(device), "attention_mask": self.attention_mask.to(device)}
        if self.token_type_ids is not None:
            out["token_type_ids"] = self.token_type_ids.to(device)
        return out


def _token_counts(tokenizer, texts: list[str]) -> list[list[int]]:
    """Word pieces per whitespace word of each text."""
    words = [t.split() for t in texts]
    if not texts:
        return []
    enc = tokenizer(words, is_split_into_words=True, add_special_tokens=False, verbose=False)  # no length warning
    counts = []
    for i, ws in enumerate(words):
        row = [0] * len(ws)
        for w in enc.word_ids(i):
            if w is not None:
                row[w] += 1
        counts.append(row)
    return counts


def _fit(prompt_counts: list[int], response_counts: list[int], budget: int) -> tuple[int, int]:
    """``(first prompt word kept, words of the response kept)`` so that the kept pieces fit ``budget``."""
    total_p, total_r = sum(prompt_counts), sum(response_counts)
    if total_p + total_r <= budget:
        return 0, len(response_counts)
    room = budget - min(total_p, budget // 4)
    used = r_end = 0
    for c in response_counts:
        if used + c > room:
            break
        used, r_end = used + c, r_end + 1
    room, kept, p_start = budget - used, 0, len(prompt_counts)
    for c in reversed(prompt_counts):
        if kept + c > room:
            break
        kept, p_start = kept + c, p_start - 1
    return p_start, r_end


def encode_candidates(tokenizer, prompts: list[str], responses: list[str], max_length: int = 256) -> RewardInputs:
    """Encode ``(prompts[i], responses[i])`` rows; see the module docstring for the layout."""
    if len(prompts) != len(responses):
        raise ValueError("prompts and responses must have the same length")
    unique = list(dict.fromkeys(prompts))  # a prompt with K candidates is counted once
    p_counts = dict(zip(unique, _token_counts(tokenizer, unique), strict=True))
    r_counts = _token_counts(tokenizer, list(responses))
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    firsts, p_words, r_words = [], [], []
    for prompt, response, rc in zip(prompts, responses, r_counts, strict=True):
        p_start, r_end = _fit(p_counts[prompt], rc, budget)
        firsts.append(p_start)
        p_words.append(prompt.split()[p_start:])
        r_words.append(response.split()[:r_end])
    enc = tokenizer(
        p_words, r_words, is_split_into_words=True, truncation=True, max_length=max_length
    )  # truncation here is only a safety net for a single word longer than the room
    n = len(prompts)
    width = max((len(ids) for ids in enc["input_ids"]), default=0)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((n, width), pad, dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    word_ids = torch.full((n, width), -1, dtype=torch.long)
    seq_ids = torch.full((n, width), -1, dtype=torch.long)
    has_types = "token_type_ids" in enc
    types = torch.zeros((n, width), dtype=torch.long) if has_types else None
    for i, ids in enumerate(enc["input_ids"]):
        length = len(ids)
        input_ids[i, :length] = torch.tensor(ids)
        attention[i, :length] = 1
        if has_types:
            types[i, :length] = torch.tensor(enc["token_type_ids"][i])
        for t, (w, s) in enumerate(zip(enc.word_ids(i), enc.sequence_ids(i), strict=True)):
            if w is not None and s is not None:
                word_ids[i, t] = w + firsts[i] if s == PROMPT else w
                seq_ids[i, t] = s
    return RewardInputs(input_ids, attention, types, word_ids, seq_ids, attention.sum(dim=1))
