"""A team's progress (issue 10): the project's judgements done and left, each person's part and rate,
who may see whose numbers, and the Team page."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import PROJECT_ROOT
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from db import Example, Feedback, session_scope
from xil import services
from xil.data import ImageDataset, decoy_digits
from xil.services.progress import counted_split

APP = str(PROJECT_ROOT / "streamlit_app.py")
PASSWORD = "longenough1"


def small_project(train: int = 6, test: int = 2, overlap: int = 2) -> tuple[int, list[int], list[int]]:
    """A project of ``train`` + ``test`` images; its train and test example ids in row order."""
    ds = decoy_digits()
    n = train + test
    project = services.create_project(
        "team",
        ImageDataset(
            name="small",
            images=ds.images[:n],
            labels=ds.labels[:n],
            split=np.array(["train"] * train + ["test"] * test),
            class_names=ds.class_names,
        ),
        "decoy-digits",
    )
    services.set_overlap(project.id, overlap)
    with session_scope() as session:
        rows = session.execute(
            select(Example.id, Example.split).where(Example.project_id == project.id).order_by(Example.idx)
        ).all()
    return project.id, [i for i, s in rows if s == "train"], [i for i, s in rows if s == "test"]


def judge(example_id: int, annotator: str) -> Feedback:
    return services.save_feedback(example_id, annotator, None, verdict="right_reason")


def at_times(rows: list[Feedback], start: datetime, step_s: float) -> list[datetime]:
    """Give the saves ``rows`` the moments ``start``, ``start + step_s``, ...; the moments."""
    moments = [start + timedelta(seconds=step_s * k) for k in range(len(rows))]
    with session_scope(write=True) as session:
        for row, moment in zip(rows, moments, strict=True):
            session.execute(update(Feedback).where(Feedback.id == row.id).values(created_at=moment))
    return moments


def test_progress_counts_pairs_up_to_the_overlap(xil_home):
    pid, train, test = small_project(overlap=3)
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    ada = [judge(train[0], "ada"), judge(train[1], "ada"), judge(train[1], "ada"), judge(test[0], "ada")]
    judge(train[0], "bob")
    judge(train[0], "cy")  # a third judgement while the overlap was 3 ...
    services.set_overlap(pid, 2)  # ... counts once the overlap is 2 no more than two
    moments = at_times(ada, t0, 60)
    assert services.project_progress(pid) == {
        "examples": 6,  # the training split only
        "overlap": 2,
        "judgements_needed": 12,
        "judgements_done": 3,  # train[0]: 2 (of 3), train[1]: 1 (ada twice is one pair); test[0] not counted
        "complete": 1,
        "left": 9,
    }

    assert services.lease(train[3], "bob") and services.lease(train[3], "cy")  # two of two places held
    assert services.lease(train[2], "bob")  # bob's one lease moves here: one of two places held
    assert services.lease(train[4], "cy") and services.lease(train[4], "dan")  # cy's lease moves too
    mine = services.annotator_progress(pid, " ada ")
    assert mine["done"] == 2  # train[0] and train[1]; the test example is not counted
    assert mine["left"] == 3  # train[2], train[3] (bob's lease moved), train[5]; not train[4] (cy, dan)
    # three examples judged over 180 s of active time (four saves, one a correction): 60 an hour
    assert mine["per_hour"] == pytest.approx(60.0)
    assert mine["last_active"].replace(tzinfo=timezone.utc) == moments[-1]

    nobody = services.annotator_progress(pid, "eve")
    assert nobody == {"done": 0, "left": 4, "per_hour": None, "last_active": None}  # train[4] is full
    assert services.annotator_progress(pid, "bob")["per_hour"] is None  # one save: no active time


def test_ranking_projects_count_every_split():
    assert counted_split(SimpleNamespace(task="ranking")) is None
    assert counted_split(SimpleNamespace(task="image")) == "train"
    assert counted_split(SimpleNamespace(task="text")) == "train"


def test_annotators_see_only_their_own_row(xil_home):
    pid, train, _ = small_project(overlap=2)
    for name, role in (("ann", "annotator"), ("rev", "reviewer"), ("new", "annotator"), ("out", "annotator")):
        services.accounts.add_user(name, role, password=PASSWORD)
    for name in ("ann", "rev", "new"):
        services.accounts.add_member(pid, name)
    ann, rev, out = (services.accounts.authenticate(n, PASSWORD) for n in ("ann", "rev", "out"))
    for example_id in train[:2]:
        judge(example_id, "ann")
        judge(example_id, "bob")  # a local name: no account needed to have judged
    everyone = ["ann", "bob", "new"]  # new: an annotator member who has not judged yet
    assert [r["name"] for r in services.team_progress(pid)] == everyone
    assert [r["name"] for r in services.team_progress(pid, rev)] == everyone
    [own] = services.team_progress(pid, ann)
    assert (own["name"], own["done"]) == ("ann", 2)
    assert [r["done"] for r in services.team_progress(pid, rev)] == [2, 2, 0]

    assert [a["name"] for a in services.agreement(pid)["annotators"]] == ["ann", "bob"]
    assert [a["name"] for a in services.agreement(pid, actor=rev)["annotators"]] == ["ann", "bob"]
    seen = services.agreement(pid, actor=ann)
    assert [a["name"] for a in seen["annotators"]] == ["ann"]
    assert seen["examples_with_overlap"] == 2 and seen["verdict_alpha"] is None  # aggregates stay (all agree)

    for call in (lambda: services.team_progress(pid, out), lambda: services.agreement(pid, actor=out)):
        with pytest.raises(services.PermissionDenied, match="not a member"):
            call()


@pytest.fixture
def app(demo, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def test_team_page_shows_two_annotators_and_sets_the_overlap(app, demo):
    pid = demo.project_id
    services.set_overlap(pid, 2)
    with session_scope() as session:
        train = list(
            session.scalars(
                select(Example.id).where(Example.project_id == pid, Example.split == "train").order_by(Example.idx)
            )
        )
    for example_id in train[:3]:
        judge(example_id, "ada")
    for example_id in train[:1]:
        judge(example_id, "bob")
    at = app.switch_page("pages/team.py").run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    n = len(train)
    assert metrics["Judgements"] == f"4 / {2 * n:,}"
    assert metrics["Examples complete"] == f"1 / {n:,}"
    assert metrics["Judgements left"] == f"{2 * n - 4:,}"
    assert metrics["Overlap"] == "2"
    assert metrics["Verdict α"] == "—"  # one shared example, both right_reason: no variation, undefined
    people = at.dataframe[0].value
    assert list(people["annotator"]) == ["ada", "bob"]
    assert list(people["examples judged"]) == [3, 1]
    assert len(at.get("plotly_chart")) >= 1

    [overlap] = [w for w in at.number_input if w.label == "Overlap"]
    overlap.set_value(3)
    [submit] = [b for b in at.button if b.label == "Set overlap"]
    submit.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert services.get_project(pid).overlap == 3
    assert any("overlap is 3" in s.value for s in at.success)
    assert {m.label: m.value for m in at.metric}["Overlap"] == "3"
    log = at.dataframe[-1].value
    assert "overlap_changed" in list(log["action"])


def test_team_page_in_team_mode_shows_an_annotator_only_their_own_row(demo, monkeypatch):
    pid = demo.project_id
    services.accounts.add_user("boss", "owner", password=PASSWORD)
    services.accounts.add_user("ann", "annotator", password=PASSWORD)
    services.accounts.add_member(pid, "ann")
    with session_scope() as session:
        train = list(session.scalars(select(Example.id).where(Example.project_id == pid, Example.split == "train")))
    ann = services.accounts.authenticate("ann", PASSWORD)
    judge(train[0], "ann")
    judge(train[1], "bob")
    monkeypatch.setenv("XIL_START_WORKER", "0")
    monkeypatch.setenv("XIL_AUTH", "on")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["xil_token"] = services.accounts.session_token(ann)
    at.run()
    at.switch_page("pages/team.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Judgements"] == f"2 / {len(train):,}"  # the project's, all of it
    [people] = [d.value for d in at.dataframe if "annotator" in d.value.columns]
    assert list(people["annotator"]) == ["ann"]
    assert any("Your own numbers" in c.value for c in at.caption)
    headers = [h.value for h in at.subheader]
    assert "Settings" not in headers and "Audit log" not in headers  # owners only
    assert not [w for w in at.number_input if w.label == "Overlap"]
    members = [d.value for d in at.dataframe if "role" in d.value.columns]
    assert members and set(members[0]["name"]) == {"ann", "boss"}

    boss = services.accounts.authenticate("boss", PASSWORD)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["xil_token"] = services.accounts.session_token(boss)
    at.run()
    at.switch_page("pages/team.py").run()
    assert not at.exception, [e.value for e in at.exception]
    [people] = [d.value for d in at.dataframe if "annotator" in d.value.columns]
    assert list(people["annotator"]) == ["ann", "bob"]
    assert "Audit log" in [h.value for h in at.subheader]
    [log] = [d.value for d in at.dataframe if "action" in d.value.columns]
    assert "login" in set(log["action"])
