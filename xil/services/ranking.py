"""The ranking adapter: annotators order K candidates per prompt; the rankings become Bradley-Terry
pairs for a reward model trained as a job; an edited answer is also a correction for RiT."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from db import Example, Feedback, Job, ModelVersion, session_scope
from xil import jobs, storage
from xil.data.prompts import PromptDataset
from xil.ranking.config import RewardConfig
from xil.ranking.pairs import pairs_from_ranking, pairs_with_correction
from xil.services.annotate import _get_example, annotation_progress, store_feedback
from xil.services.models import insert_version, latest_model_version, save_model_folder
from xil.services.projects import dataset, get_project


@dataclass
class RankingView:
    example_id: int
    project_id: int
    name: str
    split: str
    prompt: str
    candidates: list[str]
    source: str
    scores: list[float] | None = None  # the latest reward model's, when there is one
    model_version_id: int | None = None


def view(example_id: int) -> RankingView:
    example = _get_example(example_id)
    ds: PromptDataset = dataset(example.project_id)
    result = RankingView(
        example.id,
        example.project_id,
        example.name,
        example.split,
        ds.prompts[example.idx],
        ds.candidates[example.idx],
        ds.source,
    )
    reward = latest_model_version(example.project_id)
    if reward is not None:
        result.scores = list(
            _scores(
                reward.path, reward.sha, reward.config.get("max_length", 256), result.prompt, tuple(result.candidates)
            )
        )
        result.model_version_id = reward.id
    return result


@functools.lru_cache(maxsize=256)
def _scores(rel: str, sha: str, max_length: int, prompt: str, candidates: tuple[str, ...]) -> tuple[float, ...]:
    """Reward scores, once per (model, prompt): the Rank page reruns on every change of a rank."""
    from xil.ranking.scoring import score

    model, tokenizer = _load(rel, sha)
    return tuple(score(model, tokenizer, prompt, list(candidates), max_length))


def next_prompts(project_id: int, annotator: str = "", n: int = 3, exclude: tuple[int, ...] = ()) -> list[int]:
    """Prompts nobody has ranked yet, in file order (training and held-out prompts alike: the
    held-out rankings evaluate the reward model)."""
    with session_scope() as session:
        judged = select(Feedback.example_id).where(Feedback.project_id == project_id)
        query = (
            select(Example.id)
            .where(
                Example.project_id == project_id, col(Example.id).not_in(judged), col(Example.id).not_in(list(exclude))
            )
            .order_by(col(Example.idx))
            .limit(n)
        )
        return list(session.scalars(query))


def progress(project_id: int) -> tuple[int, int]:
    """``(prompts ranked, prompts)``: held-out prompts count too, their rankings evaluate the model."""
    return annotation_progress(project_id, split=None)


def save_ranking(
    example_id: int,
    annotator: str,
    ranks: list[int | None],
    all_bad: bool = False,
    correction: str | None = None,
    reward_model_version_id: int | None = None,
) -> Feedback:
    """Store a ranking (1 = best, equal numbers tie, None unranked); it supersedes this annotator's
    earlier one. An edited answer (``correction``) also goes into the RiT corpus.

    What produced the candidates (a file, or a generator model) is kept in the payload as
    ``generator``; ``reward_model_version_id`` records the reward model whose scores were on screen."""
    annotator = annotator.strip()
    if not annotator:
        raise ValueError("say who you are (annotator name) before saving feedback")
    example = _get_example(example_id)
    ds: PromptDataset = dataset(example.project_id)
    candidates = ds.candidates[example.idx]
    if len(ranks) != len(candidates):
        raise ValueError(f"{len(ranks)} ranks for {len(candidates)} candidates")
    pairs_from_ranking(candidates, ranks, all_bad)  # validates the ranks
    correction = (correction or "").strip() or None
    if not all_bad and correction is None and sum(r is not None for r in ranks) < 2:
        raise ValueError("rank at least two candidates, mark them all bad, or write a better answer")
    payload = {
        "ranks": ranks,
        "all_bad": all_bad,
        "correction": correction,
        "generator": ds.source,
        "reward_model_version_id": reward_model_version_id,
    }
    # model_version_id stays empty: the candidates came from ds.source, not from a studio model version
    row = store_feedback(example, annotator, model_version_id=None, kind="ranking", payload=payload)
    if correction is not None:
        from xil.services.revision import add_correction

        add_correction(
            correction, "answer", ds.prompts[example.idx], project_id=example.project_id, annotator=annotator
        )
    return row


def groups(project_id: int, split: str | None = None) -> list[dict]:
    """``{prompt, candidates, pairs}`` per ranked prompt (latest ranking of any annotator); an edited
    answer joins the candidates and beats every one of them."""
    from xil.services.annotate import current_feedback

    ds: PromptDataset = dataset(project_id)
    with session_scope() as session:
        rows = dict(session.execute(select(Example.id, Example.idx).where(Example.project_id == project_id)).all())
    out = []
    for fb in current_feedback(project_id):
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


def queue_reward_training(project_id: int, cfg: RewardConfig) -> Job:
    if get_project(project_id).task != "ranking":
        raise ValueError("reward models train on ranking projects")
    if cfg.epochs < 1 or cfg.batch_prompts < 1 or cfg.lr <= 0 or cfg.max_length < 16:
        raise ValueError(
            "epochs and prompts per batch must be at least 1, the learning rate positive, max length >= 16"
        )
    if not groups(project_id, "train"):
        raise ValueError("no ranked training prompts yet: rank some on the Rank page first")
    parent = latest_model_version(project_id)
    return jobs.enqueue(project_id, "train", {"config": cfg.to_dict(), "parent_id": parent.id if parent else None})


def run_reward_job(job: Job, ctx: jobs.JobContext) -> tuple[dict, int]:
    from xil.jobs.worker import JobCancelled
    from xil.ranking.metrics import pairwise_accuracy
    from xil.ranking.reward import train_reward
    from xil.train import Cancelled

    cfg = RewardConfig.from_dict(job.spec["config"])
    train_groups, held_out = groups(job.project_id, "train"), groups(job.project_id, "test")
    n_pairs = sum(len(g["pairs"]) for g in train_groups)
    ctx.report(0.0, log=f"reward model on {cfg.backbone}: {len(train_groups)} prompts, {n_pairs} pairs")

    def progress(record: dict) -> bool:
        line = f"epoch {record['epoch']}/{record['epochs']}: loss {record['loss']:.4f}, train pair accuracy {record['train_acc']:.3f}"
        return ctx.report(record["epoch"] / record["epochs"] * 0.95, record, line)

    try:
        model, tokenizer, history = train_reward(cfg, train_groups, progress=progress)
    except Cancelled as exc:
        raise JobCancelled(str(exc)) from exc
    model = model.cpu().eval()
    metrics = {"train_pairs": n_pairs, "train_s": round(sum(r["seconds"] for r in history), 3)}
    if held_out:
        metrics["pairwise_acc"] = pairwise_accuracy(model, tokenizer, held_out, cfg.max_length)
        metrics["eval_pairs"] = sum(len(g["pairs"]) for g in held_out)
    version = register_reward_model(
        job.project_id, model, tokenizer, cfg, metrics, len(train_groups), job.spec.get("parent_id"), job=ctx
    )
    ctx.report(1.0, log=f"reward model version {version.version}: {metrics}")
    return metrics, version.id


def register_reward_model(
    project_id, model, tokenizer, cfg: RewardConfig, metrics, n_feedback, parent_id, job: jobs.JobContext | None = None
) -> ModelVersion:
    rel, sha = save_model_folder(model, tokenizer, "reward")
    return insert_version(
        project_id,
        rel,
        sha,
        arch=cfg.backbone,
        method="bradley_terry",
        config=cfg.to_dict(),
        metrics=metrics,
        n_feedback=n_feedback,
        parent_id=parent_id,
        job=job,
    )


@functools.lru_cache(maxsize=2)
def _load(rel: str, sha: str):
    from xil.ranking.reward import load_reward_model

    return load_reward_model(str(storage.absolute(rel)))


def load_reward(row: ModelVersion):
    return _load(row.path, row.sha)


def explain(row: ModelVersion, prompt: str, chosen: str, rejected: str) -> list[tuple[str, float]]:
    """Words of ``chosen`` that push the reward model towards it over ``rejected``."""
    return _explain(row.path, row.sha, row.config.get("max_length", 256), prompt, chosen, rejected)


@functools.lru_cache(maxsize=64)
def _explain(rel: str, sha: str, max_length: int, prompt: str, chosen: str, rejected: str) -> list[tuple[str, float]]:
    from xil.ranking.attribution import explain_preference

    model, tokenizer = _load(rel, sha)
    return explain_preference(model, tokenizer, prompt, chosen, rejected, max_length=max_length)


def export_preferences(project_id: int, path) -> None:
    """The rankings as TRL reward / DPO pairs: ``prompt``, ``chosen``, ``rejected``."""
    from xil.ranking.export import to_preference_rows, write_preference_dataset

    return write_preference_dataset(to_preference_rows(groups(project_id)), path)


# --- review: an annotator's own rankings, to go back to and edit -------------------------------------


@dataclass
class SavedRanking:
    example_id: int
    name: str
    prompt: str
    ranks: list[int | None]
    all_bad: bool
    correction: str | None
    feedback_id: int


def my_rankings(project_id: int, annotator: str) -> list[SavedRanking]:
    """``annotator``'s current rankings, most recent first: the Rank page's history, where any of
    them can be opened again and saved anew (the new row supersedes the old one)."""
    from xil.services.annotate import _current

    annotator = annotator.strip()
    if not annotator:
        return []
    ds: PromptDataset = dataset(project_id)
    with session_scope() as session:
        rows = session.execute(
            _current(session, project_id)
            .add_columns(Example.name, Example.idx)
            .join(Example, col(Example.id) == Feedback.example_id)
            .where(Feedback.annotator == annotator, Feedback.kind == "ranking")
            .order_by(col(Feedback.id).desc())
        ).all()
    return [
        SavedRanking(
            fb.example_id,
            name,
            ds.prompts[idx],
            list(fb.payload.get("ranks", [])),
            bool(fb.payload.get("all_bad", False)),
            fb.payload.get("correction"),
            fb.id,
        )
        for fb, name, idx in rows
    ]


def my_ranking(example_id: int, annotator: str) -> SavedRanking | None:
    """``annotator``'s current ranking of one prompt, to fill the form when it is opened again."""
    example = _get_example(example_id)
    return next((r for r in my_rankings(example.project_id, annotator) if r.example_id == example_id), None)
