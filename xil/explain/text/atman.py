"""AtMan-style attention suppression (Deiseroth et al. 2023): log p(t | x) - log p(t | x, token i
suppressed), per token i, with no backward pass.

Suppressing token i multiplies the (unnormalised) attention every query pays to key i, in every layer
and head, by (1 - p), p = 0.9: log(1 - p) is added to the pre-softmax scores of key column i through
an additive float attention mask of shape (B, 1, 1, T), which transformers' eager and SDPA attention
add to the scores as given (a 4D mask is passed through unchanged). The paper instead scales the
pre-softmax score itself by (1 - p), and also suppresses the tokens whose embeddings are
cosine-similar to i; neither is done here. Positive: the token supports the target class.

The suppressed variants go through the model in batches (64 on the CPU, so one 64-token text is one
pass); the memory needed is that of inference, a fraction of a gradient method's. Needs a model that
accepts a 4D additive attention mask (transformers' BERT-style encoders do).
"""

from __future__ import annotations

import math

import torch

from xil.explain.text.common import chunk_size, content_mask, target_log_probs

NAME = "atman"
TITLE = "AtMan (attention suppression)"
SUPPRESSION = 0.9


def additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(N, 1, 1, T)``: 0 on tokens, the dtype's minimum on padding (what the 2D mask turns into)."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def attribute(model, encoded, target, suppression: float = SUPPRESSION, chunk: int | None = None):
    if not 0.0 <= suppression < 1.0:
        raise ValueError(f"suppression must be in [0, 1), got {suppression}")
    content = content_mask(encoded)
    rows, cols = content.nonzero(as_tuple=True)
    dtype = next(model.parameters()).dtype
    bias = additive_mask(encoded.attention_mask, dtype)
    log_keep = math.log1p(-suppression)
    chunk = chunk or chunk_size(encoded.input_ids.device)
    with torch.inference_mode():
        full = target_log_probs(model(input_ids=encoded.input_ids, attention_mask=bias).logits, target)
        suppressed = []
        for start in range(0, len(rows), chunk):
            r, c = rows[start : start + chunk], cols[start : start + chunk]
            b = bias[r].clone()
            b[torch.arange(len(r)), 0, 0, c] += log_keep
            suppressed.append(
                target_log_probs(model(input_ids=encoded.input_ids[r], attention_mask=b).logits, target[r])
            )
        drop = (full[rows] - torch.cat(suppressed)) if len(rows) else full[:0]
    scores = torch.zeros(content.shape, dtype=torch.float32, device=content.device)
    scores[rows, cols] = drop.clone()
    return scores
