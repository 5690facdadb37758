"""Above the work tier: did the generator get better? Ask people, blind. An annotator sees a held-out
prompt with one answer from each of two answer sources (:mod:`.generation`: the base generator, a DPO
version, best-of-n, with corrections), in random order and without their names, and picks the better
one or a tie. Win rates with a 95% Wilson interval say how sure the difference is, and beside them the
newest reward model's choices on the same answers say whether it agrees with people.

Held-out prompts only: the generator versions were trained on the rankings of the training prompts.
"""

from __future__ import annotations

import random
import secrets
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from db import Comparison, session_scope
from xil.data.prompts import PromptDataset
from xil.ranking.config import RewardConfig
from xil.ranking.generate import GenerationConfig
from xil.ranking.metrics import wilson_interval
from xil.services.access import Actor, audit, judge_name, require
from xil.services.adapters.ranking import RankingAdapter
from xil.services.catalog import dataset, dataset_rows, examples, get_example, get_project
from xil.services.generation import AnswerSource, generate
from xil.services.versions import latest_model_version, model_lock

CHOICES = ("first", "second", "tie")
_adapter = RankingAdapter()
_rng = random.Random()  # the order on screen and the prompt served; tests may seed it


@dataclass(frozen=True)
class BlindPair:
    """What the annotator judges: a prompt and two answers in display order. The sources stay here for
    the save and are never shown (the page knows them, the annotator must not)."""

    project_id: int
    example_id: int
    prompt: str
    first: str
    second: str
    first_source: str  # answer-source keys
    second_source: str
    a_first: bool  # the first answer is from source a (the first of the two sources asked for)

    @property
    def sources(self) -> tuple[str, str]:
        """``(source a, source b)`` in the order they were asked for."""
        return (self.first_source, self.second_source) if self.a_first else (self.second_source, self.first_source)


@dataclass(frozen=True)
class WinRate:
    """Blind comparisons of one pair of sources (either order counts), from ``source_a``'s side: it is
    the newer source (a generator version beats the base in numbering, best-of-n and corrections
    count as more), so a rate above one half reads "it got better"."""

    source_a: str
    source_b: str
    n: int
    wins_a: int
    wins_b: int
    ties: int
    rate: float  # of a, a tie counting one half
    low: float  # the 95% Wilson interval of the rate
    high: float
    reward_n: int  # comparisons with a reward model's choice
    reward_rate: float | None  # the reward model's win rate of a over them; None without any


def _held_out(project_id: int) -> dict[str, int]:
    """``{prompt: example id}`` of the project's held-out prompts, each prompt once (a later round of
    candidates repeats a prompt as a new example; the first one stands for it)."""
    if get_project(project_id).task != "ranking":
        raise ValueError("blind comparisons are for ranking projects")
    ds: PromptDataset = dataset(project_id)
    out: dict[str, int] = {}
    for example in examples(project_id, "test"):
        out.setdefault(ds.prompts[example.idx], example.id)
    return out


def pair_key(a: str, b: str) -> str:
    """The two source keys in sorted order: the same pair whichever was asked for first."""
    return " | ".join(sorted((a, b)))


def _between(a: str, b: str):
    """Rows of this pair of sources, in either order."""
    return Comparison.pair == pair_key(a, b)


def _compared(project_id: int, a: AnswerSource, b: AnswerSource, annotator: str) -> set[str]:
    """The prompts ``annotator`` compared for this pair of sources."""
    with session_scope() as session:
        done = set(
            session.scalars(
                select(Comparison.example_id).where(
                    Comparison.project_id == project_id, Comparison.annotator == annotator, _between(a.key, b.key)
                )
            )
        )
    if not done:
        return set()
    ds: PromptDataset = dataset(project_id)
    rows = dataset_rows(project_id)
    return {ds.prompts[rows[example_id]] for example_id in done}


def _check_pair(a: AnswerSource, b: AnswerSource) -> None:
    if a.key == b.key:
        raise ValueError(f"pick two different answer sources: both are {a.key!r}")


def progress(project_id: int, a: AnswerSource, b: AnswerSource, annotator: str) -> tuple[int, int]:
    """``(held-out prompts compared, held-out prompts)`` for ``annotator`` and this pair of sources."""
    held_out = _held_out(project_id)
    done = _compared(project_id, a, b, annotator.strip()) if annotator.strip() else set()
    return len(done & held_out.keys()), len(held_out)


def next_pair(
    project_id: int,
    a: AnswerSource,
    b: AnswerSource,
    annotator: str,
    actor: Actor | None = None,
    cfg: GenerationConfig | None = None,
) -> BlindPair | None:
    """A held-out prompt ``annotator`` has not compared for these two sources yet (in either order), drawn
    at random so that a few comparisons by many people cover many prompts, with one freshly sampled
    answer from each source in random order; None when every held-out prompt is done. A new seed per call:
    a fixed one would show the same two answers again to everyone, and one sample is not the source.
    Needs the judge permission (a signed-in ``actor`` compares under their own name)."""
    _check_pair(a, b)
    annotator = judge_name(actor, annotator, project_id)
    held_out = _held_out(project_id)
    left = sorted(held_out.keys() - _compared(project_id, a, b, annotator))
    if not left:
        return None
    prompt = _rng.choice(left)
    cfg = cfg or GenerationConfig()
    [answer_a] = generate(project_id, [prompt], a, replace(cfg, seed=secrets.randbits(31)))
    [answer_b] = generate(project_id, [prompt], b, replace(cfg, seed=secrets.randbits(31)))
    if _rng.random() < 0.5:
        return BlindPair(project_id, held_out[prompt], prompt, answer_a.text, answer_b.text, a.key, b.key, True)
    return BlindPair(project_id, held_out[prompt], prompt, answer_b.text, answer_a.text, b.key, a.key, False)


def _preference(score_a: float, score_b: float) -> str:
    return "a" if score_a > score_b else "b" if score_b > score_a else "tie"


def _reward_choice(project_id: int, prompt: str, answer_a: str, answer_b: str) -> tuple[str | None, int | None]:
    """What the newest reward model prefers, and its version id; ``(None, None)`` without one. It scores
    the answers against the prompt as the annotator saw it (without retrieved corrections)."""
    row = latest_model_version(project_id, RewardConfig.VERSION_METHOD)
    if row is None:
        return None, None
    from xil.ranking.scoring import score

    model, tokenizer = _adapter.load(row)
    with model_lock:
        score_a, score_b = score(model, tokenizer, prompt, [answer_a, answer_b], row.config.get("max_length", 256))
    return _preference(score_a, score_b), row.id


def save_choice(
    pair: BlindPair, choice: Literal["first", "second", "tie"], annotator: str, actor: Actor | None = None
) -> Comparison:
    """Store the annotator's choice between the answers on screen, turned into source terms (``a`` is
    the first source asked for), with the newest reward model's choice on the same two answers."""
    if choice not in CHOICES:
        raise ValueError(f"choice must be one of {', '.join(CHOICES)}; got {choice!r}")
    example = get_example(pair.example_id)
    if example.project_id != pair.project_id:
        raise ValueError(f"example {pair.example_id} is not in project {pair.project_id}")
    annotator = judge_name(actor, annotator, pair.project_id)
    source_a, source_b = pair.sources
    answer_a, answer_b = (pair.first, pair.second) if pair.a_first else (pair.second, pair.first)
    picked = {"first": pair.a_first, "second": not pair.a_first}
    stored = "tie" if choice == "tie" else "a" if picked[choice] else "b"
    reward_choice, reward_id = _reward_choice(pair.project_id, pair.prompt, answer_a, answer_b)
    row = Comparison(
        project_id=pair.project_id,
        example_id=pair.example_id,
        annotator=annotator,
        source_a=source_a,
        source_b=source_b,
        pair=pair_key(source_a, source_b),
        answer_a=answer_a,
        answer_b=answer_b,
        choice=stored,
        reward_choice=reward_choice,
        reward_model_version_id=reward_id,
    )
    try:  # a second tab, a double click: one vote per prompt and pair (a unique constraint)
        with session_scope(write=True) as session:
            session.add(row)
            session.flush()
            session.refresh(row)
    except IntegrityError as exc:
        raise ValueError("you compared this prompt for these two sources already") from exc
    return row


def comparisons(project_id: int) -> list[Comparison]:
    """The project's blind comparisons, oldest first."""
    with session_scope() as session:
        query = select(Comparison).where(Comparison.project_id == project_id).order_by(col(Comparison.id))
        return list(session.scalars(query))


def _newer_first(a: str, b: str) -> tuple[str, str]:
    """The pair with the newer source first: a higher version (base is oldest), then more of best-of-n,
    then with corrections; the key breaks what is left."""

    def rank(key: str) -> tuple:
        source = AnswerSource.from_key(key)
        return (-1 if source.version_id is None else source.version_id, source.best_of, source.corrections, key)

    return (a, b) if rank(a) >= rank(b) else (b, a)


def _flip(choice: str | None, flipped: bool) -> str | None:
    return {"a": "b", "b": "a"}.get(choice, choice) if flipped else choice


def win_rates(project_id: int) -> list[WinRate]:
    """Per pair of sources (the same two in either order are one pair), the people's win rate of the
    newer one with its 95% Wilson interval, and the reward model's over the same comparisons; most
    compared pairs first."""
    people: dict[tuple[str, str], list[str]] = defaultdict(list)
    reward: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in comparisons(project_id):
        pair = _newer_first(row.source_a, row.source_b)
        flipped = pair != (row.source_a, row.source_b)
        people[pair].append(_flip(row.choice, flipped))
        if row.reward_choice is not None:
            reward[pair].append(_flip(row.reward_choice, flipped))
    out = []
    for (a, b), choices in people.items():
        n, wins_a, wins_b = len(choices), choices.count("a"), choices.count("b")
        ties = n - wins_a - wins_b
        low, high = wilson_interval(wins_a + ties / 2, n)
        machine = reward.get((a, b), [])
        reward_rate = (machine.count("a") + machine.count("tie") / 2) / len(machine) if machine else None
        out.append(
            WinRate(a, b, n, wins_a, wins_b, ties, (wins_a + ties / 2) / n, low, high, len(machine), reward_rate)
        )
    return sorted(out, key=lambda w: (-w.n, w.source_a, w.source_b))


def export_comparisons(project_id: int, path: str | Path, actor: Actor | None = None) -> Path:
    """The comparisons as JSONL: prompt, sources, answers, choice, annotator, time; where not a tie also
    ``chosen`` and ``rejected`` (a comparison is a preference pair too, for a reward model or DPO).
    Needs the export permission; audited."""
    from xil.export.writers import write_rows

    require(actor, project_id, "export")
    ds: PromptDataset = dataset(project_id)
    idx = dataset_rows(project_id)
    rows = []
    for c in comparisons(project_id):
        row = {
            "prompt": ds.prompts[idx[c.example_id]],
            "source_a": c.source_a,
            "source_b": c.source_b,
            "answer_a": c.answer_a,
            "answer_b": c.answer_b,
            "choice": c.choice,
            "annotator": c.annotator,
            "created_at": c.created_at.isoformat(),
        }
        if c.choice != "tie":
            row["chosen"], row["rejected"] = (c.answer_a, c.answer_b) if c.choice == "a" else (c.answer_b, c.answer_a)
        rows.append(row)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_rows(rows, path, "jsonl")
    audit(actor, "export", project_id, rows="comparisons", file=path.name)
    return path
