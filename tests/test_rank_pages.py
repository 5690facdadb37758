"""The Rank and Revise (RiT) pages as a new user meets them (issue 8): going back, reviewing and
changing one's rankings after the last prompt, reward scores on ranked prompts, a button for RiT,
and prompts, answers and corrections shown as text, never as Markdown or HTML (issue 7)."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import PROJECT_ROOT
from tests.tiny_models import tiny_classifier
from xil import services
from xil.ranking.config import RewardConfig
from xil.services import ranking, revision

APP = str(PROJECT_ROOT / "streamlit_app.py")
HOSTILE = ["![](http://127.0.0.1:9/x)", "<img src=x>"]


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")


@pytest.fixture
def prompts():
    services.seed_demo(train=False)
    [project] = [p for p in services.list_projects() if p.task == "ranking"]
    return project


def open_page(page: str, project_id: int | None = None, annotator: str = "ada") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if project_id is not None:
        at.query_params["project"] = str(project_id)
    at.query_params["annotator"] = annotator
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r} among {[b.label for b in at.button]}"
    return matches[0]


def ranks_on_page(at: AppTest, example_id: int, k: int = 4) -> list[int]:
    return [at.selectbox(key=f"rank-{example_id}-{i}").value for i in range(k)]


def rendered_markdown(at: AppTest) -> str:
    """Everything the page renders as Markdown: markdown, info, success, error, caption."""
    parts = [e.value for kind in ("markdown", "info", "success", "error", "warning", "caption") for e in at.get(kind)]
    return "\n".join(parts)


def raw_markup(markdown: str) -> list[str]:
    """Image links and HTML tags that Markdown would render: ones not escaped by ui.md()."""
    return re.findall(r"(?<!\\)!(?<!\\)\[|(?<!\\)<img", markdown)


def test_previous_prompt_reopens_the_saved_ranking_to_change_it(prompts):
    at = open_page("rank", prompts.id)
    assert button(at, "Previous prompt").disabled  # nothing before the first prompt
    first = at.session_state["rank_example"]
    for i, rank in enumerate([2, 1, 3, 3]):
        at.selectbox(key=f"rank-{first}-{i}").set_value(rank)
    at.run()
    button(at, "Save ranking").click().run()
    assert at.session_state["rank_example"] != first
    button(at, "Previous prompt").click().run()
    assert at.session_state["rank_example"] == first
    assert ranks_on_page(at, first) == [2, 1, 3, 3]
    assert any("You ranked this prompt before" in c.value for c in at.caption)
    at.selectbox(key=f"rank-{first}-3").set_value(4).run()
    button(at, "Save ranking").click().run()
    old, new = services.feedback_history(first)
    assert new.supersedes_id == old.id and new.payload["ranks"] == [2, 1, 3, 4]
    reloaded = open_page("rank", prompts.id)  # a new session: the way back is the ranking saved last
    button(reloaded, "Previous prompt").click().run()
    assert reloaded.session_state["rank_example"] == first and ranks_on_page(reloaded, first) == [2, 1, 3, 4]


def test_after_the_last_prompt_rankings_can_be_reviewed_with_scores_and_changed(prompts):
    examples = ranking.next_prompts(prompts.id, n=100)
    for example in examples:
        ranking.save_ranking(example, "ada", [1, 2, 3, 4])
    model, tokenizer = tiny_classifier(num_labels=1)
    services.register_model(prompts.id, (model, tokenizer), RewardConfig(max_length=64), {}, len(examples), None)
    at = open_page("rank", prompts.id)
    assert any("Every prompt is ranked" in s.value for s in at.success)
    review = at.dataframe[0].value
    assert len(review) == len(examples) and set(review["your order"]) == {"A > B > C > D"}
    at.selectbox(key="rank_review").set_value(examples[1]).run()
    button(at, "Open").click().run()
    assert at.session_state["rank_example"] == examples[1]
    assert ranks_on_page(at, examples[1]) == [1, 2, 3, 4]
    assert sum(c.value.startswith("reward ") for c in at.caption) == 4  # the reward model's scores
    at.checkbox(key=f"all_bad-{examples[1]}").check().run()
    button(at, "Save ranking").click().run()
    assert services.feedback_history(examples[1])[-1].payload["all_bad"] is True
    assert any("Every prompt is ranked" in s.value for s in at.success)  # and back to the review


def test_rank_page_shows_hostile_prompts_and_answers_as_text(tmp_path):
    path = tmp_path / "hostile.jsonl"
    path.write_text(json.dumps({"prompt": HOSTILE[0], "candidates": HOSTILE}) + "\n", encoding="utf-8")
    project = services.import_prompts(path, name="hostile <b>")
    at = open_page("rank", project.id)
    shown = rendered_markdown(at)
    assert "img src" in shown and "127" in shown and not raw_markup(shown)
    for i, rank in enumerate([1, 2]):
        at.selectbox(key=f"rank-{at.session_state['rank_example']}-{i}").set_value(rank)
    at.text_area[0].input(HOSTILE[1]).run()
    button(at, "Save ranking").click().run()
    assert not raw_markup(rendered_markdown(at))


def test_revise_page_has_a_button_plain_prompt_and_counts_corrections(prompts):
    revision.add_correction(f"Hard-boil eggs for 10 minutes {HOSTILE[0]} {HOSTILE[1]}", "rule")
    at = open_page("revise", prompts.id)
    assert any(c.value == "1 correction in the corpus." for c in at.caption)
    at.text_input(key="rit_prompt").input("How long do I boil an egg?")
    at.slider[0].set_value(0.05)
    button(at, "Revise prompt").click().run()
    [code] = at.get("code")
    assert code.language == "plaintext" and "Question: How long do I boil an egg?" in code.value
    shown = rendered_markdown(at)
    assert any("boil eggs" in s.value for s in at.success) and not raw_markup(shown)


def test_home_explains_the_ranking_loop_for_a_ranking_project(prompts):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["project"] = str(prompts.id)
    at.run()
    loop = next(m.value for m in at.markdown if "**The loop**" in m.value)
    assert "1. **Rank**" in loop and "Drag a box" not in loop
    assert "Type your name as **Annotator**" in loop  # no name given yet
    at.text_input(key="annotator_input").input("ada").run()
    loop = next(m.value for m in at.markdown if "**The loop**" in m.value)
    assert "Type your name" not in loop


def test_revise_page_says_when_the_prompt_or_the_rule_is_empty(prompts):
    at = open_page("revise", prompts.id)
    button(at, "Revise prompt").click().run()
    assert [w.value for w in at.warning] == ["Type a prompt to revise."]
    button(at, "Add rule").click().run()
    assert [w.value for w in at.warning] == ["Type the rule first."]  # the prompt's warning was for its own click
    assert any(c.value == "0 corrections in the corpus." for c in at.caption)


def test_export_page_names_the_file_as_its_button_says(prompts):
    ranking.save_ranking(ranking.next_prompts(prompts.id)[0], "ada", [1, 2, 3, 4])
    at = open_page("export", prompts.id)
    at.radio[1].set_value("pairs").run()
    button(at, "Prepare export").click().run()
    [download] = at.get("download_button")
    assert download.proto.label.startswith("Download ranking-demo-preferences.jsonl (")


try:  # the browser fixtures; without Playwright only the browser test below is skipped
    from tests.test_browser import CHROMIUM, page, server  # noqa: F401
except pytest.skip.Exception:
    CHROMIUM = None


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium or Playwright: the browser tests need both")
def test_download_keeps_the_buttons_name_and_there_is_no_deploy_button(demo, page, server, prompts):
    ranking.save_ranking(ranking.next_prompts(prompts.id)[0], "ada", [1, 2, 3, 4])
    page.goto(f"{server}/export?project={prompts.id}&annotator=ada")
    page.get_by_role("button", name="Prepare export").click()
    button = page.get_by_role("button", name="Download ranking-demo-feedback.jsonl", exact=False)
    with page.expect_download() as info:
        button.click()
    assert info.value.suggested_filename == "ranking-demo-feedback.jsonl"
    assert page.get_by_role("button", name="Deploy").count() == 0
