"""Right for the Right Reasons on tokens (Ross et al. 2017), with the gradient taken with respect to
the word embeddings e_t (a token id has no gradient; its embedding vector has):

    g_nt = d/de_nt sum_k log p(k | x_n)

    raw:         penalty_n = sum_{t in A_n} ||g_nt||^2
    normalised:  penalty_n = sum_{t in A_n} ||g_nt||^2 / sum_{t in W_n} ||g_nt||^2

where ``A_n`` are the tokens of the words marked irrelevant and ``W_n`` all word tokens of the text
(no special tokens, no padding). ``terms`` uses VARIANT.

CHOICE: see VARIANT below and the measurements quoted there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from xil.feedback.text.attributions import embedding_gradients, full_precision, word_tokens

NAME = "rrr"
TITLE = "RRR (embedding gradients)"
LAMBDA_SCALE = 1.0
MASK = "irrelevant"
VARIANT = "normalised"
EPS = 1e-20


def penalty(grad: Tensor, mask: Tensor, words: Tensor, variant: str | None = None) -> Tensor:
    """Per-example penalty from embedding gradients ``(N, T, H)``, the irrelevant token mask and the
    word-token mask ``(N, T)``; ``variant`` None: VARIANT."""
    variant = variant or VARIANT
    energy = full_precision(grad).pow(2).sum(dim=2)  # ||g_nt||^2, (N, T)
    marked = (mask * energy).sum(dim=1)
    if variant in ("raw", "path"):
        return marked
    if variant in ("normalised", "path_normalised"):
        return marked / ((words * energy).sum(dim=1) + EPS)
    raise ValueError(f"unknown RRR variant {variant!r}; choose raw or normalised")


def terms(model, batch, y, token_mask, variant: str | None = None):
    variant = variant or VARIANT
    if variant == "difference":
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        embeddings = model.get_input_embeddings()(batch.input_ids)
        removed = embeddings * (1 - token_mask[..., None].to(embeddings.dtype))
        other = model(inputs_embeds=removed, attention_mask=batch.attention_mask).logits
        gap = F.log_softmax(full_precision(logits), dim=1) - F.log_softmax(full_precision(other), dim=1)
        return logits, gap.pow(2).sum(dim=1) * token_mask.any(dim=1).to(gap.dtype)
    if variant.startswith("path"):
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        embeddings = model.get_input_embeddings()(batch.input_ids)
        alpha = torch.rand(len(embeddings), 1, 1, device=embeddings.device, dtype=embeddings.dtype)
        marked = token_mask[..., None].to(embeddings.dtype)
        path = embeddings * (1 - marked) + marked * alpha * embeddings  # marked tokens on the way to 0
        if not path.requires_grad:
            path.requires_grad_(True)
        _, _, grad = embedding_gradients(model, batch, embeddings=path)
    else:
        logits, _, grad = embedding_gradients(model, batch)
    return logits, penalty(grad, token_mask, word_tokens(batch), variant)
