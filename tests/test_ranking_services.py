"""Ranking projects end to end: the demo, saving rankings, pairs, the reward job, export, the Rank page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import PROJECT_ROOT
from tests.tiny_models import tiny_classifier
from xil import services
from xil.export import read_rows
from xil.models.text import save_classifier
from xil.ranking.config import RewardConfig
from xil.ranking.prompts import demo_prompts
from xil.services import ranking, revision

APP = str(PROJECT_ROOT / "streamlit_app.py")


@pytest.fixture
def prompts():
    services.seed_demo(train=False)
    [project] = [p for p in services.list_projects() if p.task == "ranking"]
    return project


def reference_ranks(example_id: int) -> list[int]:
    item = ranking.view(example_id)
    return next(r["ranks"] for r in demo_prompts() if r["prompt"] == item.prompt)


def test_demo_ranking_project(prompts):
    assert ranking.progress(prompts.id) == (0, len(demo_prompts()))
    item = ranking.view(ranking.next_prompts(prompts.id)[0])
    assert item.prompt == demo_prompts()[0]["prompt"] and len(item.candidates) == 4 and item.scores is None


def test_save_ranking_validates_supersedes_and_feeds_rit(prompts):
    example = ranking.next_prompts(prompts.id)[0]
    with pytest.raises(ValueError, match="annotator"):
        ranking.save_ranking(example, " ", [1, 2, 3, 4])
    with pytest.raises(ValueError, match="ranks for"):
        ranking.save_ranking(example, "ada", [1, 2])
    with pytest.raises(ValueError, match="at least two"):
        ranking.save_ranking(example, "ada", [1, None, None, None])
    first = ranking.save_ranking(example, "ada", [1, 1, 2, None])
    assert first.kind == "ranking" and first.payload["ranks"] == [1, 1, 2, None]
    second = ranking.save_ranking(
        example, "ada", [None] * 4, all_bad=True, correction="Simmer 10 minutes, then ice water."
    )
    assert second.supersedes_id == first.id
    [group] = ranking.groups(prompts.id)
    assert group["candidates"][-1] == "Simmer 10 minutes, then ice water." and group["pairs"] == [
        (4, i) for i in range(4)
    ]
    hit = revision.revise("How can I hard-boil an egg without a green yolk?")
    assert hit["retrieved"] and hit["retrieved"][0]["text"] == "Simmer 10 minutes, then ice water."


def test_ties_give_no_pair(prompts):
    example = ranking.next_prompts(prompts.id)[0]
    ranking.save_ranking(example, "ada", [1, 1, 2, 3])
    [group] = ranking.groups(prompts.id)
    assert (0, 1) not in group["pairs"] and (1, 0) not in group["pairs"] and len(group["pairs"]) == 5


def test_reward_job_trains_on_rankings_and_exports_trl_pairs(prompts, tmp_path):
    for example in ranking.next_prompts(prompts.id, n=100):
        ranking.save_ranking(example, "ada", reference_ranks(example))
    with pytest.raises(ValueError, match="max.length"):
        services.queue_training(prompts.id, RewardConfig(max_length=4))
    model, tokenizer = tiny_classifier(num_labels=1)
    backbone = str(save_classifier(model, tokenizer, tmp_path / "tiny-reward"))
    job = services.queue_training(prompts.id, RewardConfig(backbone=backbone, epochs=1, max_length=64))
    assert services.run_worker(once=True) == 1
    job = services.get_job(job.id)
    assert job.status == "succeeded", job.error
    version = services.latest_model_version(prompts.id)
    assert version.method == "bradley_terry" and 0 <= version.metrics["pairwise_acc"] <= 1
    assert version.metrics["train_pairs"] == sum(len(g["pairs"]) for g in ranking.groups(prompts.id, "train"))
    item = ranking.view(_first_example(prompts.id))
    assert item.scores is not None and len(item.scores) == 4
    rows = read_rows(ranking.export_preferences(prompts.id, tmp_path / "pairs.jsonl"))
    assert set(rows[0]) == {"prompt", "chosen", "rejected"} and len(rows) == sum(
        len(g["pairs"]) for g in ranking.groups(prompts.id)
    )
    [row, *_] = read_rows(services.export_feedback(prompts.id, tmp_path / "rankings.parquet", fmt="parquet"))
    assert row["ranks"] == reference_ranks(row["example_id"]) and len(row["candidates"]) == 4


def _first_example(project_id: int) -> int:
    from sqlalchemy import select

    from db import Example, session_scope

    with session_scope() as session:
        return session.scalar(select(Example.id).where(Example.project_id == project_id).order_by(Example.idx))


def test_rank_page_saves_a_ranking(prompts, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["project"] = str(prompts.id)
    at.query_params["annotator"] = "ada"
    at.run()
    at.switch_page("pages/rank.py").run()
    assert not at.exception, [e.value for e in at.exception]
    example = at.session_state["rank_example"]
    for i, rank in enumerate([2, 1, 3, 3]):
        at.selectbox(key=f"rank-{example}-{i}").set_value(rank)
    at.run()
    [b for b in at.button if b.label == "Save ranking"][0].click().run()
    assert any("Saved your ranking" in s.value for s in at.success), [e.value for e in at.error]
    [row] = services.feedback_history(example)
    assert row.payload["ranks"] == [2, 1, 3, 3] and row.annotator == "ada"
    assert at.session_state["rank_example"] != example


def test_import_prompts_samples_candidates_from_a_causal_lm(tmp_path):
    from tests.tiny_models import tiny_causal_lm
    from xil.ranking.generate import GenerationConfig

    generator = str(tiny_causal_lm(tmp_path / "tiny-lm"))
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "How do I store basil?"}\nWhat is a good first bike?\n', encoding="utf-8")
    cfg = GenerationConfig(k=3, max_new_tokens=8)
    project = services.import_prompts(prompts, name="generated", generator=generator, generation=cfg)
    ds = services.dataset(project.id)
    assert project.task == "ranking" and ds.source == generator
    assert ds.prompts == ["How do I store basil?", "What is a good first bike?"]
    assert [len(c) for c in ds.candidates] == [3, 3]


def test_import_prompts_reports_bad_lines_and_imports_nothing(tmp_path):
    from xil.ranking.prompts import PromptFileError

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok", "candidates": ["a", "b"]}\n{"prompt": "one", "candidates": ["a"]}\nnot json\n')
    with pytest.raises(PromptFileError) as info:
        services.import_prompts(bad)
    assert len(info.value.errors) == 2 and ":2:" in info.value.errors[0] and ":3:" in info.value.errors[1]
    assert services.status()["projects"] == 0
