"""Team mode end to end (issue 10): Debian's Chromium driven by Playwright against an app started with
XIL_AUTH=on. Signing in with a password, the session cookie that survives a reload, signing out, and
the navigation an annotator's role allows.

Skipped, with the reason, where Chromium or Playwright is missing (.ci/run installs Chromium).
"""

from __future__ import annotations

import pytest

from tests.browser_app import MARKS, chromium, new_tab, running_app
from xil import services
from xil.services import feedback_store

pytestmark = MARKS
PASSWORD = "correct horse battery"
TEAM = {"olga": "owner", "rita": "reviewer", "ada": "annotator", "alan": "annotator"}
OWNER_ONLY = ("Train", "Data", "Export")


@pytest.fixture
def team(demo) -> dict[str, str]:
    """An owner, a reviewer and two annotators, each a member of the demo project."""
    for name, role in TEAM.items():
        services.accounts.add_user(name, role, password=PASSWORD)
        services.accounts.add_member(demo.project_id, name)
    return TEAM


@pytest.fixture
def server(team, xil_home):
    with running_app(xil_home, XIL_AUTH="on") as url:
        yield url


@pytest.fixture
def browser(server):
    with chromium() as browser:
        yield browser


def _sign_in(page, name: str, password: str) -> None:
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def _sidebar_links(page) -> set[str]:
    """The page links' labels (the last line of each: the icon's ligature comes first)."""
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("link", name="Models").wait_for()  # the links come after the account box
    page.wait_for_timeout(300)
    links = sidebar.get_by_role("link").all()
    return {link.inner_text().strip().splitlines()[-1] for link in links}


def _session_cookie(page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == "xil_session"), None)


def test_an_annotator_signs_in_keeps_the_session_over_a_reload_and_signs_out(browser, server, demo):
    page = new_tab(browser)
    page.goto(server)
    page.get_by_role("button", name="Sign in").wait_for()
    assert "The loop" not in page.content()  # nothing of the studio before signing in

    _sign_in(page, "ada", "not her password")
    page.get_by_text("wrong name or password").wait_for()
    assert _session_cookie(page) is None

    _sign_in(page, "ada", PASSWORD)
    page.get_by_text("Signed in as").wait_for()
    assert "ada (annotator on this project)" in page.get_by_test_id("stSidebar").inner_text()
    links = _sidebar_links(page)
    assert {"Home", "Annotate", "Models"} <= links, links
    assert not links & {*OWNER_ONLY, "Review"}, links
    assert page.get_by_label("Annotator").count() == 0  # no name to type: judgements are ada's
    page.wait_for_function("document.cookie.includes('xil_session=')")
    assert services.accounts.actor_from_token(_session_cookie(page)).name == "ada"

    page.reload()  # a new connection: the cookie signs her in again
    page.get_by_role("button", name="Sign out").wait_for()  # (the caption can come a moment before it)
    assert page.get_by_role("button", name="Sign in").count() == 0

    page.goto(f"{server}/train")  # a typed URL does not help
    page.get_by_text("does not allow you to train").wait_for()
    assert page.get_by_role("button", name="Queue").count() == 0

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for()
    page.wait_for_function("!document.cookie.includes('xil_session=')")
    page.reload()  # the cookie is gone: still signed out
    page.get_by_role("button", name="Sign in").wait_for()
    assert page.get_by_text("Signed in as").count() == 0


def test_the_owner_sees_every_page(browser, server):
    page = new_tab(browser)
    page.goto(server)
    _sign_in(page, "olga", PASSWORD)
    page.get_by_text("Signed in as").wait_for()
    assert set(OWNER_ONLY) <= _sidebar_links(page)


def _judgements(project_id: int) -> dict[int, dict[str, tuple]]:
    """``{example id: {annotator: (verdict, label, review status)}}`` of the current judgements."""
    by_example: dict[int, dict[str, tuple]] = {}
    for row in feedback_store.current_rows(project_id):
        by_example.setdefault(row.example_id, {})[row.annotator] = (row.verdict, row.label, row.review_status)
    return by_example


def test_two_annotators_disagree_and_a_reviewer_resolves_it_first(browser, server, demo):
    services.set_overlap(demo.project_id, 2)
    ada, alan = new_tab(browser), new_tab(browser)  # two browser contexts: two people
    for page, name in ((ada, "ada"), (alan, "alan")):
        page.goto(f"{server}/annotate")
        _sign_in(page, name, PASSWORD)
        page.get_by_role("button", name="Right reason").wait_for()
    # with overlap 2 both are served the queue's first example: ada keeps the label, alan corrects it
    ada.get_by_role("button", name="Right reason").click()
    ada.get_by_text("Saved feedback").wait_for()
    labels = alan.get_by_role("radiogroup", name="Correct label")  # one pill per class
    labels.get_by_role("radio").filter(has_not_text="dataset label").first.click()
    alan.get_by_role("button", name="Wrong reason").click()
    alan.get_by_text("Saved feedback").wait_for()

    shared = {e: j for e, j in _judgements(demo.project_id).items() if len(j) == 2}
    assert len(shared) == 1, _judgements(demo.project_id)
    example_id, judged = next(iter(shared.items()))
    assert judged["ada"][:2] == ("right_reason", None)
    assert judged["alan"][0] == "wrong_reason" and judged["alan"][1] is not None
    name = services.get_example(example_id).name

    rita = new_tab(browser)
    rita.goto(f"{server}/review")
    _sign_in(rita, "rita", PASSWORD)
    heading = rita.get_by_test_id("stMain").get_by_role("heading", level=4).first
    heading.get_by_text("disagreement").wait_for()  # the first example shown is the disagreement
    assert name in heading.inner_text()
    ids = {
        row.annotator: row.id for row in feedback_store.current_rows(demo.project_id) if row.example_id == example_id
    }
    rita.get_by_role("button", name="Accept").first.click()  # ada's judgement: the first column
    rita.get_by_text(f"Feedback {ids['ada']} accepted.").wait_for()
    rita.get_by_role("button", name="Reject").nth(1).click()  # alan's
    rita.get_by_text(f"Feedback {ids['alan']} rejected.").wait_for()
    statuses = {who: j[2] for who, j in _judgements(demo.project_id)[example_id].items()}
    assert statuses == {"ada": "accepted", "alan": "rejected"}
    # annotators may not review: the page refuses them
    ada.goto(f"{server}/review")
    ada.get_by_text("does not allow you to review").wait_for()
