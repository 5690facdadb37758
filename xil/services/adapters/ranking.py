"""The ranking task: annotators order K candidate answers per prompt; the rankings become
Bradley-Terry preference pairs for a reward model on the MiniLM backbone."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from db import Example, Feedback, ModelVersion
from xil.data.prompts import PromptDataset
from xil.ranking.config import RewardConfig
from xil.ranking.pairs import pairs_from_ranking, pairs_with_correction
from xil.registry import Registry
from xil.services.adapters.base import no_explanations
from xil.services.catalog import dataset, dataset_rows
from xil.services.feedback_store import training_feedback
from xil.services.versions import load, save_model_folder

REWARD_TITLE = "Bradley-Terry reward model"


def _load_reward(path: str):
    from xil.ranking.reward import load_reward_model

    return load_reward_model(path)


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
    methods: ClassVar[Registry] = Registry("reward training method", [])  # no feedback methods: pairs only

    content = staticmethod(no_explanations("ranking"))
    explain = staticmethod(no_explanations("ranking"))
    queue_scores = staticmethod(no_explanations("ranking"))
    predicted_classes = staticmethod(no_explanations("ranking"))

    def first_config(self) -> None:
        return None  # a reward model needs rankings first

    def check(self, project_id: int, cfg) -> None:
        if not isinstance(cfg, RewardConfig):
            raise ValueError("reward models train on ranking projects (RewardConfig settings)")
        if not groups(project_id, "train", cfg.feedback):
            if cfg.feedback != "all" and groups(project_id, "train"):
                raise ValueError(
                    f"no ranked training prompts in the {cfg.feedback!r} feedback yet: "
                    + ("review some rankings first" if cfg.feedback == "accepted" else "no prompt has a majority order")
                    + ', or train on "all"'
                )
            raise ValueError("no ranked training prompts yet: rank some on the Rank page first")

    def train(self, project_id: int, cfg: RewardConfig, progress, log):
        from xil.ranking.reward import train_reward

        train_groups = groups(project_id, "train", cfg.feedback)
        n_pairs = sum(len(g["pairs"]) for g in train_groups)
        log(
            f"reward model on {cfg.backbone}: {len(train_groups)} prompts, {n_pairs} pairs"
            + ("" if cfg.feedback == "all" else f" ({cfg.feedback})")
        )
        model, tokenizer, history = train_reward(cfg, train_groups, progress=progress)
        return (model.cpu().eval(), tokenizer), history, len(train_groups)

    def evaluate(self, project_id: int, artifact, cfg: RewardConfig) -> dict:
        from xil.ranking.metrics import pairwise_accuracy

        model, tokenizer = artifact
        metrics: dict = {"train_pairs": sum(len(g["pairs"]) for g in groups(project_id, "train", cfg.feedback))}
        held_out = groups(project_id, "test", cfg.feedback)
        if held_out:
            metrics["pairwise_acc"] = pairwise_accuracy(model, tokenizer, held_out, cfg.max_length)
            metrics["eval_pairs"] = sum(len(g["pairs"]) for g in held_out)
        return metrics

    def save(self, project_id: int, artifact, cfg: RewardConfig) -> tuple[str, str, str, str]:
        model, tokenizer = artifact
        rel, sha = save_model_folder(model, tokenizer, "reward")
        return rel, sha, cfg.backbone, "bradley_terry"

    def load(self, row: ModelVersion):
        """``(model, tokenizer)`` of a reward model, cached."""
        return load(row, _load_reward)

    def progress_line(self, record: dict) -> str:
        return (
            f"epoch {record['epoch']}/{record['epochs']}: loss {record['loss']:.4f}, "
            f"train pair accuracy {record['train_acc']:.3f}"
        )

    def result_line(self, version: ModelVersion, metrics: dict) -> str:
        return f"reward model version {version.version}: {metrics}"

    def explanation_methods(self, row: ModelVersion) -> dict[str, str]:
        return {}

    def training_methods(self) -> dict[str, str]:
        return {"bradley_terry": REWARD_TITLE}

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
