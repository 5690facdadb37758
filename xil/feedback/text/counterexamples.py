"""Counterexamples on tokens (CE, as in CAIPI, Teso and Kersting 2019, and the XIL typology).

For every example n with marked irrelevant tokens ``A_n``, add a copy whose marked tokens are
replaced, label kept:

    x'_nt = u_nt for t in A_n, x_nt otherwise,    u_nt ~ Uniform{ pool tokens with label != y_n },    y' = y_n

The pool holds every token marked irrelevant anywhere in the training data, with the label of its
example (:func:`build_pool`). Drawing the replacement from the marked tokens of *other* labels, not
from the vocabulary, is what breaks the shortcut: a planted word that always comes with label 1 now
also appears in label-0 copies. (A script that replaced marked tokens with random vocabulary tokens
left the benchmark model at chance, 0.50: the originals still carry the label-correlated word and
cross-entropy on them keeps the shortcut; with the pool it reached 0.81.)

When no token of another label is marked, the whole pool is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from xil.feedback.text.method import TextFeedbackMethod
from xil.models.text import Encoded


@dataclass
class TokenPool:
    """Token ids marked irrelevant and the labels of the examples they were marked in."""

    ids: Tensor  # (P,) long
    labels: Tensor  # (P,) long

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device) -> TokenPool:
        return TokenPool(self.ids.to(device), self.labels.to(device))


def build_pool(input_ids: Tensor, token_mask: Tensor, labels: Tensor) -> TokenPool:
    """Every marked token occurrence ``(N, T)`` with its example's label ``(N,)``."""
    marked = token_mask.bool()
    rows = marked.nonzero(as_tuple=True)[0]
    return TokenPool(input_ids[marked].long(), labels[rows].long())


def augment(
    batch: Encoded, y: Tensor, token_mask: Tensor, pool: TokenPool, generator: torch.Generator | None = None
) -> tuple[Encoded, Tensor]:
    """The batch followed by one counterexample per example with a mark (labels kept)."""
    has_mask = token_mask.bool().any(dim=1)
    if len(pool) == 0 or not bool(has_mask.any()):
        return batch, y
    keep = has_mask.nonzero(as_tuple=True)[0]
    ids, marked, labels = batch.input_ids[keep].clone(), token_mask[keep].bool(), y[keep]
    rows, cols = marked.nonzero(as_tuple=True)
    row_labels = labels[rows]
    replacement = torch.empty_like(rows)
    for label in row_labels.unique().tolist():
        at = row_labels == label
        candidates = pool.ids[pool.labels != label]
        if len(candidates) == 0:
            candidates = pool.ids
        # drawn on the CPU generator so that runs repeat on any device
        pick = torch.randint(len(candidates), (int(at.sum()),), generator=generator).to(candidates.device)
        replacement[at] = candidates[pick].to(replacement.dtype)
    ids[rows, cols] = replacement.to(ids.dtype)
    counter = Encoded(ids, batch.attention_mask[keep], batch.word_ids[keep])
    out = Encoded(
        torch.cat([batch.input_ids, counter.input_ids]),
        torch.cat([batch.attention_mask, counter.attention_mask]),
        torch.cat([batch.word_ids, counter.word_ids]),
    )
    return out, torch.cat([y, labels])


METHOD = TextFeedbackMethod(
    name="ce",
    title="Counterexamples (swap marked tokens)",
    mask="irrelevant",
    lambda_scale=None,
    default_lambda=None,
    augment=augment,
)
