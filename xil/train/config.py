"""The training config: what a job stores, the UI shows, and the defaults that work."""

from __future__ import annotations

from dataclasses import dataclass

from xil.settings import Settings


@dataclass
class TrainConfig(Settings):
    method: str = "rrr"  # "none" (plain cross-entropy) or a name in xil.feedback.REGISTRY
    arch: str = "mlp"  # a name in xil.models.REGISTRY
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lambda_: float | None = None  # penalty weight; None scales it automatically (see loop.py)
    lambda_scale: float | None = None  # automatic lambda's target ratio; None: the method's default
    ce_copies: int = 1  # counterexamples per marked example and epoch
    seed: int = 0
    device: str = "auto"  # "auto" picks CUDA when present
