"""Task distribution (issue 10): a project's overlap, and leases of the examples annotators have open."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from conftest import both_backends
from sqlalchemy import select, update

from db import Example, Feedback, Lease, session_scope
from xil import services
from xil.data import ImageDataset, decoy_digits
from xil.services.feedback_store import current_query


def small_project(name: str = "shared", n: int = 100, overlap: int = 1) -> int:
    """A project of ``n`` training images (no model needed: the random queue)."""
    ds = decoy_digits()
    project = services.create_project(
        name,
        ImageDataset(
            name="small",
            images=ds.images[:n],
            labels=ds.labels[:n],
            split=np.array(["train"] * n),
            class_names=ds.class_names,
        ),
        "decoy-digits",
    )
    if overlap != 1:
        services.set_overlap(project.id, overlap)
    return project.id


def judge(example_id: int, annotator: str):
    return services.save_feedback(example_id, annotator, None, verdict="right_reason")


def current_judges(project_id: int) -> dict[int, list[str]]:
    with session_scope() as session:
        rows = session.scalars(current_query(project_id)).all()
    judges: dict[int, list[str]] = {}
    for row in rows:
        judges.setdefault(row.example_id, []).append(row.annotator)
    return judges


@both_backends
def test_ten_annotators_overlap_two_leave_every_example_with_exactly_two_judgements(demo):
    pid = small_project(overlap=2)
    errors: list[BaseException] = []
    start = threading.Barrier(10)

    def annotate(name: str) -> None:
        try:
            start.wait()
            while queue := services.next_examples(pid, None, "random", name, n=3):
                judge(queue[0], name)  # never refused: the lease kept its place
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=annotate, args=(f"annotator-{i}",)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    judges = current_judges(pid)
    assert len(judges) == 100
    assert all(len(names) == 2 and len(set(names)) == 2 for names in judges.values()), judges
    with session_scope() as session:
        assert session.scalars(select(Lease)).all() == []  # every save ended its lease
    for i in range(10):
        assert services.next_examples(pid, None, "random", f"annotator-{i}") == []


@both_backends
def test_with_overlap_one_two_annotators_asking_at_once_never_share_an_example(demo):
    pid = small_project(n=30)
    served: dict[str, list[int]] = {"ada": [], "bob": []}
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def annotate(name: str) -> None:
        try:
            start.wait()
            while queue := services.next_examples(pid, None, "random", name, n=1):
                served[name].append(queue[0])
                judge(queue[0], name)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=annotate, args=(name,)) for name in served]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert not set(served["ada"]) & set(served["bob"])
    assert sorted(served["ada"] + served["bob"]) == sorted(current_judges(pid))
    assert len(current_judges(pid)) == 30


def test_a_served_example_is_leased_until_saved_skipped_or_expired(xil_home):
    pid = small_project(n=3)
    first = services.next_examples(pid, None, "random", "ada")[0]
    assert first not in services.next_examples(pid, None, "random", "bob", n=5)
    assert services.lease(first, "bob") is False
    assert services.next_examples(pid, None, "random", "ada")[0] == first  # reopening renews it
    # expired: someone else may have it
    with session_scope(write=True) as session:
        session.execute(update(Lease).values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    assert services.lease(first, "bob") is True
    assert services.lease(first, "ada") is False
    services.release(first, "bob")
    assert services.lease(first, "ada", minutes=0) is True  # a lease of no time holds nothing
    assert services.lease(first, "bob") is True
    services.skip_example("bob", pid, first)  # a skip gives it back
    assert services.lease(first, "cy") is True


def test_an_annotator_holds_one_example_at_a_time(xil_home):
    pid = small_project(n=3)
    first = services.next_examples(pid, None, "random", "ada")[0]
    second = services.next_examples(pid, None, "random", "ada", exclude=(first,))[0]
    assert second != first
    assert services.lease(first, "bob") is True  # ada moved on: her first lease ended


def test_overlap_refuses_a_new_annotator_past_it_and_lets_anyone_rejudge_their_own(xil_home):
    pid = small_project(n=2, overlap=2)
    with session_scope() as session:
        example_id = session.scalars(select(Example.id).where(Example.project_id == pid)).first()
    judge(example_id, "ada")
    judge(example_id, "bob")
    judge(example_id, "ada")  # re-judging one's own example always goes through
    with pytest.raises(ValueError, match=r"has its 2 judgements already .*overlap is 2.*not saved"):
        judge(example_id, "cy")
    assert sorted(current_judges(pid)[example_id]) == ["ada", "bob"]
    assert services.judged_by(example_id) == 2
    assert example_id not in services.next_examples(pid, None, "random", "cy")
    assert example_id not in services.next_examples(pid, None, "random", "ada")  # judged it already
    services.set_overlap(pid, 3)
    assert example_id in services.next_examples(pid, None, "random", "cy", n=5)
    judge(example_id, "cy")
    with session_scope() as session:
        assert session.scalar(select(Feedback).where(Feedback.annotator == "cy")) is not None


def test_leases_count_against_the_overlap(xil_home):
    pid = small_project(n=1, overlap=2)
    [only] = services.next_examples(pid, None, "random", "ada")
    assert services.next_examples(pid, None, "random", "bob") == [only]
    assert services.next_examples(pid, None, "random", "cy") == []  # two have it open
    judge(only, "ada")
    assert services.next_examples(pid, None, "random", "cy") == []  # one judged, one open
    services.release(only, "bob")
    assert services.next_examples(pid, None, "random", "cy") == [only]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_the_overlap_is_one_or_more(xil_home, bad):
    pid = small_project(n=1)
    with pytest.raises(ValueError, match="1 or more"):
        services.set_overlap(pid, bad)
    assert services.get_project(pid).overlap == 1


def test_unnamed_visitors_take_no_lease(xil_home):
    pid = small_project(n=1)
    assert services.next_examples(pid, None, "random") != []
    with session_scope() as session:
        assert session.scalars(select(Lease)).all() == []
    assert services.next_examples(pid, None, "random", "ada") != []


# --- the Annotate page ---


def annotate_page(annotator: str, example: int | None = None):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import PROJECT_ROOT

    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/annotate.py")
    if example is not None:
        at.query_params["example"] = str(example)
    at.run()
    at.text_input(key="annotator_input").input(annotator).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_annotate_sets_the_overlap_and_says_how_many_judged(demo, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    at = annotate_page("ada")
    assert any("judged by 0 of 1" in c.value for c in at.caption)
    at.number_input(key=f"overlap-{demo.project_id}").set_value(2).run()
    assert not at.exception
    assert services.get_project(demo.project_id).overlap == 2
    assert any("judged by 0 of 2" in c.value for c in at.caption)
    [verdict] = [b for b in at.button if b.label == "Right reason"]
    verdict.click().run()
    assert any("Saved feedback" in s.value for s in at.success)


def test_annotate_does_not_open_an_example_someone_else_has_open(demo, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    ada = annotate_page("ada")
    held = ada.session_state["example_id"]
    bob = annotate_page("bob")
    assert bob.session_state["example_id"] != held
    cy = annotate_page("cy", example=held)  # a link to ada's example
    assert cy.session_state["example_id"] not in (held, bob.session_state["example_id"])
    assert any("showing the next one instead" in w.value for w in cy.warning)


def test_migration_0003_gives_existing_projects_overlap_one(tmp_path):
    import sqlite3

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from db.engine import MIGRATIONS

    path = tmp_path / "old.sqlite"
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0002")
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO project (id, name, task, source, class_names, data_path, data_sha, created_at) "
            "VALUES (1, 'p', 'image', 's', '[\"a\"]', 'x', 'y', '2026-01-01 00:00:00')"
        )
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT overlap FROM project").fetchall() == [(1,)]
        assert connection.execute("SELECT COUNT(*) FROM lease").fetchone() == (0,)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0002")
    engine.dispose()


def test_the_rank_queue_follows_the_overlap_and_leases(xil_home):
    """Prompts are shared as images are: with overlap 2 a second ranker is served a ranked prompt, with
    overlap 1 not even one another ranker has open."""
    from xil.data.prompts import PromptDataset
    from xil.ranking.prompts import demo_prompts

    project = services.create_project("prompts", PromptDataset.from_rows("prompts", demo_prompts()), "demo")
    first = services.ranking.next_prompts(project.id, "ada", n=1)[0]
    assert first not in services.ranking.next_prompts(project.id, "bob", n=3)  # ada holds it
    services.ranking.save_ranking(first, "ada", [1, 2, None, None])
    assert first not in services.ranking.next_prompts(project.id, "bob", n=3)  # ranked once: full at 1
    services.set_overlap(project.id, 2)
    assert services.ranking.next_prompts(project.id, "bob", n=1) == [first]
    assert first not in services.ranking.next_prompts(project.id, "ada", n=3)  # never twice to one person
    services.ranking.save_ranking(first, "bob", [2, 1, None, None])
    assert first not in services.ranking.next_prompts(project.id, "cy", n=20)  # two rankers: full at 2
