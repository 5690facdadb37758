"""Middle tier: the Rank page's use cases. Annotators order K candidates per prompt (an edited answer
is also a correction for RiT); the latest reward model's scores and explanations sit beside them.
Training the reward model is the ranking adapter's (:mod:`xil.services.adapters.ranking`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import col

from db import Example, Feedback, ModelVersion, session_scope
from xil.data.prompts import PromptDataset
from xil.ranking.config import RewardConfig
from xil.ranking.metrics import kendall_tau
from xil.ranking.pairs import pairs_from_ranking
from xil.services.access import Actor, audit, judge_name, require
from xil.services.adapters.ranking import RankingAdapter, groups
from xil.services.assignment import open_examples, serve
from xil.services.catalog import dataset, get_example
from xil.services.feedback_store import annotation_progress, current_query, store_feedback
from xil.services.revision import add_correction
from xil.services.versions import get_model_version, latest_model_version

_reward = RankingAdapter()


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
    example = get_example(example_id)
    ds: PromptDataset = dataset(example.project_id)
    result = RankingView(
        example.id,
        example.project_id,
        example.name,
        example.split,
        ds.prompts[example.idx],
        ds.candidates[example.idx],
        ds.origins[example.idx],
    )
    reward = latest_model_version(example.project_id, RewardConfig.VERSION_METHOD)
    if reward is not None:
        result.scores = list(
            _scores(
                reward.id, reward.sha, reward.config.get("max_length", 256), result.prompt, tuple(result.candidates)
            )
        )
        result.model_version_id = reward.id
    return result


@functools.lru_cache(maxsize=256)
def _scores(version_id: int, sha: str, max_length: int, prompt: str, candidates: tuple[str, ...]) -> tuple[float, ...]:
    """Reward scores, once per (model, prompt): the Rank page reruns on every change of a rank."""
    from xil.ranking.scoring import score

    model, tokenizer = _reward.load(get_model_version(version_id))
    return tuple(score(model, tokenizer, prompt, list(candidates), max_length))


def next_prompts(project_id: int, annotator: str = "", n: int = 3, exclude: tuple[int, ...] = ()) -> list[int]:
    """Prompts for ``annotator`` in file order (training and held-out prompts alike: the held-out
    rankings evaluate the reward model): not ranked by them, with room under the project's overlap;
    the first is leased to a named annotator, as the annotation queue does."""
    ordered = [example_id for example_id, _ in open_examples(project_id, annotator, exclude, split=None)]
    return serve(ordered, annotator, n)


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
    actor: Actor | None = None,
) -> Feedback:
    """Store a ranking (1 = best, equal numbers tie, None unranked); it supersedes this annotator's
    earlier one. An edited answer (``correction``) also goes into the RiT corpus.

    What produced the candidates (a file, or a generator model) is kept in the payload as
    ``generator``; ``reward_model_version_id`` records the reward model whose scores were on screen. A
    signed-in ``actor`` ranks under their own name and needs the judge permission."""
    example = get_example(example_id)
    annotator = judge_name(actor, annotator, example.project_id)
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
        "generator": ds.origins[example.idx],
        "reward_model_version_id": reward_model_version_id,
    }
    # model_version_id stays empty: the candidates came from the row's origin (a file, a generator or a generator version)
    row = store_feedback(example, annotator, model_version_id=None, kind="ranking", payload=payload)
    if correction is not None:
        add_correction(
            correction, "answer", ds.prompts[example.idx], project_id=example.project_id, annotator=annotator
        )
    return row


def explain(row: ModelVersion, prompt: str, chosen: str, rejected: str) -> list[tuple[str, float]]:
    """Words of ``chosen`` that push the reward model towards it over ``rejected``."""
    return _explain(row.id, row.sha, row.config.get("max_length", 256), prompt, chosen, rejected)


@functools.lru_cache(maxsize=64)
def _explain(
    version_id: int, sha: str, max_length: int, prompt: str, chosen: str, rejected: str
) -> list[tuple[str, float]]:
    from xil.ranking.attribution import explain_preference

    model, tokenizer = _reward.load(get_model_version(version_id))
    return explain_preference(model, tokenizer, prompt, chosen, rejected, max_length=max_length)


def export_preferences(project_id: int, path, actor: Actor | None = None) -> Path:
    """The rankings as TRL reward / DPO pairs: ``prompt``, ``chosen``, ``rejected``."""
    from xil.ranking.export import to_preference_rows, write_preference_dataset

    require(actor, project_id, "export")
    written = write_preference_dataset(to_preference_rows(groups(project_id)), path)
    audit(actor, "export", project_id, rows="preference pairs", file=written.name)
    return written


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
    annotator = annotator.strip()
    if not annotator:
        return []
    ds: PromptDataset = dataset(project_id)
    with session_scope() as session:
        rows = session.execute(
            current_query(project_id)
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
    example = get_example(example_id)
    return next((r for r in my_rankings(example.project_id, annotator) if r.example_id == example_id), None)


def agreement(ranks: list[int | None], scores: list[float]) -> float | None:
    """Kendall tau between an annotator's ranks (1 is best) and the reward model's scores, over the
    answers the annotator ranked; None with fewer than two."""
    kept = [i for i, r in enumerate(ranks) if r is not None]
    if len(kept) < 2:
        return None
    return kendall_tau([-ranks[i] for i in kept], [scores[i] for i in kept])
