"""End to end in a real browser: Debian's Chromium driven by Playwright against a running app.

Skipped, with the reason, where Chromium or Playwright is missing (.ci/run installs Chromium).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser_app import CHROMIUM, MARKS, chromium, new_tab, running_app
from xil import services

pytestmark = MARKS
__all__ = ["CHROMIUM", "page", "server"]  # the Rank page's browser test uses them too


@pytest.fixture
def server(demo, xil_home):
    with running_app(xil_home) as url:
        yield url


@pytest.fixture
def page(server):
    with chromium() as browser:
        yield new_tab(browser)


def _drag_over_pixels(page, top_left: tuple[int, int], bottom_right: tuple[int, int], size: int = 28) -> None:
    """Drag a selection box over the plotly pixel grid, from one pixel to another (inclusive)."""
    area = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    cell_w, cell_h = area["width"] / size, area["height"] / size
    (r0, c0), (r1, c1) = top_left, bottom_right
    page.mouse.move(area["x"] + (c0 + 0.1) * cell_w, area["y"] + (r0 + 0.1) * cell_h)
    page.mouse.down()
    page.mouse.move(area["x"] + (c1 + 0.9) * cell_w, area["y"] + (r1 + 0.9) * cell_h, steps=10)
    page.mouse.up()


def test_mark_region_save_and_find_it_in_the_database(page, server, demo):
    page.goto(server)
    page.get_by_role("link", name="Annotate").click()
    page.get_by_text("Brush", exact=True).wait_for()
    annotator = page.get_by_label("Annotator")
    annotator.fill("ada")
    annotator.press("Enter")
    page.wait_for_timeout(1500)
    example_id = int(page.evaluate("new URLSearchParams(location.search).get('example')"))

    _drag_over_pixels(page, (0, 0), (3, 3))
    page.get_by_text("Marked: 16 irrelevant (magenta), 0 relevant (green) pixels").wait_for()
    page.get_by_role("button", name="Wrong reason").click()
    page.get_by_text("Saved feedback").wait_for()

    [row] = services.feedback_history(example_id)
    assert (row.annotator, row.verdict, row.model_version_id) == ("ada", "wrong_reason", demo.version_id)
    mask = services.load_mask(row.irrelevant_path, (28, 28))
    expected = np.zeros((28, 28), dtype=bool)
    expected[:4, :4] = True
    assert np.array_equal(mask, expected)
    assert row.relevant_path is None


def test_keyboard_saves_right_reason_with_a_relevant_region(page, server, demo):
    page.goto(f"{server}/annotate?annotator=grace")
    page.get_by_text("Brush", exact=True).wait_for()
    example_id = int(page.evaluate("new URLSearchParams(location.search).get('example')"))
    page.get_by_text("Relevant", exact=True).click()
    page.wait_for_timeout(800)
    _drag_over_pixels(page, (10, 10), (14, 15))
    page.get_by_text("Marked: 0 irrelevant (magenta), 30 relevant (green) pixels").wait_for()
    page.get_by_role("heading", name="Annotate").click()  # focus off the chart
    page.keyboard.press("1")
    page.get_by_text("Saved feedback").wait_for()

    [row] = services.feedback_history(example_id)
    assert (row.annotator, row.verdict) == ("grace", "right_reason")
    assert services.load_mask(row.relevant_path, (28, 28)).sum() == 30


@pytest.fixture
def reviews(demo, tmp_path):
    """The review demo (text) with a tiny first model, in place before the server starts."""
    from tests.tiny_models import tiny_classifier
    from xil.models.text import save_classifier
    from xil.train.text_config import TextTrainConfig

    services.seed_demo()
    [project] = [p for p in services.list_projects() if p.task == "text"]
    model, tokenizer = tiny_classifier(num_labels=2)
    backbone = str(save_classifier(model, tokenizer, tmp_path / "tiny-bert"))
    version = services.register_model(
        project.id, (model, tokenizer), TextTrainConfig(method="none", backbone=backbone), {"test_acc": 0.5}
    )
    return project, version


def on_screen_unscrolled(locator) -> bool:
    """Whether the element is what the page shows at its centre right now (not clipped, covered or
    scrolled away inside a container)."""
    return locator.evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);"
        " return hit !== null && el.contains(hit); }"
    )


def test_select_words_save_and_find_them_in_the_database(reviews, page, server):
    project, version = reviews
    page.goto(f"{server}/annotate?project={project.id}&annotator=lin")
    page.get_by_text("Irrelevant words").wait_for()
    example_id = int(page.evaluate("new URLSearchParams(location.search).get('example')"))
    words = services.explain_example(version.id, example_id, "layer_integrated_gradients").words
    irrelevant = page.get_by_role("toolbar", name="Irrelevant words (should not matter)")
    last = irrelevant.get_by_role("button", name=words[-1], exact=True)  # the leaked device word
    assert on_screen_unscrolled(last), "the text's last word must be visible without scrolling the pills"
    last.click()
    page.get_by_text("Marked: 1 irrelevant (magenta), 0 relevant (green) words").wait_for()
    relevant = page.get_by_role("toolbar", name="Relevant words", exact=True)
    relevant.get_by_role("button", name=words[1], exact=True).click()
    page.get_by_text("Marked: 1 irrelevant (magenta), 1 relevant (green) words").wait_for()
    page.get_by_role("button", name="Wrong reason").click()
    page.get_by_text("Saved feedback").wait_for()

    [row] = services.feedback_history(example_id)
    assert (row.annotator, row.verdict, row.kind) == ("lin", "wrong_reason", "text_rationale")
    assert row.payload == {"irrelevant_words": [len(words) - 1], "relevant_words": [1]}


def test_rank_candidates_save_and_find_the_ranking_in_the_database(demo, page, server):
    services.seed_demo(train=False)  # the ranking demo; Decoy-Digits is there already
    [project] = [p for p in services.list_projects() if p.task == "ranking"]
    page.goto(f"{server}/rank?project={project.id}&annotator=sam")
    page.get_by_text("Prompt", exact=False).first.wait_for()
    for letter, rank in zip("ABCD", ["2", "1", "3", "3"], strict=True):
        page.get_by_role("combobox", name=f"Rank of answer {letter}").click()
        page.get_by_role("option", name=rank, exact=True).click()
        page.wait_for_timeout(400)
    page.get_by_role("button", name="Save ranking").click()
    page.get_by_text("Saved your ranking").wait_for()

    [row] = _feedback(project.id)
    assert (row.annotator, row.kind) == ("sam", "ranking")
    assert row.payload["ranks"] == [2, 1, 3, 3] and row.payload["all_bad"] is False


def _feedback(project_id: int):
    from xil.services.feedback_store import current_feedback

    return current_feedback(project_id)


# --- issue 8: what a new user hit in the browser ------------------------------------------------------


def _url_param(page, name: str) -> str | None:
    return page.evaluate(f"new URLSearchParams(location.search).get('{name}')")


def _settled(page) -> None:
    """Wait for the rerun to finish: the app root says ``data-test-script-state="notRunning"`` once the
    script is done (the status widget's "Running" text is not always rendered)."""
    page.wait_for_timeout(400)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'",
        timeout=120_000,
    )
    page.wait_for_timeout(300)


def _choose_project(page, project) -> None:
    page.get_by_role("combobox", name="Project").click()
    page.get_by_role("option", name=project.name, exact=True).click()
    page.wait_for_function(f"new URLSearchParams(location.search).get('project') === '{project.id}'", timeout=30_000)
    _settled(page)


def _exceptions(page) -> list[str]:
    return page.get_by_test_id("stException").all_inner_texts()


def test_every_sidebar_change_of_project_sticks(reviews, page, server):
    projects = {p.task: p for p in services.list_projects()}
    a, b, c = projects["image"], projects["text"], projects["ranking"]
    page.goto(server)
    page.get_by_text("The loop").wait_for()
    for project in (b, a, c, b, a):  # every second change used to snap back
        _choose_project(page, project)
        page.wait_for_timeout(1500)  # time for a snap back to show
        assert _url_param(page, "project") == str(project.id)
        assert page.get_by_test_id("stMetricValue").first.inner_text() == project.name  # Home follows


def test_every_page_for_every_project_in_the_browser(reviews, page, server):
    from pages.ui import NAV

    projects = services.list_projects()
    page.goto(f"{server}/?annotator=ada")
    page.get_by_text("The loop").wait_for()
    for _, title, _ in NAV:
        page.get_by_role("link", name=title, exact=True).click()
        _settled(page)
        assert not _exceptions(page), (title, _exceptions(page))
        for project in [*projects[1:], projects[0]]:
            _choose_project(page, project)
            assert not _exceptions(page), (title, project.name, _exceptions(page))


def test_annotate_after_switching_to_the_text_project_shows_a_text(reviews, page, server):
    project, version = reviews
    page.goto(f"{server}/annotate?annotator=ada")
    page.get_by_text("Brush", exact=True).wait_for()
    digit = _url_param(page, "example")
    _choose_project(page, project)
    page.get_by_text("Irrelevant words").wait_for()
    assert not _exceptions(page)
    assert _url_param(page, "example") not in (None, digit)
    page.reload()  # the URL it left is a good one
    page.get_by_text("Irrelevant words").wait_for()
    assert not _exceptions(page)


def test_a_box_from_the_images_top_right_corner_marks_pixels(page, server, demo):
    page.goto(f"{server}/annotate?annotator=ada")
    page.get_by_text("Brush", exact=True).wait_for()
    _settled(page)
    area = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    cell = area["width"] / 28
    # a box started in the top-right pixel, where Plotly's toolbar used to lie, dragged down-left
    page.mouse.move(area["x"] + 27.9 * cell, area["y"] + 0.1 * cell)
    page.mouse.down()
    page.mouse.move(area["x"] + 24.1 * cell, area["y"] + 3.9 * cell, steps=10)
    page.mouse.up()
    page.get_by_text("Marked: 16 irrelevant (magenta), 0 relevant (green) pixels").wait_for()


def test_a_drag_that_marks_nothing_says_so(page, server, demo):
    page.goto(f"{server}/annotate?annotator=ada")
    page.get_by_text("Brush", exact=True).wait_for()
    _settled(page)
    area = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    cell = area["width"] / 28
    # between the centres of four pixels: the box holds none of them
    page.mouse.move(area["x"] + 10.6 * cell, area["y"] + 10.6 * cell)
    page.mouse.down()
    page.mouse.move(area["x"] + 11.4 * cell, area["y"] + 11.4 * cell, steps=8)
    page.mouse.up()
    page.get_by_text("That drag marked no pixels").wait_for()
    page.get_by_text("Marked: 0 irrelevant (magenta), 0 relevant (green) pixels").wait_for()


HOSTILE = "![](http://127.0.0.1:9/x) <img src=x>"


def test_hostile_names_and_texts_make_the_browser_fetch_nothing(demo, page, server, tmp_path):
    from tests.tiny_models import tiny_classifier
    from xil.data.text import TextDataset
    from xil.models.text import save_classifier
    from xil.train.text_config import TextTrainConfig

    texts = [f"review {i} {HOSTILE} ends" for i in range(12)]
    ds = TextDataset(
        name="hostile",
        texts=texts,
        labels=np.arange(12) % 2,
        split=np.array(["train"] * 8 + ["test"] * 4),
        class_names=[HOSTILE, "fine"],
    )
    project = services.create_project(HOSTILE, ds, "test")
    model, tokenizer = tiny_classifier(num_labels=2)
    backbone = str(save_classifier(model, tokenizer, tmp_path / "tiny-bert"))
    cfg = TextTrainConfig(method="none", backbone=backbone)
    services.register_model(project.id, (model, tokenizer), cfg, {"test_acc": 0.5})

    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(f"{server}/?project={project.id}&annotator=ada")
    page.get_by_text("The loop").wait_for()
    page.get_by_role("link", name="Annotate", exact=True).click()
    page.get_by_text("Irrelevant words").wait_for()
    page.get_by_role("button", name="Right reason").click()  # the banner names the example
    page.get_by_text("Saved feedback").wait_for()
    _settled(page)  # a click while the next example loads is refused (it would act on the previous one)
    page.get_by_role("button", name="Back").click()  # the saved label, by its class name
    page.get_by_text("You judged this one").wait_for()
    _settled(page)
    assert page.get_by_text("127.0.0.1:9/x").count() > 0, "the hostile text should show, as text"
    assert page.locator('img[src="http://127.0.0.1:9/x"], img[src="x"]').count() == 0
    assert not [url for url in fetched if "127.0.0.1:9/" in url or url.endswith("/x")], fetched
