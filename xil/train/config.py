"""The training config: what a job stores, the UI shows, and the defaults that work."""

from __future__ import annotations

from dataclasses import dataclass

from xil.settings import Settings, check_feedback, check_penalty, check_processes


@dataclass
class TrainConfig(Settings):
    """Settings of one image-classifier training job (stored on the job row as ``to_dict()``).

    Parameters:
        method: the feedback method: "none" (plain cross-entropy) or a name in
            ``xil.feedback.REGISTRY`` (rrr, rrr_g, hint, ce).
        arch: the model: a name in ``xil.models.REGISTRY`` ("mlp", "cnn", "convnet", or a backbone such
            as "resnet18", "convnext_tiny", "vit_tiny_patch16_224"), or "hf:FOLDER_OR_HUB_ID",
            "torchvision:NAME", "timm:NAME" (:mod:`xil.models.backbones`); rrr_g needs a convolutional one.
        weights: a backbone's starting weights: a .safetensors file (or .pth/.pt/.bin, read with
            weights_only=True); None: random, or the hf: model's own.
        image_size: a backbone's input size in pixels (square); None: its own (224 for the built-ins).
        train_head_only: fine-tune only a backbone's classifier head (its last linear layer).
        augment: random crop (zero padding of an eighth of the size) and left-right flip of every
            training batch, the annotators' marks moved with the pixels (for photos, not digits).
        epochs: passes over the training examples (at least 1).
        batch_size: examples per optimiser step (at least 1).
        lr: the Adam learning rate (positive).
        weight_decay: Adam's L2 weight decay (0 or more).
        lambda_: the penalty weight; None: the method's default, set before the first step (RRR: 10
            per marked example, 1 on a backbone; RRR-G and HINT: automatic, a multiple of the
            untrained model's cross-entropy; see ``xil/train/loop.py``).
        lambda_scale: multiplies that default (for the automatic one: replaces the method's
            multiple, so the penalty starts at this times the initial cross-entropy).
        ce_copies: counterexamples per marked example and epoch (at least 1).
        seed: the random seed of initialisation, shuffling and counterexamples.
        device: "auto" (CUDA when present, else the CPU), "cpu", "cuda" or a device such as "cuda:1".
        processes: data-parallel processes on the worker's machine (its GPUs, or its CPU cores),
            launched with Hugging Face Accelerate; 1 trains in the worker itself (a worker started
            with ``--processes N`` uses N for jobs that leave this at 1).
        machines: machines the job trains on, ``processes`` on each: the worker that takes it waits
            for a worker on each other machine (same database and ``XIL_HOME``) to join.
        feedback: which feedback trains the model: "all" (each example's latest judgement), "accepted"
            (only judgements a reviewer accepted) or "consensus" (per example the annotators' majority
            verdict and label, and the marks most of them made; ties leave the example out).
    """

    method: str = "rrr"
    arch: str = "mlp"
    weights: str | None = None
    image_size: int | None = None
    train_head_only: bool = False
    augment: bool = False
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lambda_: float | None = None
    lambda_scale: float | None = None
    ce_copies: int = 1
    seed: int = 0
    device: str = "auto"
    processes: int = 1
    machines: int = 1
    feedback: str = "all"

    def __post_init__(self) -> None:
        from xil import feedback, models

        if self.method != "none" and self.method not in feedback.REGISTRY:
            raise ValueError(
                f"unknown method {self.method!r}: unknown feedback method {self.method!r} for images; "
                f"choose from {feedback.REGISTRY.choices('none')}"
            )
        arch = models.lookup(self.arch)  # "unknown architecture 'resnet'; choose from mlp, cnn, ..."
        if not arch.backbone and (self.weights or self.image_size or self.train_head_only):
            raise ValueError(f"weights, image_size and train_head_only are for backbones, not {arch.title}")
        models.backbones.check_options(self.weights, self.image_size)
        if self.method != "none" and feedback.REGISTRY[self.method].needs_conv and arch.conv is False:
            raise ValueError(
                f"{feedback.REGISTRY[self.method].title} needs a convolutional model: it needs the CNN architecture"
            )
        check_processes(self.processes, self.machines)
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(
                "epochs and batch size must be at least 1, the learning rate positive "
                f"(got epochs={self.epochs}, batch_size={self.batch_size}, lr={self.lr})"
            )
        check_penalty(self)
        if self.ce_copies < 1:
            raise ValueError(f"ce_copies must be at least 1, not {self.ce_copies}")
        check_feedback(self.feedback)
