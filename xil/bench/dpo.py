"""Generator benchmark: does the generator learn from rankings? Offline, on a language it can learn.

No pretrained causal LM is on these machines, so the benchmark makes one it can judge by rule: the toy
request language of :mod:`xil.ranking.toy_language` (192 prompts, each with a terse and a polite answer).

1. A two-layer GPT-2 (64 dims, a word-level vocabulary) is trained from scratch on both forms of every
   prompt, half each: its answers are about half polite (``win_rate_before``).
2. The prompts are split by prompt, a quarter held out. For each training prompt the model samples K = 4
   candidates; simulated annotators rank them: polite above terse above anything invalid (ties give no
   pair, as in the studio).
3. The DPO job's own code (:func:`xil.ranking.dpo.train_dpo`, LoRA, default settings) trains on the
   pairs of those rankings. ``win_rate_after`` is the share of polite, valid answers the new model
   samples for the held-out prompts (8 per prompt, temperature 1).
4. Best-of-n without training: a Bradley-Terry reward model (MiniLM, the reward job's defaults) trained
   on the same rankings picks the top-scored of n = 4 candidates of the first model;
   ``best_of_n_win_rate`` is the share of polite, valid picks.

    xil bench dpo --json
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from xil import config
from xil.ranking.config import RewardConfig
from xil.ranking.dpo import PreferenceTuningConfig, preference_rows, train_dpo, training_precision
from xil.ranking.generate import GenerationConfig, best_of_n, sample_candidates
from xil.ranking.pairs import pairs_from_ranking
from xil.ranking.reward import train_reward
from xil.ranking.toy_language import RANK, all_prompts, build_generator, judge

SAMPLES_PER_PROMPT = 8  # answers judged per held-out prompt
K = 4  # candidates ranked per training prompt, and n of best-of-n


def polite_rate(answers_per_prompt: list[list[str]], prompts: list[str]) -> float:
    judged = [judge(p, a) == "polite" for p, group in zip(prompts, answers_per_prompt, strict=True) for a in group]
    return sum(judged) / len(judged)


def ranked_groups(prompts: list[str], candidates: list[list[str]]) -> list[dict]:
    """The simulated annotators' rankings as the studio's groups ``{prompt, candidates, pairs}``."""
    groups = []
    for prompt, group in zip(prompts, candidates, strict=True):
        pairs = pairs_from_ranking(group, [RANK[judge(prompt, a)] for a in group])
        if pairs:
            groups.append({"prompt": prompt, "candidates": group, "pairs": pairs})
    return groups


def run(seed: int = 0, device: str = "auto", reward_backbone: str = "minilm") -> dict:
    from xil.ranking.dpo import load_generator

    prompts = all_prompts()
    random.Random(seed).shuffle(prompts)
    held_out, train = prompts[: len(prompts) // 4], prompts[len(prompts) // 4 :]
    # plain sampling (no nucleus cut-off) throughout; each use its own k and seed
    sampling = GenerationConfig(
        k=SAMPLES_PER_PROMPT, temperature=1.0, top_p=1.0, max_new_tokens=12, seed=seed, device=device
    )
    with tempfile.TemporaryDirectory() as scratch:
        base = build_generator(Path(scratch) / "generator", seed)
        before = load_generator(base, device)
        win_before = polite_rate(sample_candidates(before, held_out, sampling), held_out)

        candidates = sample_candidates(before, train, replace(sampling, k=K, seed=seed + 1))
        groups = ranked_groups(train, candidates)
        rows = preference_rows(groups)
        cfg = PreferenceTuningConfig(seed=seed, device=device)
        started = time.perf_counter()
        model, tokenizer, _ = train_dpo(cfg, str(base), rows)
        train_s = time.perf_counter() - started
        after = (model.merge_and_unload() if cfg.lora else model).eval(), tokenizer
        win_after = polite_rate(sample_candidates(after, held_out, sampling), held_out)

        reward, reward_tokenizer, _ = train_reward(
            RewardConfig(backbone=reward_backbone, seed=seed, device=device), groups
        )
        picked = best_of_n(before, (reward, reward_tokenizer), held_out, replace(sampling, k=K, seed=seed + 2))
        best_of_n_rate = polite_rate([[answer] for answer, *_ in picked], held_out)
    return {
        "n_pairs": len(rows),
        "win_rate_before": round(win_before, 3),
        "win_rate_after": round(win_after, 3),
        "best_of_n_win_rate": round(best_of_n_rate, 3),
        "train_s": round(train_s, 1),
        "precision": training_precision(config.device(device)),
    }
