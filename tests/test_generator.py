"""The generator learns from the rankings (issue 13): a DPO job makes a generator version, answers come
from a version with best-of-n and with RiT corrections in the prompt, and new rounds of candidates
come from the newest version."""

from __future__ import annotations

import pytest

from tests.tiny_models import tiny_causal_lm, tiny_classifier
from xil import services, storage
from xil.ranking.config import RewardConfig
from xil.ranking.dpo import PreferenceTuningConfig, preference_rows
from xil.ranking.generate import GenerationConfig, best_of_n
from xil.ranking.scoring import score
from xil.services import generation, ranking, revision
from xil.services.generation import AnswerSource

PROMPTS = [f"How do I look after plant number {i}?" for i in range(12)]


@pytest.fixture
def generated(tmp_path, monkeypatch):
    """A ranking project whose candidates a tiny random GPT-2 sampled; every prompt ranked."""
    monkeypatch.setenv("XIL_DATA_DIRS", str(tmp_path))
    lm = str(tiny_causal_lm(tmp_path / "tiny-lm"))
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    project = services.import_prompts(
        path, name="plants", generator=lm, generation=GenerationConfig(k=3, max_new_tokens=6)
    )
    for example in ranking.next_prompts(project.id, n=100):
        ranking.save_ranking(example, "ada", [1, 2, 3])
    return project


def test_dpo_job_makes_a_generator_version_that_answers(generated):
    job = services.queue_training(
        generated.id, PreferenceTuningConfig(epochs=1, batch_size=4, max_length=64, device="cpu")
    )
    assert services.run_worker(once=True) == 1
    job = services.get_job(job.id)
    assert job.status == "succeeded", job.error
    assert job.history and {"loss", "margin", "pair_accuracy"} <= set(job.history[-1])
    version = services.get_model_version(job.model_version_id)
    assert version.method == "dpo" and version.arch == services.dataset(generated.id).source
    assert 0 <= version.metrics["preference_acc"] <= 1 and version.metrics["eval_pairs"] > 0
    assert (storage.absolute(version.path) / "adapter_model.safetensors").exists()
    assert generation.answer_sources(generated.id) == {
        "base": f"Base generator ({services.dataset(generated.id).source})",
        f"v{version.id}": f"Generator v{version.version} (DPO on {version.n_feedback} prompts)",
    }
    [answer] = generation.generate(
        generated.id, PROMPTS[:1], AnswerSource(version.id), GenerationConfig(max_new_tokens=5)
    )
    assert isinstance(answer.text, str) and answer.prompt == PROMPTS[0] and answer.retrieved == []
    # a second DPO job descends from the first; reward scores on the Rank page ignore generators
    assert ranking.view(ranking.my_rankings(generated.id, "ada")[0].example_id).scores is None
    second = services.queue_training(generated.id, PreferenceTuningConfig(epochs=1, max_length=64, device="cpu"))
    assert second.spec["parent_id"] == version.id and second.spec["kind"] == "preference tuning"


def test_new_round_appends_candidates_from_the_newest_generator(generated):
    before = len(services.dataset(generated.id))
    ids = generation.new_round(generated.id, k=2, limit=5)
    ds = services.dataset(generated.id)
    assert len(ids) == 5 and len(ds) == before + 5
    assert ds.prompts[before:] == ds.prompts[:5] and all(len(c) == 2 for c in ds.candidates[before:])
    assert ds.origins[before:] == [ds.source] * 5 and list(ds.split[before:]) == list(ds.split[:5])
    assert ids[0] in ranking.next_prompts(generated.id, n=100)  # the new round waits to be ranked
    row = ranking.save_ranking(ids[0], "ada", [2, 1])
    assert row.payload["generator"] == ds.source


def test_a_project_without_a_generator_names_one_for_dpo():
    services.seed_demo(train=False)
    [project] = [p for p in services.list_projects() if p.task == "ranking"]
    for example in ranking.next_prompts(project.id, n=5):
        ranking.save_ranking(example, "ada", [1, 2, 3, 4])
    with pytest.raises(ValueError, match="name the causal LM"):
        services.queue_training(project.id, PreferenceTuningConfig())
    with pytest.raises(ValueError, match="no generator"):
        generation.generate(project.id, ["hi"], AnswerSource())


def test_best_of_n_keeps_the_top_scored_candidate(tmp_path):
    lm = str(tiny_causal_lm(tmp_path / "lm"))
    reward = tiny_classifier(num_labels=1)
    picked = best_of_n(lm, reward, PROMPTS[:3], GenerationConfig(k=4, max_new_tokens=6), max_length=64)
    for prompt, (best, best_score, candidates, scores) in zip(PROMPTS[:3], picked, strict=True):
        assert len(candidates) == 4 and scores == pytest.approx(score(*reward, prompt, candidates, 64))
        assert best_score == max(scores) and best == candidates[scores.index(max(scores))]


def test_best_of_n_needs_a_reward_model_and_uses_the_newest(generated, tmp_path):
    with pytest.raises(ValueError, match="needs a reward model"):
        generation.generate(generated.id, PROMPTS[:1], AnswerSource(best_of=3))
    from xil.models.text import save_classifier

    backbone = str(save_classifier(*tiny_classifier(num_labels=1), tmp_path / "tiny-reward"))
    services.queue_training(generated.id, RewardConfig(backbone=backbone, epochs=1, max_length=64))
    assert services.run_worker(once=True) == 1
    [answer] = generation.generate(
        generated.id, PROMPTS[:1], AnswerSource(best_of=3), GenerationConfig(max_new_tokens=5)
    )
    assert len(answer.candidates) == 3 and answer.text == answer.candidates[answer.scores.index(max(answer.scores))]


def test_corrections_go_into_the_prompt_and_are_shown(generated):
    revision.add_correction("Water it once a week and keep it out of direct sun.", "answer", PROMPTS[3])
    [answer] = generation.generate(
        generated.id, [PROMPTS[3]], AnswerSource(corrections=True), GenerationConfig(max_new_tokens=5)
    )
    assert (
        answer.prompt
        == f"Question: {PROMPTS[3]} Answer: Water it once a week and keep it out of direct sun. Question: {PROMPTS[3]} Answer:"
    )
    assert [r["text"] for r in answer.retrieved] == ["Water it once a week and keep it out of direct sun."]
    [plain] = generation.generate(generated.id, [PROMPTS[3]], AnswerSource(), GenerationConfig(max_new_tokens=5))
    assert plain.prompt == PROMPTS[3] and plain.retrieved == []


def test_answer_source_keys_round_trip():
    for source in (AnswerSource(), AnswerSource(7), AnswerSource(7, 4, True), AnswerSource(None, 2)):
        assert AnswerSource.from_key(source.key) == source
    for bad in ("v", "x1", "v1+best-of-x", "v1+fast"):
        with pytest.raises(ValueError):
            AnswerSource.from_key(bad)
    with pytest.raises(ValueError):
        AnswerSource(best_of=0)


def test_preference_rows_and_config_checks():
    rows = preference_rows([{"prompt": "Q?", "candidates": ["a", "b", "c"], "pairs": [(1, 0), (1, 2)]}])
    assert rows == [
        {"prompt": "Q?", "chosen": " b", "rejected": " a"},
        {"prompt": "Q?", "chosen": " b", "rejected": " c"},
    ]
    for bad in ({"beta": 0}, {"lr": -1}, {"epochs": 0}, {"max_length": 8}, {"sft_weight": -1}, {"feedback": "some"}):
        with pytest.raises(ValueError):
            PreferenceTuningConfig(**bad)
    assert PreferenceTuningConfig.from_dict(PreferenceTuningConfig(beta=0.2).to_dict()).beta == 0.2


def _page(page: str, project_id: int):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import PROJECT_ROOT

    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=120)
    at.query_params["project"] = str(project_id)
    at.query_params["annotator"] = "ada"
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _click(at, label: str):
    [button] = [b for b in at.button if b.label.startswith(label)]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_train_page_queues_a_generator_job(generated, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    at = _page("train", generated.id)
    at.radio(key=f"train-what-{generated.id}").set_value("generator").run()
    _click(at, "Queue generator job")
    assert any("Queued job" in s.value for s in at.success), [e.value for e in at.error]
    [job] = services.list_jobs(generated.id)
    assert job.spec["kind"] == "preference tuning" and job.spec["config"]["lora"] is True


def test_rank_page_generates_an_answer_and_samples_a_new_round(generated, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    before = len(services.dataset(generated.id))
    at = _page("rank", generated.id)  # every prompt is ranked: the generator panel still shows
    at.text_area(key="gen_prompt-None").input(PROMPTS[0]).run()
    _click(at, "Generate an answer")
    assert any(m.value.startswith("**Answer**") for m in at.markdown), [e.value for e in at.error]
    at.number_input(key="round_limit").set_value(3).run()
    _click(at, "Sample a new round")
    assert any("3 prompts with new candidates" in s.value for s in at.success), [e.value for e in at.error]
    assert len(services.dataset(generated.id)) == before + 3


@pytest.mark.slow
def test_generator_demo_learns_the_style_its_rankings_prefer():
    """The offline loop end to end: the demo's tiny generator, rankings that prefer polite answers, the
    DPO job, and the new version answering held-out prompts politely far more often than the base."""
    from xil.ranking.toy_language import RANK, judge

    project = services.import_generator_demo()
    ds = services.dataset(project.id)
    assert len(ds) == 192 and ds.source.endswith("demo-generator") and generation.answer_sources(project.id)
    for example in ranking.next_prompts(project.id, n=1000):
        item = ranking.view(example)
        if item.split == "train":
            ranking.save_ranking(example, "ada", [RANK[judge(item.prompt, c)] for c in item.candidates])
    services.queue_training(project.id, PreferenceTuningConfig(device="cpu"))
    assert services.run_worker(once=True) == 1
    version = generation.generator_versions(project.id)[-1]
    held_out = [p for p, split in zip(ds.prompts, ds.split, strict=True) if split == "test"]
    cfg = GenerationConfig(max_new_tokens=12, seed=1)

    def polite(source: AnswerSource) -> float:
        answers = generation.generate(project.id, held_out, source, cfg)
        return sum(judge(p, a.text) == "polite" for p, a in zip(held_out, answers, strict=True)) / len(held_out)

    before, after = polite(AnswerSource()), polite(AnswerSource(version.id))
    assert after >= 0.85 and after >= before + 0.25, (before, after)


def test_full_fine_tuning_saves_weights_that_load_back(tmp_path):
    from xil.ranking.dpo import load_generator, preference_accuracy, save_generator, train_dpo, weights_file

    lm = str(tiny_causal_lm(tmp_path / "lm"))
    rows = preference_rows([{"prompt": p, "candidates": ["yes indeed", "no"], "pairs": [(0, 1)]} for p in PROMPTS[:6]])
    cfg = PreferenceTuningConfig(lora=False, epochs=2, lr=1e-3, batch_size=4, max_length=64, device="cpu")
    model, tokenizer, history = train_dpo(cfg, lm, rows)
    assert len(history) == 2 and not hasattr(model, "disable_adapter")
    folder = save_generator(model, tokenizer, tmp_path / "v1", base=lm)
    assert weights_file(folder).name == "model.safetensors"
    loaded, _ = load_generator(folder, "cpu")
    reference, _ = load_generator(lm, "cpu")
    assert preference_accuracy(loaded, tokenizer, rows, reference=reference) == 1.0  # it learned the pairs


def test_a_prompt_longer_than_the_models_positions_is_cut_from_the_left(tmp_path):
    from xil.ranking.dpo import load_generator
    from xil.ranking.generate import sample_candidates
    from xil.ranking.toy_language import build_generator

    toy = load_generator(build_generator(tmp_path / "toy", steps=5), "cpu")  # 64 positions
    [[answer]] = sample_candidates(toy, [" ".join(["greet alice :"] * 40)], GenerationConfig(k=1, max_new_tokens=48))
    assert isinstance(answer, str)


def test_rounds_differ_and_a_stale_extension_is_refused(generated):
    from xil.services.catalog import extend_project

    first = generation.new_round(generated.id, k=2, limit=4)
    second = generation.new_round(generated.id, k=2, limit=4)
    ds = services.dataset(generated.id)
    names = {services.get_example(i).name for i in first + second}
    assert len(names) == 8  # each round its own tag
    stale = services.get_project(generated.id).data_sha
    generation.new_round(generated.id, k=2, limit=1)
    with pytest.raises(ValueError, match="changed meanwhile"):
        extend_project(generated.id, ds.with_round([0], [["a", "b"]], "x", "late"), stale)


CHAT = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def test_a_chat_generator_is_sampled_and_tuned_with_its_template(tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from xil.ranking.dpo import chat_rows

    monkeypatch.setenv("XIL_DATA_DIRS", str(tmp_path))
    lm = tiny_causal_lm(tmp_path / "chat-lm")
    tokenizer = AutoTokenizer.from_pretrained(lm)
    tokenizer.chat_template = CHAT
    tokenizer.save_pretrained(lm)
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    cfg = GenerationConfig(k=3, max_new_tokens=6, chat_template=True)
    project = services.import_prompts(path, name="chat", generator=str(lm), generation=cfg)
    assert generation.sampling(project.id).chat_template is True  # stored with the project
    [row] = chat_rows([{"prompt": "Q?", "chosen": " yes", "rejected": " no"}], tokenizer)
    assert row == {"prompt": "<user> Q? <assistant>", "chosen": " yes ", "rejected": " no "}
    for example in ranking.next_prompts(project.id, n=100):
        ranking.save_ranking(example, "ada", [1, 2, 3])
    job = services.queue_training(
        project.id, PreferenceTuningConfig(epochs=1, max_length=64, device="cpu", chat_template=True)
    )
    assert services.run_worker(once=True) == 1
    job = services.get_job(job.id)
    assert job.status == "succeeded", job.error
    assert 0 <= services.get_model_version(job.model_version_id).metrics["preference_acc"] <= 1


def test_dpo_reports_between_epochs_and_stops_mid_epoch_when_cancelled(tmp_path):
    from xil.ranking.dpo import train_dpo
    from xil.train.loop import Cancelled

    lm = str(tiny_causal_lm(tmp_path / "lm"))
    rows = preference_rows([{"prompt": p, "candidates": ["yes", "no"], "pairs": [(0, 1)]} for p in PROMPTS])
    cfg = PreferenceTuningConfig(epochs=2, batch_size=2, max_length=64, device="cpu")
    seen: list[dict] = []
    train_dpo(cfg, lm, rows, progress=seen.append)
    steps = [r for r in seen if r.get("step_only")]
    assert len(steps) == 12 and 0 < steps[0]["epoch"] < 1 and [r["epoch"] for r in seen if "loss" in r] == [1, 2]
    calls: list[dict] = []
    with pytest.raises(Cancelled, match="after 0 full epochs"):
        train_dpo(cfg, lm, rows, progress=lambda record: calls.append(record) or len(calls) < 2)
    assert len(calls) == 2  # stopped at the step after the second report, before the first epoch ended
