"""The text training config: what a text job stores, the UI shows, and the defaults that work."""

from __future__ import annotations

from dataclasses import dataclass

from xil.settings import Settings


@dataclass
class TextTrainConfig(Settings):
    method: str = "none"  # "none" (plain cross-entropy) or a name in xil.feedback.text.REGISTRY
    backbone: str = "minilm"  # "minilm" (the bundled MiniLM-L6), a local folder or a hub id
    epochs: int = 2  # at least; see min_steps
    min_steps: int = 100  # small datasets train for more epochs, up to this many optimiser steps
    batch_size: int = 16
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.1  # share of the steps over which the learning rate rises linearly
    max_length: int = 64  # tokens per text, special tokens included
    freeze_embeddings: bool = True  # keep the word-embedding table (half of MiniLM's weights) fixed
    lambda_: float | None = None  # penalty weight; None: automatic (see text_loop.py)
    lambda_scale: float | None = None  # automatic lambda's target ratio; None: the method's default
    ce_copies: int = 1  # counterexamples per marked text and step
    seed: int = 0
    device: str = "auto"  # "auto" picks CUDA when present

    def epochs_for(self, n_texts: int) -> int:
        """``epochs``, or more where ``n_texts`` give fewer than ``min_steps`` optimiser steps in that many.
        The review demo's 150 training texts get 10 epochs: with feedback on 23 of them counterexamples
        then lift its test accuracy from 0.34 to 1.0; in 2 epochs (20 steps) nothing changed."""
        batches = max(1, -(-n_texts // self.batch_size))
        return max(self.epochs, -(-self.min_steps // batches))
