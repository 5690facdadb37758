"""The ranking task: annotators order K candidate answers per prompt; the rankings become
Bradley-Terry preference pairs for a reward model on the MiniLM backbone, and DPO pairs for the
generator itself (a :class:`~xil.ranking.dpo.PreferenceTuningConfig` job makes a generator version)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from db import Example, Feedback, ModelVersion
from xil.data.prompts import PromptDataset
from xil.ranking.config import RewardConfig
from xil.ranking.dpo import PreferenceTuningConfig
from xil.ranking.pairs import pairs_from_ranking, pairs_with_correction
from xil.registry import Registry
from xil.services.adapters.base import no_explanations
from xil.services.catalog import dataset, dataset_rows, get_project
from xil.services.feedback_store import training_feedback
from xil.services.versions import load, save_model_files, save_model_folder

REWARD_TITLE = "Bradley-Terry reward model"
GENERATOR_TITLE = "Generator fine-tuned on the rankings (DPO)"


def _load_reward(path: str):
    from xil.ranking.reward import load_reward_model

    return load_reward_model(path)


def _load_generator(path: str):
    from xil.ranking.dpo import load_generator

    return load_generator(path)


def project_generator(project_id: int) -> str | None:
    """The causal LM that sampled a project's candidates (a folder or hub id), if a model did."""
    return dataset(project_id).source if get_project(project_id).source == "generated" else None


def base_generator(project_id: int, cfg: PreferenceTuningConfig) -> str:
    """The generator a DPO job starts from: its ``generator`` setting, else the project's own."""
    base = cfg.generator.strip() or project_generator(project_id)
    if not base:
        raise ValueError(
            "this project's candidates came from a file, not a generator: name the causal LM to fine-tune "
            "(a local folder or a Hugging Face hub id)"
        )
    return base


def groups(project_id: int, split: str | None = None, slice: str = "all") -> list[dict]:
    """``{prompt, candidates, pairs}`` per ranked prompt: of the feedback ``slice`` (all: the latest
    ranking of any annotator; accepted: the latest one a reviewer accepted; consensus: the candidates in
    the order of their mean rank); an edited answer joins the candidates and beats every one of them."""
    ds: PromptDataset = dataset(project_id)
    rows = dataset_rows(project_id)
    out = []
    for fb in training_feedback(project_id, slice):
        idx = rows[fb.example_id]
        if split is not None and ds.split[idx] != split:
            continue
        candidates = list(ds.candidates[idx])
        pairs = pairs_from_ranking(candidates, fb.payload["ranks"], fb.payload.get("all_bad", False))
        if fb.payload.get("correction"):
            candidates, extra = pairs_with_correction(candidates, fb.payload["correction"])
            pairs = pairs + extra
        if pairs:
            out.append({"prompt": ds.prompts[idx], "candidates": candidates, "pairs": pairs})
    return out


class RankingAdapter:
    task: ClassVar[str] = "ranking"
    config_class: ClassVar[type] = RewardConfig
    config_classes: ClassVar[tuple[type, ...]] = (RewardConfig, PreferenceTuningConfig)
    methods: ClassVar[Registry] = Registry("reward training method", [])  # no feedback methods: pairs only

    content = staticmethod(no_explanations("ranking"))
    explain = staticmethod(no_explanations("ranking"))
    queue_scores = staticmethod(no_explanations("ranking"))
    predicted_classes = staticmethod(no_explanations("ranking"))

    def first_config(self) -> None:
        return None  # a reward model needs rankings first

    def check(self, project_id: int, cfg) -> None:
        if isinstance(cfg, PreferenceTuningConfig):
            base_generator(project_id, cfg)
        elif not isinstance(cfg, RewardConfig):
            raise ValueError(
                "a ranking project trains reward models and generators (RewardConfig, PreferenceTuningConfig)"
            )
        if not groups(project_id, "train", cfg.feedback):
            if cfg.feedback != "all" and groups(project_id, "train"):
                raise ValueError(
                    f"no ranked training prompts in the {cfg.feedback!r} feedback yet: "
                    + ("review some rankings first" if cfg.feedback == "accepted" else "no prompt has a majority order")
                    + ', or train on "all"'
                )
            raise ValueError("no ranked training prompts yet: rank some on the Rank page first")

    def train_inputs(self, project_id: int, cfg) -> list[dict]:
        """The training prompts' rankings (groups with their preference pairs)."""
        return groups(project_id, "train", cfg.feedback)

    def train(self, project_id: int, cfg, progress, log, inputs=None):
        if isinstance(cfg, PreferenceTuningConfig):
            return self._train_generator(project_id, cfg, progress, log)
        from xil.ranking.reward import train_reward

        train_groups = inputs if inputs is not None else self.train_inputs(project_id, cfg)
        n_pairs = sum(len(g["pairs"]) for g in train_groups)
        log(
            f"reward model on {cfg.backbone}: {len(train_groups)} prompts, {n_pairs} pairs"
            + ("" if cfg.feedback == "all" else f" ({cfg.feedback})")
        )
        model, tokenizer, history = train_reward(cfg, train_groups, progress=progress)
        return (model.cpu().eval(), tokenizer), history, len(train_groups)

    def _train_generator(self, project_id: int, cfg: PreferenceTuningConfig, progress, log):
        from xil.ranking.dpo import preference_rows, train_dpo

        train_groups = groups(project_id, "train", cfg.feedback)
        rows = preference_rows(train_groups)
        base = base_generator(project_id, cfg)
        log(
            f"DPO on {base} ({'LoRA' if cfg.lora else 'all weights'}): {len(train_groups)} prompts, {len(rows)} pairs"
            + ("" if cfg.feedback == "all" else f" ({cfg.feedback})")
        )
        model, tokenizer, history = train_dpo(cfg, base, rows, progress=progress)
        return (model, tokenizer), history, len(train_groups)

    def evaluate(self, project_id: int, artifact, cfg) -> dict:
        from xil.ranking.metrics import pairwise_accuracy

        if isinstance(cfg, PreferenceTuningConfig):
            return self._evaluate_generator(project_id, artifact, cfg)
        model, tokenizer = artifact
        metrics: dict = {"train_pairs": sum(len(g["pairs"]) for g in groups(project_id, "train", cfg.feedback))}
        held_out = groups(project_id, "test", cfg.feedback)
        if held_out:
            metrics["pairwise_acc"] = pairwise_accuracy(model, tokenizer, held_out, cfg.max_length)
            metrics["eval_pairs"] = sum(len(g["pairs"]) for g in held_out)
        return metrics

    def _evaluate_generator(self, project_id: int, artifact, cfg: PreferenceTuningConfig) -> dict:
        """Pairs of held-out prompts the fine-tuned generator prefers the way the annotators did (DPO's
        implicit reward against the model it started from)."""
        from xil.ranking.dpo import load_generator, preference_accuracy, preference_rows, uses_chat

        model, tokenizer = artifact
        metrics: dict = {"train_pairs": len(preference_rows(groups(project_id, "train", cfg.feedback)))}
        held_out = preference_rows(groups(project_id, "test", cfg.feedback))
        if held_out:
            reference = None if cfg.lora else load_generator(base_generator(project_id, cfg), "cpu")[0]
            chat = uses_chat(cfg, tokenizer)
            metrics["preference_acc"] = preference_accuracy(model, tokenizer, held_out, reference, chat)
            metrics["eval_pairs"] = len(held_out)
        return metrics

    def save(self, project_id: int, artifact, cfg) -> tuple[str, str, str, str]:
        model, tokenizer = artifact
        if isinstance(cfg, PreferenceTuningConfig):
            from xil.ranking.dpo import save_generator, weights_file

            base = base_generator(project_id, cfg)
            rel, sha = save_model_files(
                lambda folder: weights_file(save_generator(model, tokenizer, folder, base)), "generator"
            )
            return rel, sha, base, cfg.VERSION_METHOD
        rel, sha = save_model_folder(model, tokenizer, "reward")
        return rel, sha, cfg.backbone, cfg.VERSION_METHOD

    def load_file(self, path: str, cfg):
        return (_load_generator if isinstance(cfg, PreferenceTuningConfig) else _load_reward)(path)

    def load(self, row: ModelVersion):
        """``(model, tokenizer)`` of a reward model or a generator, cached."""
        return load(row, _load_generator if row.method == PreferenceTuningConfig.VERSION_METHOD else _load_reward)

    def progress_line(self, record: dict) -> str:
        if "margin" in record:
            return (
                f"epoch {record['epoch']}/{record['epochs']}: loss {record['loss']:.4f}, reward margin "
                f"{record['margin']:.3f}, pair accuracy {record['pair_accuracy']:.3f}"
            )
        return (
            f"epoch {record['epoch']}/{record['epochs']}: loss {record['loss']:.4f}, "
            f"train pair accuracy {record['train_acc']:.3f}"
        )

    def result_line(self, version: ModelVersion, metrics: dict) -> str:
        what = "generator" if version.method == PreferenceTuningConfig.VERSION_METHOD else "reward model"
        return f"{what} version {version.version}: {metrics}"

    def explanation_methods(self, row: ModelVersion) -> dict[str, str]:
        return {}

    def training_methods(self) -> dict[str, str]:
        return {RewardConfig.VERSION_METHOD: REWARD_TITLE, PreferenceTuningConfig.VERSION_METHOD: GENERATOR_TITLE}

    def rationale(self, ds, example: Example, marks: dict) -> tuple[str, dict, dict[str, np.ndarray]]:
        raise ValueError("a ranking project takes rankings (save_ranking), not marks")

    def export_fields(self, ds, example: Example, fb: Feedback) -> dict:
        return {
            "prompt": ds.prompts[example.idx],
            "candidates": ds.candidates[example.idx],
            "ranks": fb.payload.get("ranks"),
            "all_bad": fb.payload.get("all_bad", False),
            "correction": fb.payload.get("correction"),
            "generator": fb.payload.get("generator"),
        }

    def wrong_reason_on_marks(self, row: ModelVersion) -> float | None:
        return None
