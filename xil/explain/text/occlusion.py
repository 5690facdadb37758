"""Occlusion (leave-one-out): log p(t | x) - log p(t | x with token i blanked), per token i.

Blanking sets the token's word embedding to zero (position and segment embeddings stay), which works
for any tokenizer, unlike substituting a [MASK] id. Positive: the token supports the target class.
No backward pass; the blanked variants go through the model in batches (64 on the CPU).
"""

from __future__ import annotations

import torch

from xil.explain.text.common import content_mask, removed_log_probs, target_log_probs
from xil.explain.text.explainer import TextExplainer


def attribute(model, encoded, target):
    content = content_mask(encoded)
    rows, cols = content.nonzero(as_tuple=True)
    removed = torch.zeros(len(rows), content.shape[1], dtype=torch.bool, device=content.device)
    removed[torch.arange(len(rows)), cols] = True
    with torch.inference_mode():
        full = target_log_probs(
            model(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask).logits, target
        )
    scores = torch.zeros(content.shape, dtype=torch.float32, device=content.device)
    scores[rows, cols] = full.clone()[rows] - removed_log_probs(model, encoded, target, rows, removed)
    return scores


EXPLAINER = TextExplainer(
    name="occlusion",
    title="Occlusion (one token)",
    attribute=attribute,
)
