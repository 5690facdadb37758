"""The reward-model training config: what a reward job stores, the UI shows, and defaults that work."""

from __future__ import annotations

from dataclasses import dataclass

from xil.settings import Settings


@dataclass
class RewardConfig(Settings):
    backbone: str = "minilm"  # "minilm" (the bundled MiniLM-L6), a local folder or a hub id
    epochs: int = 2
    lr: float = (
        1e-4  # tuned on MiniLM (harmless HH-RLHF, 2 epochs: 0.647 held out; 2e-5: 0.554); lower it for larger backbones
    )
    weight_decay: float = 0.01
    warmup: float = 0.1  # share of the steps over which the learning rate rises linearly
    batch_prompts: int = 8  # prompts per step; all K candidates and all pairs of a prompt in one step
    max_length: int = 256  # tokens per (prompt, response) input, special tokens included
    margin: float | None = None  # Bradley-Terry margin; None = 0
    freeze_embeddings: bool = True  # keep the word-embedding table fixed (half of MiniLM's weights)
    seed: int = 0
    device: str = "auto"  # "auto" picks CUDA when present (bf16 where the device has it: XIL_PRECISION)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_prompts < 1:
            raise ValueError("epochs and batch_prompts must be at least 1")
        if self.max_length < 8:
            raise ValueError("max_length must be at least 8 tokens")
