"""Every page for every demo project, switching projects in the sidebar in between (issue 8's "done
when"), run headless with Streamlit's AppTest against a real database."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pages.ui import NAV, md
from tests.conftest import PROJECT_ROOT
from tests.tiny_models import tiny_classifier
from xil import services
from xil.models.text import save_classifier
from xil.services.catalog import examples
from xil.train.text_config import TextTrainConfig

APP = str(PROJECT_ROOT / "streamlit_app.py")


@pytest.fixture
def demos(demo, tmp_path, monkeypatch) -> list[int]:
    """The three demo projects (images, text, ranking); the text one with a tiny first model so its
    Annotate and Models pages have something to explain."""
    monkeypatch.setenv("XIL_START_WORKER", "0")
    services.seed_demo()
    projects = services.list_projects()
    [reviews] = [p for p in projects if p.task == "text"]
    model, tokenizer = tiny_classifier(num_labels=2)
    backbone = str(save_classifier(model, tokenizer, tmp_path / "tiny-bert"))
    cfg = TextTrainConfig(method="none", backbone=backbone)
    services.register_model(reviews.id, (model, tokenizer), cfg, {"test_acc": 0.5})
    assert {p.task for p in projects} == {"image", "text", "ranking"}
    return [p.id for p in projects]


def project_box(at: AppTest):
    [box] = [s for s in at.sidebar.selectbox if s.label == "Project"]
    return box


def pick_project(at: AppTest, project_id: int) -> AppTest:
    """Choose a project in the sidebar, as a person does."""
    project_box(at).set_value(project_id).run()
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.exception]


def test_every_page_for_every_project_switching_in_the_sidebar(demos):
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["annotator"] = "ada"
    at.run()
    assert not at.exception, errors(at)
    for path, title, _ in NAV:
        at.switch_page(path).run()
        assert not at.exception, (title, errors(at))
        # every project on this page, each reached through the sidebar from the previous one; on
        # Annotate the previous project's example is still in the URL when the switch happens
        for project_id in [*demos[1:], demos[0]]:
            pick_project(at, project_id)
            assert not at.exception, (title, project_id, errors(at))
            assert at.session_state["project_id"] == project_id, (title, project_id)
            if path == "pages/annotate.py" and services.get_project(project_id).task != "ranking":
                shown = at.session_state["example_id"]  # the ranking project annotates on Rank
                assert shown in {e.id for e in examples(project_id)}, (project_id, shown)
                assert at.query_params["example"] == str(shown)


def test_the_sidebar_takes_every_change_of_project(demos):
    """1->2, 2->1, 1->3, 3->2: each one sticks (every second change used to snap back)."""
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    a, b, c = demos
    assert at.session_state["project_id"] == a
    for project_id in (b, a, c, b, b, a):
        pick_project(at, project_id)
        assert not at.exception, errors(at)
        assert at.session_state["project_id"] == project_id
        assert project_box(at).value == project_id
        assert at.metric[0].value == md(services.get_project(project_id).name)  # the Home page follows


def test_the_project_choice_survives_a_page_switch(demos):
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    pick_project(at, demos[1])
    at.switch_page("pages/export.py").run()
    assert at.session_state["project_id"] == demos[1]
    assert project_box(at).value == demos[1]
