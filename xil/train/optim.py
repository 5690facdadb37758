"""What the transformer trainers (texts, reward models) share: AdamW on the trainable parameters with
linear warm-up over ``warmup`` of the steps, then linear decay to zero; shuffled length-bucketed
batches; and an optionally frozen word-embedding table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

BUCKET = 32  # batches per length-sorted bucket


def length_bucketed_batches(lengths: Tensor, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """Shuffled index batches of similar length (little padding): shuffle, sort buckets of ``BUCKET``
    batches by length, cut them into batches, shuffle the batches."""
    order = torch.randperm(len(lengths), generator=generator)
    batches: list[Tensor] = []
    for start in range(0, len(order), batch_size * BUCKET):
        bucket = order[start : start + batch_size * BUCKET]
        bucket = bucket[torch.argsort(lengths[bucket], stable=True)]
        batches += list(bucket.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


@contextmanager
def embeddings_frozen(model: nn.Module, freeze: bool) -> Iterator[None]:
    """With ``freeze``, the word-embedding table is fixed inside the block (create the optimiser there):
    half of MiniLM's weights, it then costs no optimiser step (a quarter of a CPU step) and cannot drift
    on a few hundred annotated examples; gradients with respect to the embedded inputs still flow. Its
    trainability is restored afterwards."""
    table = model.get_input_embeddings().weight
    trainable = table.requires_grad
    if freeze:
        table.requires_grad_(False)
    try:
        yield
    finally:
        table.requires_grad_(trainable)


def adamw_with_warmup(model: nn.Module, lr: float, weight_decay: float, warmup: float, total_steps: int):
    """``(optimiser, scheduler)``; call ``scheduler.step()`` after every optimiser step."""
    total_steps = max(1, total_steps)
    warmup_steps = int(warmup * total_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return optimiser, torch.optim.lr_scheduler.LambdaLR(optimiser, factor)
