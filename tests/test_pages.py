"""Every page, run headless with Streamlit's AppTest against a real database."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import PROJECT_ROOT
from xil import services
from xil.train import TrainConfig

APP = str(PROJECT_ROOT / "streamlit_app.py")


@pytest.fixture
def app(demo, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def open_page(at: AppTest, name: str, annotator: str | None = None) -> AppTest:
    at.switch_page(f"pages/{name}.py").run()
    if annotator is not None:
        at.text_input(key="annotator_input").input(annotator).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r} among {[b.label for b in at.button]}"
    return matches[0]


def test_home_shows_project_and_progress(app, demo):
    labels = {m.label: m.value for m in app.metric}
    assert labels["Project"] == "Decoy-Digits demo"
    assert labels["Annotated"] == f"0 / {services.annotation_progress(demo.project_id)[1]}"
    assert labels["Model versions"] == "1"


def test_annotate_needs_an_annotator_before_saving(app, demo):
    at = open_page(app, "annotate")
    button(at, "Wrong reason").click().run()
    assert any("annotator" in e.value for e in at.error)
    assert services.status()["feedback"] == 0


def test_annotate_saves_verdict_and_label_then_moves_on(app, demo):
    at = open_page(app, "annotate", annotator="ada")
    first = at.session_state["example_id"]
    assert first in services.next_examples(demo.project_id, demo.version_id, "suspicious", "ada", n=1)
    at.selectbox(key=f"label_fix-{first}").set_value(3).run()
    button(at, "Wrong reason").click().run()
    assert any("Saved feedback" in s.value for s in at.success)
    [row] = services.feedback_history(first)
    assert (row.annotator, row.verdict, row.label, row.model_version_id) == ("ada", "wrong_reason", 3, demo.version_id)
    assert at.session_state["example_id"] != first
    assert services.annotation_progress(demo.project_id)[0] == 1


def test_annotate_keeps_draft_marks_and_stores_them(app, demo):
    at = open_page(app, "annotate", annotator="ada")
    example_id = at.session_state["example_id"]
    mask = np.zeros((28, 28), dtype=bool)
    mask[:4, :4] = True
    services.save_draft("ada", example_id, mask, np.zeros_like(mask))  # as a selection callback would
    fresh = AppTest.from_file(APP, default_timeout=120)  # a reload: new session, same URL state
    fresh.query_params["annotator"] = "ada"
    fresh.query_params["example"] = str(example_id)
    fresh.run()
    fresh.switch_page("pages/annotate.py").run()
    assert any("16 irrelevant" in c.value for c in fresh.caption)
    button(fresh, "Right reason").click().run()
    [row] = services.feedback_history(example_id)
    assert row.verdict == "right_reason"
    assert np.array_equal(services.load_mask(row.irrelevant_path, (28, 28)), mask)
    assert services.load_draft("ada", example_id) is None


def test_annotate_skip_shows_another_example(app, demo):
    at = open_page(app, "annotate", annotator="ada")
    first = at.session_state["example_id"]
    button(at, "Skip").click().run()
    assert at.session_state["example_id"] != first
    assert services.status()["feedback"] == 0


def test_train_page_queues_a_job_and_rejects_bad_settings(app, demo):
    at = open_page(app, "train")
    at.selectbox[0].set_value("rrr_g")
    at.button[0].click().run()  # the form's submit button
    assert any("CNN" in e.value for e in at.error)
    assert services.list_jobs(demo.project_id) == []
    at.selectbox[0].set_value("rrr")
    at.number_input[0].set_value(2)
    at.button[0].click().run()
    [job] = services.list_jobs(demo.project_id)
    assert job.status == "queued" and job.spec["config"]["method"] == "rrr" and job.spec["config"]["epochs"] == 2


def test_models_page_compares_versions(app, demo):
    services.queue_training(demo.project_id, TrainConfig(method="none", epochs=1))
    services.run_worker(once=True)
    at = open_page(app, "models")
    table = at.dataframe[0].value
    assert list(table["version"]) == [1, 2]
    assert len(at.get("plotly_chart")) == 2


def test_export_page_offers_a_download(app, demo):
    example = services.next_examples(demo.project_id, demo.version_id, n=1)[0]
    services.save_feedback(example, "ada", demo.version_id, "wrong_reason")
    at = open_page(app, "export")
    button(at, "Prepare export").click().run()
    assert at.get("download_button"), "no download button after preparing the export"


def test_data_page_renders(app):
    at = open_page(app, "data")
    assert any(t.value == "Data" for t in at.title)
