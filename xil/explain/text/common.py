"""What the text explainers share: which tokens carry words, the target log-probability, and the
"removed token" forward pass (the word embedding set to zero) used by occlusion and faithfulness."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from xil.models.text import Encoded


def chunk_size(device: torch.device) -> int:
    """Perturbed variants per forward pass: all of a 64-token text's on the CPU. Smaller batches need no
    less time per variant with one thread and were up to twice as slow with two (more parallel
    regions); activations cost about 1.2 MB per 64-token variant (MiniLM-L6)."""
    return 64 if device.type == "cpu" else 256


def content_mask(encoded: Encoded) -> Tensor:
    """``(N, T)`` bool: tokens that belong to a word (not [CLS]/[SEP]/padding)."""
    return encoded.word_ids >= 0


def pad_token_id(model: nn.Module) -> int:
    pad = getattr(model.config, "pad_token_id", None)
    return 0 if pad is None else int(pad)


def target_log_probs(logits: Tensor, target: Tensor) -> Tensor:
    return torch.log_softmax(logits.float(), dim=-1).gather(1, target[:, None]).squeeze(1)


def removed_log_probs(
    model: nn.Module, encoded: Encoded, target: Tensor, rows: Tensor, removed: Tensor, chunk: int | None = None
) -> Tensor:
    """``log p(target | x)`` for the variants ``encoded[rows]`` with the word embeddings where ``removed``
    (``(len(rows), T)`` bool) is true set to zero; position and segment embeddings stay, so the sequence
    keeps its length and a removed token is "a word, blank" rather than absent."""
    embed = model.get_input_embeddings()
    chunk = chunk or chunk_size(encoded.input_ids.device)
    out = []
    with torch.inference_mode():
        for start in range(0, len(rows), chunk):
            r, gone = rows[start : start + chunk], removed[start : start + chunk]
            embeds = embed(encoded.input_ids[r]).masked_fill(gone[..., None], 0.0)
            logits = model(inputs_embeds=embeds, attention_mask=encoded.attention_mask[r]).logits
            out.append(target_log_probs(logits, target[r]))
    return torch.cat(out).clone() if out else torch.zeros(0)
