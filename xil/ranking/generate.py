"""K candidate outputs per prompt from a causal language model, for annotators to rank.

Any Hugging Face causal LM by local path or hub id (a hub id only works with a network or a filled
cache). Prompts go in batches, left-padded so that every row's new tokens start at the same column;
nucleus sampling (temperature, top-p) with ``num_return_sequences = k``. On CUDA when present, in
bf16 where supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from xil import config as xil_config
from xil.precision import compute_dtype
from xil.settings import Settings


@dataclass
class GenerationConfig(Settings):
    """How candidates are sampled for annotators to rank.

    Parameters:
        k: candidates per prompt (at least 1).
        temperature: the logits are divided by it before sampling (above 0; greedy decoding would give k
            equal answers).
        top_p: nucleus sampling: sample from the smallest set of tokens with this much probability (0 to 1,
            0 excluded).
        max_new_tokens: tokens generated per candidate at most (at least 1).
        batch_size: prompts per generate call, k rows each (at least 1).
        chat_template: wrap each prompt as a user turn when the tokenizer has a chat template.
        seed: the random seed of sampling.
        device: "auto" (CUDA when present, bf16 where it has it), "cpu" or "cuda".
    """

    KIND: ClassVar[str] = "generation"

    k: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 48
    batch_size: int = 8
    chat_template: bool = False
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.k < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("k, max_new_tokens and batch_size must be at least 1")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0 (sampling; greedy decoding gives k equal answers)")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")


def load_causal_lm(name_or_path: str | Path, device: str = "auto"):
    """``(model in eval mode, tokenizer)`` with left padding and a pad token (the EOS or UNK token
    when the tokenizer has none)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    device = xil_config.device(device)
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is None:
            raise ValueError(f"{name_or_path}: the tokenizer has no pad, EOS or UNK token to pad with")
        tokenizer.pad_token = fallback
    dtype = compute_dtype(device, cpu=False)  # weights in bf16 on GPUs that have it
    model = AutoModelForCausalLM.from_pretrained(str(name_or_path), dtype=dtype)
    return model.to(device).eval(), tokenizer


def _prompt_texts(tokenizer, prompts: list[str], chat: bool) -> tuple[list[str], bool]:
    """The texts to tokenise and whether the tokenizer should add its special tokens (a chat template
    already holds them)."""
    if chat and getattr(tokenizer, "chat_template", None):
        texts = [
            tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
            for p in prompts
        ]
        return texts, False
    return list(prompts), True


def sample_candidates(
    model_name_or_path: str | Path | tuple, prompts: list[str], cfg: GenerationConfig | None = None
) -> list[list[str]]:
    """``cfg.k`` sampled continuations per prompt (new tokens only, decoded without special tokens,
    stripped). ``model_name_or_path`` is a local folder, a hub id, or an already loaded
    ``(model, tokenizer)``. The same seed, prompts and batch size give the same candidates on the same
    device."""
    cfg = cfg or GenerationConfig()
    if isinstance(model_name_or_path, tuple):
        model, tokenizer = model_name_or_path
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    else:
        model, tokenizer = load_causal_lm(model_name_or_path, cfg.device)
    device = next(model.parameters()).device
    torch.manual_seed(cfg.seed)
    # a model with a position limit (GPT-2: n_positions) keeps the end of a long prompt and at most half
    # its positions for new tokens, instead of failing with an index error
    positions = getattr(model.config, "max_position_embeddings", None) or 1 << 30
    new_tokens = min(cfg.max_new_tokens, max(1, positions // 2))
    tokenizer.truncation_side = "left"
    out: list[list[str]] = []
    for start in range(0, len(prompts), cfg.batch_size):
        texts, special = _prompt_texts(tokenizer, prompts[start : start + cfg.batch_size], cfg.chat_template)
        batch = tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            add_special_tokens=special,
            truncation=positions < 1 << 30,
            max_length=positions - new_tokens if positions < 1 << 30 else None,
        ).to(device)
        with torch.inference_mode():
            ids = model.generate(
                **batch,
                do_sample=True,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                top_k=0,  # only top-p filters (generate's default also applies top-k 50)
                max_new_tokens=new_tokens,
                num_return_sequences=cfg.k,
                pad_token_id=tokenizer.pad_token_id,
            )
        decoded = tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        out += [[t.strip() for t in decoded[i : i + cfg.k]] for i in range(0, len(decoded), cfg.k)]
    return out


def best_of_n(
    generator: str | Path | tuple,
    reward: tuple,
    prompts: list[str],
    cfg: GenerationConfig | None = None,
    max_length: int = 256,
    judged_prompts: list[str] | None = None,
) -> list[tuple[str, float, list[str], list[float]]]:
    """Best-of-n: sample ``cfg.k`` candidates per prompt and keep the one the reward model ``reward``
    (``(model, tokenizer)``) scores highest; no training. The rewards are of ``(judged_prompts[i],
    candidate)`` (default: the prompts sampled from). Per prompt ``(best answer, its reward, every
    candidate, their rewards)``."""
    from xil.ranking.scoring import score_groups

    candidates = sample_candidates(generator, prompts, cfg)
    judged = judged_prompts or prompts
    scores = score_groups(
        *reward, [{"prompt": p, "candidates": c} for p, c in zip(judged, candidates, strict=True)], max_length
    )
    out = []
    for group, values in zip(candidates, scores, strict=True):
        top = max(range(len(group)), key=values.__getitem__)
        out.append((group[top], values[top], group, values))
    return out
