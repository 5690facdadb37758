"""The reward-model training config: what a reward job stores, the UI shows, and defaults that work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from xil.settings import Settings, check_feedback, check_processes

MIN_LENGTH = 16  # tokens per (prompt, response) input: fewer leave no room for the response


@dataclass
class RewardConfig(Settings):
    """Settings of one reward-model training job (stored on the job row as ``to_dict()``).

    Parameters:
        backbone: "minilm" (the bundled MiniLM-L6, offline), a local folder or a Hugging Face hub id.
        epochs: passes over the ranked training prompts (at least 1). 3 was chosen on an inner split of
            the harmless HH-RLHF training lines (0.636 / 0.667 over two seeds, 2 epochs 0.626 / 0.643)
            and then measured on its held-out fifth: 0.642 over three seeds (2 epochs: 0.636), both with the
            embeddings frozen.
        lr: the AdamW learning rate (positive). 1e-4 is tuned on MiniLM (harmless HH-RLHF, 2 epochs:
            0.647 held out; 2e-5: 0.554); lower it for larger backbones.
        weight_decay: AdamW's weight decay (0 or more).
        warmup: the share of the steps over which the learning rate rises linearly (0 to 1).
        batch_prompts: prompts per step (at least 1); all K candidates and all pairs of a prompt share a step.
        max_length: tokens per (prompt, response) input, special tokens included (at least 16).
        margin: the Bradley-Terry margin (0 or more); None means 0.
        freeze_embeddings: keep the word-embedding table (half of MiniLM's weights) fixed. Off by
            default: on the harmless HH-RLHF inner split training them did better (0.649 / 0.682 against
            0.636 / 0.667), and on the held-out fifth 0.647 / 0.645 / 0.649 against 0.652 / 0.649 / 0.626.
        seed: the random seed of the reward head and shuffling.
        device: "auto" (CUDA when present, bf16 where it has it: XIL_PRECISION), "cpu" or "cuda".
        processes: data-parallel processes on the worker's machine (one per GPU, or CPU processes),
            launched with Hugging Face Accelerate; 1 trains in the worker itself.
        machines: machines the job trains on, ``processes`` on each (see the image ``TrainConfig``).
        feedback: which rankings train the model: "all" (each prompt's latest ranking), "accepted" (only
            rankings a reviewer accepted) or "consensus" (per prompt the candidates ordered by their mean
            rank over the annotators).
    """

    VERSION_METHOD: ClassVar[str] = "bradley_terry"  # the method of the versions it makes

    backbone: str = "minilm"
    epochs: int = 3
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup: float = 0.1
    batch_prompts: int = 8
    max_length: int = 256
    margin: float | None = None
    freeze_embeddings: bool = False
    seed: int = 0
    device: str = "auto"
    processes: int = 1
    machines: int = 1
    feedback: str = "all"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_prompts < 1 or self.lr <= 0:
            raise ValueError(
                "epochs and prompts per batch must be at least 1, the learning rate positive "
                f"(got epochs={self.epochs}, batch_prompts={self.batch_prompts}, lr={self.lr})"
            )
        if self.max_length < MIN_LENGTH:
            raise ValueError(f"max_length must be at least {MIN_LENGTH} tokens, not {self.max_length}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be 0 or more, not {self.weight_decay}")
        if not 0 <= self.warmup <= 1:
            raise ValueError(f"warmup is a share of the steps, from 0 to 1, not {self.warmup}")
        if self.margin is not None and self.margin < 0:
            raise ValueError(f"margin must be 0 or more (None: 0), not {self.margin}")
        check_feedback(self.feedback)
        check_processes(self.processes, self.machines)
