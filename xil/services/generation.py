"""Middle tier: answers from a ranking project's generator. A *source* is the project's base generator
or one of its generator versions (DPO), optionally with best-of-n (the newest reward model keeps the
top-scored of n samples) and with retrieved corrections in the prompt (RiT). New rounds of candidates
for the Rank page come from a source, so the loop (rank, train, generate) goes on with the newest version.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from db import ModelVersion
from xil import config
from xil.data.prompts import PromptDataset
from xil.ranking.config import RewardConfig
from xil.ranking.dpo import PreferenceTuningConfig
from xil.ranking.generate import GenerationConfig, best_of_n, load_causal_lm, sample_candidates
from xil.services.access import Actor, audit, require
from xil.services.adapters.ranking import RankingAdapter, project_generator
from xil.services.catalog import dataset, extend_project, get_project
from xil.services.revision import revise
from xil.services.versions import get_model_version, latest_model_version, list_model_versions, model_lock

_adapter = RankingAdapter()
GENERATOR_METHOD = PreferenceTuningConfig.VERSION_METHOD


@dataclass(frozen=True)
class AnswerSource:
    """Where answers come from: ``version_id`` (a generator version; None: the base generator), the
    ``best_of`` samples the newest reward model picks from (1: no picking), and ``corrections``
    (retrieved RiT corrections put in the prompt)."""

    version_id: int | None = None
    best_of: int = 1
    corrections: bool = False

    def __post_init__(self) -> None:
        if self.best_of < 1:
            raise ValueError(f"best-of-n needs n of at least 1, not {self.best_of}")

    @property
    def key(self) -> str:
        """A stable text form, stored with comparisons: ``base``, ``v12``, ``v12+best-of-4+corrections``."""
        key = "base" if self.version_id is None else f"v{self.version_id}"
        if self.best_of > 1:
            key += f"+best-of-{self.best_of}"
        return key + ("+corrections" if self.corrections else "")

    @classmethod
    def from_key(cls, key: str) -> AnswerSource:
        head, *options = key.strip().split("+")
        if head != "base" and not (head.startswith("v") and head[1:].isdigit()):
            raise ValueError(f"unknown answer source {key!r}")
        best_of = 1
        for option in options:
            if option.startswith("best-of-") and option[8:].isdigit():
                best_of = int(option[8:])
            elif option != "corrections":
                raise ValueError(f"unknown option {option!r} in answer source {key!r}")
        return cls(None if head == "base" else int(head[1:]), best_of, "corrections" in options)


@dataclass
class Answer:
    text: str
    prompt: str  # as the generator saw it: with the retrieved corrections when asked for
    retrieved: list[dict] = field(default_factory=list)  # the RiT corrections used: text, kind, similarity ...
    candidates: list[str] = field(default_factory=list)  # best-of-n: every sample, and their rewards
    scores: list[float] | None = None


def generator_versions(project_id: int) -> list[ModelVersion]:
    return [v for v in list_model_versions(project_id) if v.method == GENERATOR_METHOD]


def base_generator(project_id: int, versions: list[ModelVersion] | None = None) -> str | None:
    """The project's generator; for a project whose candidates came from a file, the model its newest
    generator version was fine-tuned from (None before there is one). ``versions``: the project's
    generator versions, when the caller has them already."""
    versions = generator_versions(project_id) if versions is None else versions
    return project_generator(project_id) or (versions[-1].arch if versions else None)


def answer_sources(project_id: int) -> dict[str, str]:
    """``{key: title}`` of the generators a project's answers can come from: the base generator and
    every generator version, newest last."""
    out = {}
    versions = generator_versions(project_id)  # one query: this runs on every rerun of three pages
    base = base_generator(project_id, versions)
    if base:
        out["base"] = f"Base generator ({base})"
    for v in versions:
        out[f"v{v.id}"] = f"Generator v{v.version} (DPO on {v.n_feedback} prompts)"
    return out


def source_title(project_id: int, source: AnswerSource) -> str:
    title = answer_sources(project_id).get(AnswerSource(source.version_id).key, source.key)
    if source.best_of > 1:
        title += f", best of {source.best_of}"
    return title + (", with corrections" if source.corrections else "")


@functools.lru_cache(maxsize=2)
def _base_model(name_or_path: str):
    return load_causal_lm(name_or_path)


def _generator(project_id: int, version_id: int | None):
    if version_id is None:
        base = base_generator(project_id)
        if base is None:
            raise ValueError(
                "this project has no generator: its candidates came from a file. Train one on the Train page "
                "(Generator, DPO) from a causal LM you name"
            )
        if config.looks_like_path(base) and not Path(base).exists():
            raise ValueError(f"the project's generator {base} is gone: put the model back there")
        return _base_model(base)
    row = get_model_version(version_id)
    if row.project_id != project_id or row.method != GENERATOR_METHOD:
        raise ValueError(f"model version {version_id} is no generator of this project")
    return _adapter.load(row)


def sampling(project_id: int) -> GenerationConfig:
    """How the project's candidates were sampled (its import's GenerationConfig; defaults for a file)."""
    return GenerationConfig.from_dict(dataset(project_id).generation or {})


def newest_source(project_id: int, corrections: bool = False) -> AnswerSource:
    """The newest generator version, else the base generator."""
    newest = generator_versions(project_id)
    return AnswerSource(newest[-1].id if newest else None, corrections=corrections)


def generate(
    project_id: int,
    prompts: list[str],
    source: AnswerSource,
    cfg: GenerationConfig | None = None,
    actor: Actor | None = None,
) -> list[Answer]:
    """One answer per prompt from ``source`` (sampled with ``cfg``; its ``k`` is ignored). Best-of-n
    scores the samples against the prompt as asked (the reward model never saw retrieved corrections).
    Needs the judge permission (it runs the generator on the studio's machine)."""
    require(actor, project_id, "judge")
    cfg = cfg or sampling(project_id)
    revised = [revise(p) if source.corrections else {"prompt": p, "retrieved": []} for p in prompts]
    sent = [r["prompt"] for r in revised]
    generator = _generator(project_id, source.version_id)
    with model_lock:
        if source.best_of == 1:
            texts = [c[0] for c in sample_candidates(generator, sent, replace(cfg, k=1))]
            return [Answer(t, s, r["retrieved"]) for t, s, r in zip(texts, sent, revised, strict=True)]
        reward_row = latest_model_version(project_id, RewardConfig.VERSION_METHOD)
        if reward_row is None:
            raise ValueError("best-of-n needs a reward model: train one from the rankings on the Train page")
        picked = best_of_n(
            generator,
            _adapter.load(reward_row),
            sent,
            replace(cfg, k=source.best_of),
            reward_row.config.get("max_length", 256),
            judged_prompts=prompts,
        )
    return [
        Answer(best, s, r["retrieved"], candidates, scores)
        for (best, _, candidates, scores), s, r in zip(picked, sent, revised, strict=True)
    ]


def new_round(
    project_id: int,
    source: AnswerSource | None = None,
    k: int = 4,
    limit: int | None = None,
    actor: Actor | None = None,
) -> list[int]:
    """K new candidates for (up to ``limit`` of) the project's prompts from ``source`` (default: the
    newest generator version, else the base generator; its best-of-n is not used: annotators rank
    plain samples), appended as new examples to rank; their ids. Needs the train permission."""
    require(actor, project_id, "train")
    project = get_project(project_id)
    if project.task != "ranking":
        raise ValueError("new rounds of candidates are for ranking projects")
    if source is None:
        source = newest_source(project_id)
    ds: PromptDataset = dataset(project_id)
    first = {}
    for i, prompt in enumerate(ds.prompts):
        first.setdefault(prompt, i)
    rows = list(first.values())[:limit]
    if not rows:
        raise ValueError("the project has no prompts")
    cfg = replace(sampling(project_id), k=k, seed=secrets.randbits(31))  # another round: other samples
    revised = [revise(ds.prompts[i])["prompt"] if source.corrections else ds.prompts[i] for i in rows]
    with model_lock:
        candidates = sample_candidates(_generator(project_id, source.version_id), revised, cfg)
    origin = source.key if source.version_id is not None else base_generator(project_id)
    tag = f"r{len({i.split('@', 1)[1] for i in ds.ids if '@' in i}) + 2}-{source.key}"  # the file is round 1
    ids = extend_project(project_id, ds.with_round(rows, candidates, origin, tag), project.data_sha)
    audit(actor, "new_round", project_id, source=source.key, prompts=len(rows), k=k)
    return ids
