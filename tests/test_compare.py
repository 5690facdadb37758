"""Did it get better? Blind comparisons of two answer sources on held-out prompts (issue 13): the order
on screen is random, a choice is stored in source terms, no prompt comes twice to one annotator for one
pair, win rates with a Wilson interval, the reward model's choice beside people's, the export, and the
Compare page storing a choice."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from db import session_scope
from db.models import Comparison
from tests.conftest import PROJECT_ROOT
from tests.test_rank_pages import raw_markup, rendered_markdown
from tests.tiny_models import tiny_causal_lm, tiny_classifier
from xil import config, services
from xil.export import read_rows
from xil.models.text import save_classifier
from xil.ranking.config import RewardConfig
from xil.ranking.generate import GenerationConfig
from xil.ranking.metrics import wilson_interval
from xil.services import comparison
from xil.services.adapters.ranking import RankingAdapter
from xil.services.generation import AnswerSource
from xil.services.versions import insert_version

APP = str(PROJECT_ROOT / "streamlit_app.py")
SHORT = GenerationConfig(max_new_tokens=6)  # the tiny model writes nonsense: a few words of it are enough
PROMPTS = [f"Question {i}: how do I {verb}?" for i, verb in enumerate("cook sew row ski bake knit fly dig".split() * 2)]


def generated_project(tmp_path: Path) -> tuple[int, int]:
    """A ranking project whose candidates a tiny causal LM sampled (16 prompts, 4 held out), and a
    generator version: another tiny causal LM under XIL_HOME, registered as a DPO version would be.
    ``(project id, generator version id)``."""
    base = tiny_causal_lm(tmp_path / "tiny-lm")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(f"{p}\n" for p in PROMPTS), encoding="utf-8")
    project = services.import_prompts(
        prompts, name="generated", generator=str(base), generation=GenerationConfig(k=2, max_new_tokens=4)
    )
    folder = tiny_causal_lm(config.home() / "models" / "generator-test", seed=1)
    sha = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    version = insert_version(project.id, "models/generator-test", sha, arch=str(base), method="dpo", config={})
    return project.id, version.id


@pytest.fixture
def generated(tmp_path) -> tuple[int, AnswerSource, AnswerSource]:
    """The project, its generator version (source a) and its base generator (source b)."""
    project_id, version_id = generated_project(tmp_path)
    return project_id, AnswerSource(version_id), AnswerSource()


@pytest.fixture
def seeded(monkeypatch):
    monkeypatch.setattr(comparison, "_rng", random.Random(7))


def held_out(project_id: int) -> set[int]:
    return {e.id for e in services.examples(project_id, "test")}


def add_reward_model(project_id: int, tmp_path: Path):
    model, tokenizer = tiny_classifier(num_labels=1)
    backbone = str(save_classifier(model, tokenizer, tmp_path / "tiny-reward"))
    return services.register_model(project_id, (model, tokenizer), RewardConfig(backbone=backbone, max_length=64), {})


def test_the_wilson_interval_of_8_in_10():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.490, abs=1e-3) and high == pytest.approx(0.943, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(1 - high)  # symmetric around one half
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_two_equal_sources_are_refused(generated):
    project_id, a, _ = generated
    with pytest.raises(ValueError, match="two different"):
        comparison.next_pair(project_id, a, AnswerSource(a.version_id), "ada", cfg=SHORT)


def test_blind_pairs_in_random_order_stored_in_source_terms_each_prompt_once(generated, seeded):
    project_id, a, b = generated
    firsts = []
    for annotator in ("ada", "bo", "cy"):
        seen = []
        while (pair := comparison.next_pair(project_id, a, b, annotator, cfg=SHORT)) is not None:
            assert pair.example_id in held_out(project_id) and pair.example_id not in seen
            assert pair.sources == (a.key, b.key) and {pair.first_source, pair.second_source} == {a.key, b.key}
            seen.append(pair.example_id)
            firsts.append(pair.first_source)
            row = comparison.save_choice(pair, "first", annotator)
            # a is the first source asked for, whichever answer came first on screen
            assert (row.source_a, row.source_b, row.choice) == (a.key, b.key, "a" if pair.a_first else "b")
            winner = row.answer_a if row.choice == "a" else row.answer_b
            assert winner == pair.first and {row.answer_a, row.answer_b} == {pair.first, pair.second}
            assert row.reward_choice is None and row.reward_model_version_id is None  # no reward model yet
        assert len(seen) == len(held_out(project_id)) == 4
        # done in either order: the same two sources asked the other way round serve nothing more
        assert comparison.next_pair(project_id, b, a, annotator, cfg=SHORT) is None
        assert comparison.progress(project_id, b, a, annotator) == (4, 4)
    assert set(firsts) == {a.key, b.key}  # both orders were shown
    with pytest.raises(ValueError, match="already"):  # a second tab saving the same prompt again
        comparison.save_choice(pair_for(project_id, a, b), "tie", "ada")
    [rate] = comparison.win_rates(project_id)
    assert (rate.source_a, rate.source_b, rate.n) == (a.key, b.key, 12)
    assert rate.wins_a == firsts.count(a.key) and rate.wins_b == firsts.count(b.key) and rate.ties == 0


def pair_for(project_id: int, a: AnswerSource, b: AnswerSource) -> comparison.BlindPair:
    """A pair of an already compared prompt (as a stale tab still holds it)."""
    row = comparison.comparisons(project_id)[0]
    return comparison.BlindPair(project_id, row.example_id, "p", row.answer_a, row.answer_b, a.key, b.key, True)


def test_the_choices_answer_the_sources_best_of_n_and_corrections(generated, tmp_path):
    project_id, a, b = generated
    with pytest.raises(ValueError, match="reward model"):  # best-of-n needs one
        comparison.next_pair(project_id, AnswerSource(a.version_id, best_of=2), b, "ada", cfg=SHORT)
    reward = add_reward_model(project_id, tmp_path)
    a = AnswerSource(a.version_id, best_of=2, corrections=True)
    pair = comparison.next_pair(project_id, a, b, "ada", cfg=SHORT)
    row = comparison.save_choice(pair, "tie", "ada")
    assert row.choice == "tie" and row.source_a == f"v{a.version_id}+best-of-2+corrections"
    from xil.ranking.scoring import score

    model, tokenizer = RankingAdapter().load(reward)
    s_a, s_b = score(model, tokenizer, pair.prompt, [row.answer_a, row.answer_b], 64)
    assert row.reward_model_version_id == reward.id
    assert row.reward_choice == ("a" if s_a > s_b else "b" if s_b > s_a else "tie")


_voters = iter(range(10_000))


def store(project_id: int, example_id: int, a: str, b: str, choice: str, reward: str | None = None) -> None:
    """One vote by a new annotator (one vote per annotator, prompt and pair of sources)."""
    with session_scope(write=True) as session:
        session.add(
            Comparison(
                project_id=project_id,
                example_id=example_id,
                annotator=f"voter-{next(_voters)}",
                source_a=a,
                source_b=b,
                pair=comparison.pair_key(a, b),
                answer_a=f"answer of {a}",
                answer_b=f"answer of {b}",
                choice=choice,
                reward_choice=reward,
            )
        )


def test_win_rates_pair_both_orders_with_the_newer_source_first(generated):
    project_id, a, b = generated
    example = min(held_out(project_id))
    new, old, best = a.key, b.key, f"{a.key}+best-of-4"
    # the newer source wins 8 of 10, asked for in either order; the reward model judged four of them
    for choice, reward in [("a", "a"), ("a", "a"), ("a", "b"), ("a", None), ("a", None), ("a", None), ("b", None)]:
        store(project_id, example, new, old, choice, reward)
    for choice, reward in [("b", "tie"), ("b", None), ("a", None)]:
        store(project_id, example, old, new, choice, reward)
    store(project_id, example, new, best, "tie")
    store(project_id, example, best, new, "a")
    first, second = comparison.win_rates(project_id)
    assert (first.source_a, first.source_b) == (new, old)
    assert (first.n, first.wins_a, first.wins_b, first.ties) == (10, 8, 2, 0) and first.rate == 0.8
    assert first.low == pytest.approx(0.490, abs=1e-3) and first.high == pytest.approx(0.943, abs=1e-3)
    assert first.reward_n == 4 and first.reward_rate == pytest.approx((2 + 0.5) / 4)
    assert (second.source_a, second.source_b) == (best, new)  # best-of-4 is more than one sample
    assert (second.n, second.wins_a, second.ties, second.rate) == (2, 1, 1, 0.75)
    assert second.reward_n == 0 and second.reward_rate is None


def test_export_writes_the_comparisons_as_preferences(generated, tmp_path):
    project_id, a, b = generated
    for choice in ("second", "tie"):
        comparison.save_choice(comparison.next_pair(project_id, a, b, "ada", cfg=SHORT), choice, "ada")
    path = comparison.export_comparisons(project_id, tmp_path / "out" / "comparisons.jsonl")
    won, tied = read_rows(path)
    prompts = {services.dataset(project_id).prompts[e.idx] for e in services.examples(project_id, "test")}
    for row in (won, tied):
        assert row["prompt"] in prompts and (row["source_a"], row["source_b"]) == (a.key, b.key)
        assert row["annotator"] == "ada" and row["created_at"]
    assert won["choice"] in {"a", "b"} and tied["choice"] == "tie" and "chosen" not in tied
    winner = "a" if won["choice"] == "a" else "b"
    loser = "b" if winner == "a" else "a"
    assert (won["chosen"], won["rejected"]) == (won[f"answer_{winner}"], won[f"answer_{loser}"])
    [event, *_] = services.audit_log()
    assert (event.action, event.detail["rows"]) == ("export", "comparisons")


def open_compare(project_id: int, annotator: str = "ada") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["project"] = str(project_id)
    at.query_params["annotator"] = annotator
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_compare_page_on_a_classifier_points_to_the_generator_demo(demo, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    at = open_compare(demo.project_id)
    [info] = at.info
    assert "*Generator demo*" in info.value and "Data page" in info.value


def test_compare_page_stores_a_blind_choice_and_serves_the_next_pair(generated, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    project_id, a, b = generated
    at = open_compare(project_id)
    (_, pair) = at.session_state["compare_pair"]
    assert pair.sources == (a.key, b.key)  # the defaults: the newest source against the one before it
    assert not raw_markup(rendered_markdown(at))  # the model's answers are text, not Markdown
    [button] = [x for x in at.button if x.label == "Answer 1 is better"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Saved your choice" in s.value for s in at.success), [e.value for e in at.error]
    [row] = comparison.comparisons(project_id)
    assert row.annotator == "ada" and (row.source_a if row.choice == "a" else row.source_b) == pair.first_source
    (_, following) = at.session_state["compare_pair"]
    assert following is not None and following.example_id != pair.example_id
    assert at.dataframe[0].value.iloc[0]["comparisons"] == 1


def test_compare_page_asks_for_a_generator_version_first(tmp_path, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    base = tiny_causal_lm(tmp_path / "tiny-lm")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(f"{p}\n" for p in PROMPTS[:4]), encoding="utf-8")
    project = services.import_prompts(prompts, generator=str(base), generation=GenerationConfig(k=2, max_new_tokens=4))
    at = open_compare(project.id)
    assert any("Train page" in i.value and "DPO" in i.value for i in at.info), [i.value for i in at.info]
    assert not [x for x in at.button if x.label == "Answer 1 is better"]
