"""The text annotate, train and models pages with AppTest, on the review demo and a tiny BERT."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import PROJECT_ROOT
from tests.tiny_models import tiny_classifier
from xil import services
from xil.models.text import save_classifier
from xil.train.text_config import TextTrainConfig

APP = str(PROJECT_ROOT / "streamlit_app.py")


@pytest.fixture
def reviews(demo, tmp_path, monkeypatch):
    """The seeded review demo (text) with a tiny first model; the app's own seeding finds it in place."""
    monkeypatch.setenv("XIL_START_WORKER", "0")
    services.seed_demo()
    [project] = [p for p in services.list_projects() if p.task == "text"]
    model, tokenizer = tiny_classifier(num_labels=2)
    backbone = str(save_classifier(model, tokenizer, tmp_path / "tiny-bert"))
    cfg = TextTrainConfig(method="none", backbone=backbone)
    version = services.register_model(project.id, (model, tokenizer), cfg, {"test_acc": 0.5})
    return project, version


def open_text_page(project_id: int, page: str, annotator: str = "ada") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["project"] = str(project_id)
    at.query_params["annotator"] = annotator
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_text_annotate_marks_words_and_saves_them(reviews):
    project, version = reviews
    at = open_text_page(project.id, "annotate")
    example_id = at.session_state["example_id"]
    words = services.explain_example(version.id, example_id, "layer_integrated_gradients").words
    irrelevant = at.pills[0]
    assert irrelevant.options == words or len(irrelevant.options) == len(words)
    irrelevant.set_value([len(words) - 1]).run()
    at.pills[1].set_value([0, 1]).run()
    assert any("1 irrelevant (magenta), 2 relevant (green) words" in c.value for c in at.caption)
    [b for b in at.button if b.label == "Wrong reason"][0].click().run()
    assert any("Saved feedback" in s.value for s in at.success), [e.value for e in at.error]
    [row] = services.feedback_history(example_id)
    assert row.payload == {"irrelevant_words": [len(words) - 1], "relevant_words": [0, 1]}
    assert row.verdict == "wrong_reason" and row.model_version_id == version.id
    assert at.session_state["example_id"] != example_id


def test_text_annotate_a_word_is_irrelevant_or_relevant_not_both(reviews):
    project, _ = reviews
    at = open_text_page(project.id, "annotate")
    at.pills[0].set_value([0]).run()
    at.pills[1].set_value([0]).run()
    assert any("0 irrelevant (magenta), 1 relevant (green) words" in c.value for c in at.caption)


def test_text_train_page_queues_a_text_job(reviews):
    project, version = reviews
    at = open_text_page(project.id, "train")
    at.selectbox[0].set_value("ce")
    at.button[0].click().run()
    jobs = [j for j in services.list_jobs(project.id) if j.spec["config"]["method"] == "ce"]
    assert len(jobs) == 1 and jobs[0].spec["config"]["backbone"] == "minilm" and jobs[0].spec["parent_id"] == version.id


def test_text_models_page_shows_word_heatmaps(reviews):
    project, _ = reviews
    at = open_text_page(project.id, "models")
    assert list(at.dataframe[0].value["version"]) == [1]
    assert any("<span" in h.value for h in at.get("html"))


def test_text_train_page_shows_the_epochs_a_job_really_ran(reviews, tmp_path):
    project, version = reviews
    backbone = str(tmp_path / "tiny-bert")  # saved by the fixture
    for job in services.list_jobs(project.id):  # the seeded first MiniLM model: not needed here
        services.cancel_job(job.id)
    services.queue_training(project.id, TextTrainConfig(method="none", backbone=backbone, epochs=1))
    assert services.run_worker(once=True) == 1
    at = open_text_page(project.id, "train")
    [progress] = at.get("progress")
    assert progress.proto.text == "epoch 10 of 10"  # epochs=1 asked; 150 texts need 10 for min_steps


def test_text_annotate_queue_option_speaks_of_words_not_objects(reviews):
    project, _ = reviews
    at = open_text_page(project.id, "annotate")
    box = at.selectbox(key="annotate_strategy")
    title = box.format_func(box.value)
    assert "off the object" not in title and "word" in title


def test_text_annotate_wrong_reason_without_marked_words_asks_for_them(reviews):
    project, _ = reviews
    at = open_text_page(project.id, "annotate")
    example_id = at.session_state["example_id"]
    [b for b in at.button if b.label == "Wrong reason"][0].click().run()
    assert any("mark the words" in e.value for e in at.error), [e.value for e in at.error]
    assert services.feedback_history(example_id) == []
