"""Every page, run headless with Streamlit's AppTest against a real database."""

from __future__ import annotations

import json
import re

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
    assert labels["Project"] == r"Decoy\-Digits demo"  # escaped Markdown: shows as the name
    assert labels["Annotated"] == f"0 / {services.annotation_progress(demo.project_id)[1]}"
    assert labels["Model versions"] == "1"
    loop = next(m.value for m in app.markdown if "**The loop**" in m.value)
    assert "Drag a box" in loop and "1. **Rank**" not in loop


def test_annotate_needs_an_annotator_before_saving(app, demo):
    at = open_page(app, "annotate")
    button(at, "Wrong reason").click().run()
    assert any("annotator" in e.value for e in at.error)
    assert services.status()["feedback"] == 0


def test_annotate_saves_verdict_and_label_then_moves_on(app, demo):
    at = open_page(app, "annotate", annotator="ada")
    first = at.session_state["example_id"]
    assert first in services.next_examples(demo.project_id, demo.version_id, "suspicious", "ada", n=1)
    at.pills(key=f"label_fix-{first}").set_value(3).run()
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
    at.selectbox[0].set_value("rrr_g").run()  # the settings check themselves before anything is queued
    assert any("CNN" in e.value for e in at.error)
    assert at.button[0].disabled
    assert services.list_jobs(demo.project_id) == []
    at.selectbox[0].set_value("rrr")
    at.number_input[0].set_value(2).run()
    at.button[0].click().run()
    [job] = services.list_jobs(demo.project_id)
    assert job.status == "queued" and job.spec["config"]["method"] == "rrr" and job.spec["config"]["epochs"] == 2


def test_models_page_compares_versions(app, demo):
    services.queue_training(demo.project_id, TrainConfig(method="none", epochs=1))
    services.run_worker(once=True)
    at = open_page(app, "models")
    table = at.dataframe[0].value
    assert list(table["version"]) == [1, 2]
    curve, *explanations = at.get("plotly_chart")
    assert len(explanations) == 2
    # accuracy and wrong-reason of each version against the feedback it used, one line per method
    traces = json.loads(curve.proto.spec)["data"]
    assert {t["name"] for t in traces} == {services.method_title("none", "image")}
    accuracy = [t for t in traces if t.get("xaxis", "x") == "x"]
    assert [len(t["x"]) for t in accuracy] == [2]
    versions = services.list_model_versions(demo.project_id)
    assert accuracy[0]["y"] == pytest.approx([v.metrics["test_acc"] for v in versions])


def test_export_page_offers_a_download(app, demo):
    example = services.next_examples(demo.project_id, demo.version_id, n=1)[0]
    services.save_feedback(example, "ada", demo.version_id, "wrong_reason", label=3)
    at = open_page(app, "export")
    button(at, "Prepare export").click().run()
    assert at.get("download_button"), "no download button after preparing the export"


def test_data_page_renders(app):
    at = open_page(app, "data")
    assert any(t.value == "Data" for t in at.title)


# --- issue 8: what a new user hit on the Annotate page ------------------------------------------------


@pytest.fixture
def reviews(demo, tmp_path):
    """The review demo (text) with a tiny first model, beside Decoy-Digits."""
    from tests.tiny_models import tiny_classifier
    from xil.models.text import save_classifier
    from xil.train.text_config import TextTrainConfig

    services.seed_demo()
    [project] = [p for p in services.list_projects() if p.task == "text"]
    model, tokenizer = tiny_classifier(num_labels=2)
    backbone = str(save_classifier(model, tokenizer, tmp_path / "tiny-bert"))
    cfg = TextTrainConfig(method="none", backbone=backbone)
    version = services.register_model(project.id, (model, tokenizer), cfg, {"test_acc": 0.5})
    return project, version


def project_ids_of(project_id: int) -> set[int]:
    from xil.services.catalog import examples

    return {e.id for e in examples(project_id)}


def test_annotate_switching_project_drops_the_old_example(app, demo, reviews):
    project, _ = reviews
    at = open_page(app, "annotate", annotator="ada")
    digit = at.session_state["example_id"]
    [box] = [s for s in at.sidebar.selectbox if s.label == "Project"]
    box.set_value(project.id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["example_id"] in project_ids_of(project.id)
    assert at.query_params["example"] != str(digit)


def test_annotate_with_another_projects_example_in_the_url_shows_one_of_its_own(demo, reviews, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    project, _ = reviews
    digit = services.next_examples(demo.project_id, demo.version_id, n=1)[0]
    at = AppTest.from_file(APP, default_timeout=120)  # a reload of the URL the crash left behind
    at.query_params["project"] = str(project.id)
    at.query_params["example"] = str(digit)
    at.run()
    at.switch_page("pages/annotate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["example_id"] in project_ids_of(project.id)
    assert any("another project" in w.value for w in at.warning)


def test_annotate_wrong_reason_without_marks_asks_for_them(app, demo):
    at = open_page(app, "annotate", annotator="ada")
    first = at.session_state["example_id"]
    button(at, "Wrong reason").click().run()
    assert any("mark" in e.value for e in at.error), [e.value for e in at.error]
    assert services.feedback_history(first) == []
    assert at.session_state["example_id"] == first  # still there, to be marked


def tree_path(node, wanted, path=()) -> tuple | None:
    """Where in the page's element tree the first node ``wanted`` accepts sits."""
    if wanted(node):
        return path
    for index, child in getattr(node, "children", {}).items():
        if (found := tree_path(child, wanted, (*path, index))) is not None:
            return found
    return None


def test_annotate_saving_moves_nothing_above_the_buttons(app, demo):
    at = open_page(app, "annotate", annotator="ada")

    def places() -> tuple:
        chart = tree_path(at.main, lambda n: getattr(n, "type", "") == "plotly_chart")
        wrong = tree_path(at.main, lambda n: getattr(n, "label", None) == "Wrong reason")
        return chart, wrong

    before = places()
    at.pills(key=f"label_fix-{at.session_state['example_id']}").set_value(3).run()
    button(at, "Right reason").click().run()
    assert any("Saved feedback" in s.value for s in at.success)
    assert places() == before and None not in before
    assert len([b for b in at.button if b.label == "Wrong reason"]) == 1


def test_annotate_back_returns_to_the_last_judgement_and_resaves(app, demo):
    at = open_page(app, "annotate", annotator="ada")
    first = at.session_state["example_id"]
    at.pills(key=f"label_fix-{first}").set_value(3).run()
    button(at, "Wrong reason").click().run()
    assert at.session_state["example_id"] != first
    button(at, "Back").click().run()
    assert at.session_state["example_id"] == first
    assert at.pills(key=f"label_fix-{first}").value == 3  # the saved label, not the dataset's
    assert any("You judged this one" in i.value for i in at.info)
    button(at, "Right reason").click().run()
    old, new = services.feedback_history(first)
    assert new.supersedes_id == old.id and new.verdict == "right_reason" and new.label == 3


def test_annotate_back_works_after_a_reload(app, demo):
    at = open_page(app, "annotate", annotator="ada")
    first = at.session_state["example_id"]
    button(at, "Right reason").click().run()
    fresh = AppTest.from_file(APP, default_timeout=120)
    fresh.query_params["annotator"] = "ada"
    fresh.run()
    fresh.switch_page("pages/annotate.py").run()
    assert fresh.session_state["example_id"] != first
    button(fresh, "Back").click().run()
    assert fresh.session_state["example_id"] == first


def test_annotate_a_skipped_example_stays_skipped_after_a_reload(app, demo):
    at = open_page(app, "annotate", annotator="ada")
    skipped = at.session_state["example_id"]
    button(at, "Skip").click().run()
    fresh = AppTest.from_file(APP, default_timeout=120)
    fresh.query_params["annotator"] = "ada"
    fresh.run()
    fresh.switch_page("pages/annotate.py").run()
    assert fresh.session_state["example_id"] != skipped


def test_annotate_image_queue_says_off_the_object(app, demo):
    at = open_page(app, "annotate")
    box = at.selectbox(key="annotate_strategy")
    assert "off the object" in box.format_func(box.value) and "word" not in box.format_func(box.value)


def test_a_dark_swatch_shows_with_the_explanation_off(demo):
    from pages import ui

    view = services.explain_example(demo.version_id, services.next_examples(demo.project_id, demo.version_id, n=1)[0])
    view.image = view.image.copy()
    view.image[0, :4, :4] = 1.0 - 25.0 * 9 / 255.0  # the darkest swatch, label 9's
    fig = ui.explanation_figure(view, show_heat=False, selectable=True)
    [image] = fig.data[:1]
    assert len([t for t in fig.data if t.type == "heatmap"]) == 1  # no heat drawn over it
    assert np.asarray(image.z)[0, 0] >= 0.3  # linear grey showed it at 0.12, next to black
    assert fig.layout.margin.t >= 28  # the toolbar sits above the image, not on its corner


def test_models_page_counts_wrong_reasons_without_marks(app, demo):
    from xil.services.feedback_store import store_feedback

    example = services.get_example(services.next_examples(demo.project_id, demo.version_id, n=1)[0])
    store_feedback(example, "ada", model_version_id=demo.version_id, verdict="wrong_reason", kind="image_rationale")
    at = open_page(app, "models")
    assert any("1 wrong-reason verdict" in w.value for w in at.warning), [w.value for w in at.warning]


HOSTILE = "![](http://127.0.0.1:9/x) <img src=x>"


def rendered_markdown(at: AppTest) -> list[str]:
    bodies = [m.value for m in at.markdown] + [c.value for c in at.caption]
    for kind in ("info", "success", "warning", "error"):
        bodies += [e.value for e in getattr(at, kind)]
    return bodies


def test_annotate_escapes_names_texts_and_class_names(demo, monkeypatch, tmp_path):
    from tests.tiny_models import tiny_classifier
    from xil.data.text import TextDataset
    from xil.models.text import save_classifier
    from xil.train.text_config import TextTrainConfig

    monkeypatch.setenv("XIL_START_WORKER", "0")
    texts = [f"review {i} {HOSTILE} ends here" for i in range(12)]
    ds = TextDataset(
        name="hostile",
        texts=texts,
        labels=np.arange(12) % 2,
        split=np.array(["train"] * 8 + ["test"] * 4),
        class_names=[HOSTILE, "**bold** class"],
    )
    project = services.create_project(HOSTILE, ds, "test")
    model, tokenizer = tiny_classifier(num_labels=2)
    backbone = str(save_classifier(model, tokenizer, tmp_path / "tiny-bert"))
    cfg = TextTrainConfig(method="none", backbone=backbone)
    services.register_model(project.id, (model, tokenizer), cfg, {"test_acc": 0.5})
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["project"] = str(project.id)
    at.query_params["annotator"] = HOSTILE
    at.run()
    at.switch_page("pages/annotate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.pills[0].set_value([0]).run()
    button(at, "Right reason").click().run()  # the banner names the example
    button(at, "Back").click().run()  # and this one shows the saved label
    bodies = rendered_markdown(at) + [o.content for p in at.pills for o in p.proto.options]
    assert any(r"\!\[\]\(http" in b for b in bodies), "the hostile text should be on the page, escaped"
    for body in bodies:  # escaped, "\<img" renders as text; "<img" would be a tag
        assert "![](" not in body and not re.search(r"(?<!\\)<img", body), body


def test_home_escapes_the_project_name(demo, monkeypatch):
    from xil.data.digits import decoy_digits

    monkeypatch.setenv("XIL_START_WORKER", "0")
    project = services.create_project(HOSTILE, decoy_digits(), "test")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["project"] = str(project.id)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    [value] = [m.value for m in at.metric if m.label == "Project"]
    assert "![](" not in value and not re.search(r"(?<!\\)<img", value), value


def test_a_click_on_the_previous_example_while_the_next_loads_saves_nothing(app, demo):
    """A quick annotator clicks a button of the example still on screen while the page loads the next
    one: the click must not save (or mark) anything for the wrong example; the page says so."""
    at = open_page(app, "annotate", annotator="ada")
    shown = at.session_state["example_id"]
    others = [i for i in services.next_examples(demo.project_id, demo.version_id, n=3) if i != shown]
    at.session_state["example_id"] = others[0]  # the next example is being loaded
    button(at, "Right reason").click().run()
    assert services.status()["feedback"] == 0
    assert any("previous example" in w.value for w in at.warning), [w.value for w in at.warning]
