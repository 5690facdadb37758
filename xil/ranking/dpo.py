"""Direct preference optimisation (DPO; Rafailov et al., 2023) of the generator on the rankings: the
policy stage of InstructGPT's loop without a separate reward model or sampling during training.

For a prompt x with a chosen answer y+ and a rejected one y-, and the frozen starting model as the
reference,

    L = -log sigmoid(beta * [(log pi(y+|x) - log ref(y+|x)) - (log pi(y-|x) - log ref(y-|x))])

TRL's ``DPOTrainer`` computes it; with ``lora`` (the default) only a LoRA adapter (``peft``) trains, and
the reference is the same model with the adapter switched off, so no second copy is held in memory.
A trained version is saved as the adapter (or the full weights) in safetensors plus the tokenizer;
:func:`load_generator` puts it back on its base model.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from xil import config as xil_config
from xil.precision import native_bfloat16
from xil.ranking.generate import load_causal_lm
from xil.settings import Settings, check_feedback
from xil.train.loop import Cancelled

GENERATOR_FILE = "generator.json"  # in a saved version's folder: its base model and whether it is an adapter


@dataclass
class PreferenceTuningConfig(Settings):
    """Settings of one preference fine-tuning (DPO) job of the generator (stored on the job row).

    Parameters:
        generator: the causal LM to start from: a local folder or a Hugging Face hub id; "" means the
            project's own generator (the model that sampled its candidates).
        lora: train a LoRA adapter (peft) instead of every weight; the saved version is the adapter.
        lora_rank: the rank of the LoRA matrices (at least 1).
        lora_alpha: LoRA's scaling numerator (the update is scaled by alpha / rank).
        beta: DPO's inverse temperature: how far the policy may move from the reference (above 0).
        sft_weight: weight of a language-model loss on the chosen answers added to DPO's (RPO, Pang et al.
            2024; 0 for plain DPO): it keeps the chosen answers likely, where DPO alone can lower both
            answers of a pair and drift into text no one ranked.
        epochs: passes over the training pairs (at least 1).
        lr: the AdamW learning rate (positive); LoRA takes a larger one than full fine-tuning.
        batch_size: preference pairs per step (at least 1).
        max_length: tokens of prompt plus answer at most (at least 16); longer pairs are cut at the end.
        seed: the random seed of the adapter's initialisation and shuffling.
        device: "auto" (CUDA when present, bf16 where it has it), "cpu" or "cuda".
        feedback: which rankings train the generator: "all", "accepted" or "consensus" (as for reward models).
        chat_template: wrap each prompt as a user turn and each answer as the assistant's with the
            tokenizer's chat template (as the candidates were sampled when the import used it).
    """

    KIND: ClassVar[str] = "preference tuning"
    VERSION_METHOD: ClassVar[str] = "dpo"  # the method of the versions it makes

    generator: str = ""
    lora: bool = True
    lora_rank: int = 16
    lora_alpha: int = 32
    beta: float = 0.1
    sft_weight: float = 1.0
    epochs: int = 3
    lr: float = 5e-4
    batch_size: int = 8
    max_length: int = 256
    seed: int = 0
    device: str = "auto"
    feedback: str = "all"
    chat_template: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lora_rank < 1 or self.lora_alpha < 1:
            raise ValueError("epochs, batch_size, lora_rank and lora_alpha must be at least 1")
        if self.sft_weight < 0:
            raise ValueError(f"sft_weight must be 0 or more, not {self.sft_weight}")
        if self.lr <= 0 or self.beta <= 0:
            raise ValueError(f"the learning rate and beta must be positive (got lr={self.lr}, beta={self.beta})")
        if self.max_length < 16:
            raise ValueError(f"max_length must be at least 16 tokens, not {self.max_length}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f'device must be "auto", "cpu" or "cuda", not {self.device!r}')
        check_feedback(self.feedback)


def as_conversations(rows: list[dict]) -> list[dict]:
    """Preference rows in TRL's conversational form (a user turn, then the assistant's answer), which
    it renders with the tokenizer's chat template."""
    return [
        {
            "prompt": [{"role": "user", "content": r["prompt"]}],
            "chosen": [{"role": "assistant", "content": r["chosen"].strip()}],
            "rejected": [{"role": "assistant", "content": r["rejected"].strip()}],
        }
        for r in rows
    ]


def chat_rows(rows: list[dict], tokenizer) -> list[dict]:
    """``rows`` with prompt and answers as the chat template renders them (the prompt with the
    assistant's cue, each answer the rest of its turn), for scoring as plain text."""
    out = []
    for conversation in as_conversations(rows):
        prompt = tokenizer.apply_chat_template(conversation["prompt"], tokenize=False, add_generation_prompt=True)
        row = {"prompt": prompt}
        for side in ("chosen", "rejected"):
            full = tokenizer.apply_chat_template(conversation["prompt"] + conversation[side], tokenize=False)
            row[side] = full[len(prompt) :] if full.startswith(prompt) else full
        out.append(row)
    return out


def uses_chat(cfg: PreferenceTuningConfig, tokenizer) -> bool:
    """Whether a job renders its rows with a chat template (asked for, and the tokenizer has one)."""
    return cfg.chat_template and bool(getattr(tokenizer, "chat_template", None))


def training_precision(device: str) -> str:
    """What a DPO job computes in: bf16 mixed precision on GPUs that have it, float32 elsewhere (the
    CPU's bf16 autocast is not what Trainer's ``bf16`` does on a CPU)."""
    return "bfloat16" if device != "cpu" and native_bfloat16(device) else "float32"


def preference_rows(groups: list[dict]) -> list[dict]:
    """``{prompt, chosen, rejected}`` per preference pair of ranked ``groups`` (``{prompt, candidates,
    pairs}``, as the reward model takes them). The answer follows the prompt after one space, as a
    sampled continuation does (candidates are stored stripped)."""
    rows = []
    for group in groups:
        prompt = group["prompt"]
        gap = "" if prompt[-1:].isspace() else " "
        for chosen, rejected in group["pairs"]:
            rows.append(
                {
                    "prompt": prompt,
                    "chosen": gap + group["candidates"][chosen],
                    "rejected": gap + group["candidates"][rejected],
                }
            )
    return rows


STEP_REPORTS = 50  # progress reports per job between epoch records: a large model's epoch takes long


class _Progress:
    """A transformers callback: one record per epoch from the trainer's logs, and about
    :data:`STEP_REPORTS` progress-only records (``{"epoch": fractional, "epochs", "step_only": True}``)
    in between; False from ``report`` stops training at the next step (the job was cancelled)."""

    def __init__(self, epochs: int, report: Callable[[dict], bool | None] | None):
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "loss" in logs:
                    outer.logs.append(logs)

            def on_step_end(self, args, state, control, **kwargs):
                every = max(1, state.max_steps // STEP_REPORTS)
                if outer.report is None or state.global_step % every or state.epoch is None:
                    return
                if outer.report({"epoch": state.epoch, "epochs": outer.epochs, "step_only": True}) is False:
                    control.should_training_stop = True
                    outer.cancelled = True

            def on_epoch_end(self, args, state, control, **kwargs):
                if outer.cancelled:  # the trainer ends a stopped epoch too: not a finished one
                    return
                if outer.epoch_end(round(state.epoch or 0)) is False:
                    control.should_training_stop = True
                    outer.cancelled = True

        self.callback = Callback()
        self.epochs, self.report = epochs, report
        self.logs: list[dict] = []
        self.history: list[dict] = []
        self.cancelled = False
        self.started = time.perf_counter()

    def epoch_end(self, epoch: int) -> bool | None:
        logs, self.logs = self.logs, []

        def mean(key: str) -> float:
            values = [log[key] for log in logs if key in log]
            return float(sum(values) / len(values)) if values else float("nan")

        record = {
            "epoch": epoch,
            "epochs": self.epochs,
            "loss": mean("loss"),
            "margin": mean("rewards/margins"),  # beta * (policy - reference) log-ratio, chosen minus rejected
            "pair_accuracy": mean("rewards/accuracies"),
            "seconds": time.perf_counter() - self.started,
        }
        self.started = time.perf_counter()
        self.history.append(record)
        return self.report(record) if self.report is not None else None


def train_dpo(
    cfg: PreferenceTuningConfig,
    generator: str | Path | tuple,
    rows: list[dict],
    progress: Callable[[dict], bool | None] | None = None,
):
    """Fine-tune ``generator`` (a folder, hub id or loaded ``(model, tokenizer)``) on preference
    ``rows`` (:func:`preference_rows`) with DPO. ``progress`` gets one dict per epoch (epoch, epochs,
    loss, margin, pair_accuracy, seconds), progress-only ones (``step_only``) between them, and may
    return False to cancel (:class:`Cancelled`).
    Returns ``(model, tokenizer, history)``: with ``lora`` a peft model holding the adapter."""
    from datasets import Dataset, disable_progress_bars
    from peft import LoraConfig
    from transformers import PrinterCallback
    from transformers.utils import logging as hf_logging
    from trl import DPOConfig, DPOTrainer

    if not rows:
        raise ValueError("no preference pairs to train on")
    device = xil_config.device(cfg.device)
    if isinstance(generator, tuple):
        model, tokenizer = generator
    else:
        # LoRA leaves the base weights frozen: they may stay in bf16 on a GPU (half the memory of a 7B
        # model); full fine-tuning keeps float32 weights for the optimiser and autocasts to bf16
        model, tokenizer = load_causal_lm(generator, device if cfg.lora else "cpu")
    if not cfg.lora:
        model = model.float()
    model.train()
    tokenizer.padding_side = "left"
    hf_logging.set_verbosity_error()
    disable_progress_bars()  # the job log has its own lines
    torch.manual_seed(cfg.seed)
    peft_config = None
    if cfg.lora:
        peft_config = LoraConfig(
            r=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=0.0,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
    watcher = _Progress(cfg.epochs, progress)
    with tempfile.TemporaryDirectory() as scratch:
        args = DPOConfig(
            output_dir=scratch,
            beta=cfg.beta,
            loss_type=["sigmoid", "sft"] if cfg.sft_weight else ["sigmoid"],
            loss_weights=[1.0, cfg.sft_weight] if cfg.sft_weight else None,
            num_train_epochs=cfg.epochs,
            learning_rate=cfg.lr,
            per_device_train_batch_size=cfg.batch_size,
            max_length=cfg.max_length,
            truncation_mode="keep_start",
            lr_scheduler_type="cosine",
            warmup_steps=0.1,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            seed=cfg.seed,
            use_cpu=device == "cpu",
            bf16=training_precision(device) == "bfloat16",
            disable_tqdm=True,
            dataloader_pin_memory=device != "cpu",
        )
        trainer = DPOTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(as_conversations(rows) if uses_chat(cfg, tokenizer) else rows),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[watcher.callback],
        )
        trainer.remove_callback(PrinterCallback)  # the epoch records are the log; no dict per step on stdout
        trainer.train()
    if watcher.cancelled:
        raise Cancelled(f"cancelled after {len(watcher.history)} full epochs")
    return trainer.model.eval(), tokenizer, watcher.history


def save_generator(model, tokenizer, folder: Path, base: str) -> Path:
    """A trained generator as ``folder``: the LoRA adapter (``adapter_model.safetensors``) or the full
    weights (``model.safetensors``), the tokenizer, and ``generator.json`` naming the base model."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    adapter = (folder / "adapter_model.safetensors").exists()
    (folder / GENERATOR_FILE).write_text(json.dumps({"base": str(base), "adapter": adapter}))
    return folder


def weights_file(folder: Path) -> Path:
    """The file whose hash identifies a saved generator."""
    adapter = folder / "adapter_model.safetensors"
    return adapter if adapter.exists() else folder / "model.safetensors"


def load_generator(folder: str | Path, device: str = "auto"):
    """``(model in eval mode, tokenizer)`` of a saved generator (its adapter merged into the base
    model, which must still be where it was when the version was trained) or of a plain causal LM
    folder or hub id."""
    folder = Path(folder)
    meta_file = folder / GENERATOR_FILE
    if not meta_file.exists():
        return load_causal_lm(folder, device)
    meta = json.loads(meta_file.read_text())
    if not meta["adapter"]:
        return load_causal_lm(folder, device)
    from peft import PeftModel

    base = meta["base"]
    if xil_config.looks_like_path(base) and not Path(base).exists():
        raise ValueError(f"the generator version's base model {base} is gone: it was fine-tuned from that folder")
    model, tokenizer = load_causal_lm(base, device)
    model = PeftModel.from_pretrained(model, folder).merge_and_unload()
    return model.eval(), tokenizer


def answer_log_probs(
    model, tokenizer, prompts: list[str], answers: list[str], batch_size: int = 16, chat: bool = False
) -> torch.Tensor:
    """``log p(answer | prompt)`` summed over the answer's tokens (and EOS), one per row, float32 on the CPU;
    the prompt and answer are tokenised as DPO tokenises them (one string, then split at the prompt).
    ``chat``: the texts are rendered by a chat template, which holds the special tokens and the end of turn."""
    device = next(model.parameters()).device
    ending = "" if chat else (tokenizer.eos_token or "")
    out = []
    for start in range(0, len(prompts), batch_size):
        chunk = list(zip(prompts[start : start + batch_size], answers[start : start + batch_size], strict=True))
        prompt_lengths = [len(tokenizer(p, add_special_tokens=not chat)["input_ids"]) for p, _ in chunk]
        full = [tokenizer(p + a + ending, add_special_tokens=not chat)["input_ids"] for p, a in chunk]
        width = max(map(len, full))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([f + [pad] * (width - len(f)) for f in full], device=device)
        mask = torch.tensor([[1] * len(f) + [0] * (width - len(f)) for f in full], device=device)
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        token_lp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0]
        scored = torch.zeros_like(token_lp, dtype=torch.bool)
        for row, (n_prompt, f) in enumerate(zip(prompt_lengths, full, strict=True)):
            scored[row, n_prompt - 1 : len(f) - 1] = True
        out.append((token_lp * scored).sum(-1).cpu())
    return torch.cat(out) if out else torch.zeros(0)


def preference_accuracy(model, tokenizer, rows: list[dict], reference=None, chat: bool = False) -> float:
    """Share of pairs in ``rows`` whose chosen answer has the larger DPO implicit reward
    ``log pi(y|x) - log ref(y|x)``. The reference is ``reference``, or for a peft model the same model
    with its adapter switched off. ``chat``: render the rows with the tokenizer's chat template, as a
    job with ``chat_template`` trained on them."""
    if not rows:
        raise ValueError("no preference pairs to score")
    model.eval()
    if chat:
        rows = chat_rows(rows, tokenizer)
    prompts = [r["prompt"] for r in rows]

    def margins(m) -> torch.Tensor:
        chosen = answer_log_probs(m, tokenizer, prompts, [r["chosen"] for r in rows], chat=chat)
        return chosen - answer_log_probs(m, tokenizer, prompts, [r["rejected"] for r in rows], chat=chat)

    policy = margins(model)
    if reference is not None:
        base = margins(reference)
    else:
        with model.disable_adapter():
            base = margins(model)
    return float(((policy - base) > 0).float().mean())
