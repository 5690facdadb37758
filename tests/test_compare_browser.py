"""The Compare page in a real browser (issue 13): open it, say answer 1 is better, find the comparison in
the database. Skipped, with the reason, where Chromium or Playwright is missing (.ci/run installs Chromium)."""

from __future__ import annotations

from tests.browser_app import MARKS, chromium, new_tab, running_app
from tests.test_compare import generated_project
from xil.services import comparison

pytestmark = MARKS


def test_choose_the_first_answer_and_find_the_comparison_in_the_database(demo, xil_home, tmp_path):
    project_id, version_id = generated_project(tmp_path)  # in place before the server starts
    with running_app(xil_home) as server, chromium() as browser:
        page = new_tab(browser)
        page.goto(f"{server}/compare?project={project_id}&annotator=sam")
        page.get_by_text("Answer 2", exact=True).wait_for()
        box = page.get_by_text("Answer 1", exact=True).locator("xpath=ancestor::div[@data-testid='stVerticalBlock'][1]")
        shown = box.inner_text().removeprefix("Answer 1")  # the bordered box: its title, then the answer
        page.get_by_role("button", name="Answer 1 is better").click()
        page.get_by_text("Saved your choice").wait_for()

    [row] = comparison.comparisons(project_id)
    assert row.annotator == "sam" and {row.source_a, row.source_b} == {f"v{version_id}", "base"}
    chosen = row.answer_a if row.choice == "a" else row.answer_b  # the answer on the left won
    assert row.choice in {"a", "b"} and " ".join(chosen.split()) == " ".join(shown.split())
