"""Review (issue 10): the review queue, disagreements first; accepting, rejecting and correcting a
judgement; who may review, train and export; the training slices (accepted, consensus) computed by hand
on small cases; the export's review columns; and the Review page."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from db import AuditEvent, Example, session_scope
from tests.conftest import PROJECT_ROOT, both_backends
from xil import services
from xil.data import ImageDataset, decoy_digits
from xil.ranking.config import RewardConfig
from xil.services import export, feedback_store, ranking, review, training
from xil.services.adapters.image import ImageAdapter
from xil.train import TrainConfig
from xil.train.text_config import TextTrainConfig

APP = str(PROJECT_ROOT / "streamlit_app.py")
PASSWORD = "longenough1"
SHAPE = (28, 28)


def small_project(overlap: int = 2, train: int = 8) -> tuple[int, list[Example]]:
    """A project of ``train`` images (no model: the services need none); its examples in row order."""
    ds = decoy_digits()
    n = train + 2
    project = services.create_project(
        "review",
        ImageDataset(
            name="small",
            images=ds.images[:n],
            labels=ds.labels[:n],
            split=np.array(["train"] * train + ["test"] * 2),
            class_names=ds.class_names,
        ),
        "decoy-digits",
    )
    services.set_overlap(project.id, overlap)
    with session_scope() as session:
        rows = list(session.scalars(select(Example).where(Example.project_id == project.id).order_by(Example.idx)))
    return project.id, rows


def mask(*cells: tuple[int, int]) -> np.ndarray:
    out = np.zeros(SHAPE, dtype=bool)
    for r, c in cells:
        out[r, c] = True
    return out


def other_label(example: Example, *not_these: int) -> int:
    return next(k for k in range(10) if k != example.label and k not in not_these)


def judge(example: Example, who: str, verdict: str = "right_reason", **marks):
    return services.save_feedback(example.id, who, None, verdict=verdict, **marks)


def team(pid: int) -> dict[str, services.Actor]:
    """An annotator, a reviewer and an owner account, members of the project."""
    for name, role in (("ann", "annotator"), ("rita", "reviewer"), ("olga", "owner")):
        services.accounts.add_user(name, role, password=PASSWORD)
        services.accounts.add_member(pid, name)
    return {name: services.accounts.authenticate(name, PASSWORD) for name in ("ann", "rita", "olga")}


def audit_actions() -> list[tuple[str, str]]:
    with session_scope() as session:
        return [(e.actor, e.action) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


# --- the queue ---


def test_review_queue_puts_disagreements_first(xil_home):
    pid, (e1, e2, e3, e4, *_) = small_project(overlap=2)
    judge(e1, "ada")  # e1: both right, same label: agreement
    judge(e3, "ada")  # e3: one judgement
    judge(e1, "bob")
    judge(e2, "ada", "wrong_reason", irrelevant=mask((0, 0), (0, 1)))  # e2: verdicts differ
    judge(e2, "bob")
    judge(e4, "ada", label=other_label(e4))  # e4: same verdict, labels differ
    judge(e4, "bob")

    queue = services.review_queue(pid)
    assert [item.example_id for item in queue] == [e2.id, e4.id, e1.id, e3.id]
    assert [item.disagree for item in queue] == [True, True, False, False]
    first = queue[0]
    assert [(r.annotator, r.verdict, r.review_status) for r in first.rows] == [
        ("ada", "wrong_reason", "pending"),
        ("bob", "right_reason", "pending"),
    ]
    assert [r.marks for r in first.rows] == ["2 irrelevant pixels", "no marks"]
    assert first.pending == 2 and not any(r.in_consensus for r in first.rows)  # a tie: no majority

    for row in queue[2].rows:  # e1 reviewed: it leaves the queue
        services.set_review(row.feedback_id, "accepted")
    services.set_review(queue[3].rows[0].feedback_id, "rejected")  # e3 too
    assert [item.example_id for item in services.review_queue(pid)] == [e2.id, e4.id]
    assert len(services.review_queue(pid, include_reviewed=True)) == 4
    assert services.review_counts(pid) == {"pending": 4, "accepted": 2, "rejected": 1}


def test_rankings_disagree_on_their_order():
    services.seed_demo(train=False)
    [prompts] = [p for p in services.list_projects() if p.task == "ranking"]
    services.set_overlap(prompts.id, 2)
    p1, p2 = ranking.next_prompts(prompts.id, n=2)
    ranking.save_ranking(p1, "ada", [1, 2, 3, 4])
    ranking.save_ranking(p1, "bob", [1, 3, 5, 7])  # the same order, other numbers
    ranking.save_ranking(p2, "ada", [1, 2, 3, 4])
    ranking.save_ranking(p2, "bob", [2, 1, 3, 4])
    queue = services.review_queue(prompts.id)
    assert [(item.example_id, item.disagree) for item in queue] == [(p2, True), (p1, False)]
    assert queue[1].rows[1].marks == "ranks 1, 3, 5, 7"


# --- accept, reject, correct ---


def test_set_review_and_correct(xil_home):
    pid, (e1, *_) = small_project(overlap=2)
    people = team(pid)
    rita = people["rita"]
    ada = judge(e1, "ada", "wrong_reason", irrelevant=mask((1, 1)))
    bob = judge(e1, "bob")

    accepted = services.set_review(ada.id, "accepted", actor=rita)
    assert (accepted.review_status, accepted.reviewed_by) == ("accepted", "rita")
    assert accepted.reviewed_at is not None
    back = services.set_review(ada.id, "pending", actor=rita)
    assert (back.review_status, back.reviewed_by, back.reviewed_at) == ("pending", None, None)
    assert services.set_review(ada.id, "rejected").reviewed_by == "operator"
    with pytest.raises(ValueError, match="review status"):
        services.set_review(ada.id, "maybe")

    fixed_label = other_label(e1)
    with pytest.raises(ValueError, match="where the wrong reason is"):  # bob marked nothing
        review.correct(bob.id, actor=rita, verdict="wrong_reason")
    correction = review.correct(bob.id, actor=rita, verdict="wrong_reason", label=fixed_label)
    assert (correction.annotator, correction.supersedes_id) == ("rita", bob.id)
    assert (correction.verdict, correction.label, correction.kind) == ("wrong_reason", fixed_label, "image_rationale")
    assert (correction.review_status, correction.reviewed_by) == ("accepted", "rita")
    current = {r.annotator: r for r in feedback_store.current_rows(pid)}
    assert set(current) == {"ada", "rita"}  # bob's judgement is superseded
    assert current["rita"].id == correction.id

    with pytest.raises(ValueError, match="no longer current"):
        services.set_review(bob.id, "accepted", actor=rita)
    with pytest.raises(ValueError, match="no longer current"):
        review.correct(bob.id, actor=rita, label=None)
    with pytest.raises(ValueError, match="has a judgement of this example already"):
        review.correct(ada.id, actor=rita, verdict="right_reason")
    # the reviewer's own correction can be corrected again: the label back to the dataset's
    again = review.correct(correction.id, actor=rita, label=None, verdict="right_reason")
    assert (again.supersedes_id, again.label, again.verdict) == (correction.id, None, "right_reason")
    # the marks travel with a correction
    ada_fix = review.correct(ada.id, verdict="wrong_reason", label=fixed_label, reviewer="otto")
    assert ada_fix.irrelevant_path == ada.irrelevant_path and ada_fix.annotator == "otto"

    actions = audit_actions()
    assert ("rita", "feedback_reviewed") in actions and ("rita", "feedback_corrected") in actions
    assert ("operator", "feedback_reviewed") in actions and ("otto", "feedback_corrected") in actions


def test_an_annotator_whose_judgement_was_corrected_may_judge_again(xil_home):
    pid, (e1, *_) = small_project(overlap=2)
    rita = team(pid)["rita"]
    bob = judge(e1, "bob")
    judge(e1, "ada")
    review.correct(bob.id, actor=rita, verdict="right_reason")  # three people wrote on e1: overlap 2 is full
    with pytest.raises(ValueError, match="already"):
        judge(e1, "cid")
    again = judge(e1, "bob", "wrong_reason", irrelevant=mask((2, 2)))
    assert again.supersedes_id is None  # bob's row is superseded; his new one stands beside the reviewer's
    assert {r.annotator for r in feedback_store.current_rows(pid)} == {"ada", "bob", "rita"}


def test_an_annotator_may_not_review_train_or_export(xil_home, tmp_path):
    pid, (e1, *_) = small_project()
    people = team(pid)
    ann, rita, olga = people["ann"], people["rita"], people["olga"]
    row = judge(e1, "ann")
    refused = {
        "review_queue": lambda who: services.review_queue(pid, actor=who),
        "set_review": lambda who: services.set_review(row.id, "accepted", actor=who),
        "correct": lambda who: review.correct(row.id, actor=who, label=None),
        "queue_training": lambda who: services.queue_training(pid, TrainConfig(method="none"), actor=who),
        "export": lambda who: services.export_feedback(pid, tmp_path / "out.jsonl", actor=who),
    }
    for name, call in refused.items():
        with pytest.raises(services.PermissionDenied, match="ann is annotator"):
            call(ann)
        if name in ("queue_training", "export"):  # an owner's work
            with pytest.raises(services.PermissionDenied, match="rita is reviewer"):
                call(rita)
    assert services.review_queue(pid, actor=rita)[0].rows[0].annotator == "ann"

    job = services.queue_training(pid, TrainConfig(method="none", feedback="accepted"), actor=olga)
    assert job.spec["config"]["feedback"] == "accepted"  # the job records which feedback it trains on
    with pytest.raises(services.PermissionDenied, match="ann is annotator"):
        services.cancel_job(job.id, actor=ann)
    services.cancel_job(job.id, actor=olga)
    services.export_feedback(pid, tmp_path / "out.jsonl", actor=olga)
    actions = audit_actions()
    for action in ("job_queued", "job_cancelled", "feedback_exported"):
        assert ("olga", action) in actions


@both_backends
def test_review_and_consensus_on_both_backends(demo):
    """The locks, the unique index on supersedes_id and the correlated queries on SQLite and PostgreSQL."""
    pid = demo.project_id
    services.set_overlap(pid, 3)
    e1, e2 = services.examples(pid, split="train")[:2]
    a, b = mask((0, 0), (0, 1)), mask((0, 1), (0, 2))
    ada = judge(e1, "ada", "wrong_reason", irrelevant=a)
    judge(e1, "bob", "wrong_reason", irrelevant=b)
    cy = judge(e1, "cy")
    judge(e2, "ada")
    assert [item.example_id for item in services.review_queue(pid)] == [e1.id, e2.id]
    services.set_review(ada.id, "accepted")
    fix = review.correct(cy.id, verdict="wrong_reason", label=other_label(e1), reviewer="rita")
    with pytest.raises(ValueError, match="no longer current"):
        review.correct(cy.id, label=None, reviewer="otto")
    [consensus] = [r for r in feedback_store.training_feedback(pid, "consensus") if r.example_id == e1.id]
    # W, W, W (rita's correction): labels (kept, kept, relabelled) -> the dataset's; (0, 1) is the
    # only pixel two of the three mark (rita's correction keeps cy's empty mask)
    assert (consensus.verdict, consensus.label) == ("wrong_reason", None)
    assert np.array_equal(feedback_store.load_mask(consensus.irrelevant_path, SHAPE), mask((0, 1)))
    assert [r.id for r in feedback_store.training_feedback(pid, "accepted")] == [fix.id]  # latest accepted of e1
    rows = {r["feedback_id"]: r for r in export.feedback_rows(pid)}
    assert (rows[fix.id]["review_status"], rows[fix.id]["in_consensus"]) == ("accepted", False)
    assert rows[ada.id]["in_consensus"] and not rows[cy.id]["current"]


# --- the training slices ---


def test_consensus_slice_by_hand(xil_home):
    pid, (e1, e2, e3, e4, e5, *_) = small_project(overlap=3)
    a, b, c = mask((0, 0), (0, 1), (0, 2)), mask((0, 1), (0, 2), (0, 3)), mask((5, 5))
    relabel = other_label(e1)
    # e1: verdicts W, W, R -> W (2 of 3); labels (relabel, kept, kept) -> the dataset's (None);
    # mask: the two W judgements agree on (0, 1) and (0, 2) only; cy's R mask does not vote
    judge(e1, "ada", "wrong_reason", irrelevant=a, label=relabel)
    judge(e1, "bob", "wrong_reason", irrelevant=b)
    judge(e1, "cy", "right_reason", irrelevant=c)
    # e2: W vs R: a tie, left out
    judge(e2, "ada", "wrong_reason", irrelevant=a)
    judge(e2, "bob")
    # e3: one judgement: itself
    only = judge(e3, "ada")
    # e4: W, W (both relabelled the same), R -> W with that label; no pixel both marked
    x = other_label(e4)
    judge(e4, "ada", "wrong_reason", label=x)
    judge(e4, "bob", "wrong_reason", label=x, irrelevant=c)
    judge(e4, "cy", "right_reason")
    # e5: W, W with disjoint marks, R -> W, no marks, no label: no reason, left out
    judge(e5, "ada", "wrong_reason", irrelevant=mask((1, 1)))
    judge(e5, "bob", "wrong_reason", irrelevant=mask((2, 2)))
    judge(e5, "cy", "right_reason")

    rows = {r.example_id: r for r in feedback_store.training_feedback(pid, "consensus")}
    assert set(rows) == {e1.id, e3.id, e4.id}
    assert rows[e3.id].id == only.id
    one = rows[e1.id]
    assert one.id is None and (one.verdict, one.label) == ("wrong_reason", None)
    assert np.array_equal(feedback_store.load_mask(one.irrelevant_path, SHAPE), mask((0, 1), (0, 2)))
    assert one.relevant_path is None
    assert (rows[e4.id].verdict, rows[e4.id].label, rows[e4.id].irrelevant_path) == ("wrong_reason", x, None)

    idx, irrelevant, _ = feedback_store.feedback_masks(pid, "consensus")
    assert [int(i) for i in idx] == [e1.idx]  # the consensus rows that mark pixels: e3 and e4 mark none
    assert irrelevant[0].sum() == 2
    data, used = ImageAdapter().training_data(pid, "consensus")
    assert used == 3 and int(data.y[e4.idx]) == x and int(data.y[e1.idx]) == e1.label
    assert float(data.irrelevant[e1.idx].sum()) == 2.0
    # the slice "all" is today's: each example's latest judgement, wrong reasons without one left out
    latest = {r.example_id: r.annotator for r in feedback_store.training_feedback(pid)}
    assert latest == {e1.id: "cy", e2.id: "bob", e3.id: "ada", e4.id: "cy", e5.id: "cy"}
    with pytest.raises(ValueError, match="feedback must be one of"):
        feedback_store.training_feedback(pid, "most")


def test_consensus_of_words_and_ranks():
    services.seed_demo(train=False)
    projects = {p.task: p for p in services.list_projects()}
    text, prompts = projects["text"], projects["ranking"]
    services.set_overlap(text.id, 3)
    services.set_overlap(prompts.id, 3)
    [e1] = services.examples(text.id, split="train")[:1]
    # words: irrelevant {0, 1}, {1, 2}, {1} -> 1 (3 of 3); 0 and 2 once each (not more than half)
    services.save_feedback(e1.id, "ada", None, verdict="wrong_reason", irrelevant_words=[0, 1])
    services.save_feedback(e1.id, "bob", None, verdict="wrong_reason", irrelevant_words=[1, 2])
    services.save_feedback(e1.id, "cy", None, verdict="wrong_reason", irrelevant_words=[1], relevant_words=[3])
    [(row, fb)] = feedback_store.feedback_words(text.id, "consensus")
    assert (fb.payload["irrelevant_words"], fb.payload["relevant_words"]) == ([1], [])
    assert row == e1.idx

    p1, p2 = ranking.next_prompts(prompts.id, n=2)
    # mean ranks (1 + 2 + 1) / 3, (2 + 1 + 2) / 3, (3 + 3 + 4) / 3, (4 + 4 + 3) / 3 = 4/3, 5/3, 10/3, 11/3
    ranking.save_ranking(p1, "ada", [1, 2, 3, 4])
    ranking.save_ranking(p1, "bob", [2, 1, 3, 4])
    ranking.save_ranking(p1, "cy", [1, 2, 4, 3])
    # p2: (1 + 2) / 2 = 1.5 twice, then 3 and 4: the first two tie
    ranking.save_ranking(p2, "ada", [1, 2, 3, 4])
    ranking.save_ranking(p2, "bob", [2, 1, 3, 4])
    consensus = {fb.example_id: fb for fb in feedback_store.training_feedback(prompts.id, "consensus")}
    assert consensus[p1].payload["mean_ranks"] == pytest.approx([4 / 3, 5 / 3, 10 / 3, 11 / 3])
    assert consensus[p1].payload["ranks"] == [1, 2, 3, 4]
    assert consensus[p2].payload["ranks"] == [1, 1, 2, 3]
    with pytest.raises(ValueError, match="review some rankings first"):  # none accepted yet
        services.queue_training(prompts.id, RewardConfig(feedback="accepted"))
    pairs = {len(g["pairs"]) for g in ranking.groups(prompts.id, slice="consensus")}
    assert pairs == {6, 5}  # C(4, 2) pairs, and one fewer where two candidates tie
    rows = {(r["example_id"], r["annotator"]): r["in_consensus"] for r in export.feedback_rows(prompts.id)}
    assert rows[(p1, "ada")] and not rows[(p1, "bob")] and not rows[(p1, "cy")]
    assert not rows[(p2, "ada")] and not rows[(p2, "bob")]  # the consensus ties what each of them ordered


def test_accepted_slice_and_the_config_field(xil_home):
    pid, (e1, e2, e3, *_) = small_project(overlap=2)
    ada1 = judge(e1, "ada", "wrong_reason", irrelevant=mask((3, 3)))
    bob1 = judge(e1, "bob")
    ada2 = judge(e2, "ada")
    judge(e3, "ada")  # pending: not in the slice
    services.set_review(ada1.id, "accepted")
    services.set_review(bob1.id, "rejected")
    services.set_review(ada2.id, "accepted")
    assert [r.id for r in feedback_store.training_feedback(pid, "accepted")] == [ada1.id, ada2.id]
    fix = review.correct(ada2.id, label=other_label(e2))  # a correction is accepted from the start
    assert [r.id for r in feedback_store.training_feedback(pid, "accepted")] == [ada1.id, fix.id]
    assert ImageAdapter().training_data(pid, "accepted")[1] == 2

    for cls in (TrainConfig, TextTrainConfig, RewardConfig):
        assert cls().feedback == "all" and cls.help("feedback")
        assert cls.from_dict({**cls(feedback="consensus").to_dict()}).feedback == "consensus"
        with pytest.raises(ValueError, match="feedback must be one of all, accepted, consensus"):
            cls(feedback="best")
    assert "Trains only" not in training.training_plan(pid, TrainConfig(method="none"))
    plan = training.training_plan(pid, TrainConfig(method="none", feedback="accepted"))
    assert "Trains only on the feedback accepted by a reviewer: 2 examples." in plan

    # a job trains on its slice, and its version records which
    job = services.queue_training(pid, TrainConfig(method="rrr", epochs=1, feedback="accepted", device="cpu"))
    assert services.run_worker(once=True) == 1
    job = services.get_job(job.id)
    assert job.status == "succeeded", job.error
    version = services.latest_model_version(pid)
    assert (version.config["feedback"], version.n_feedback) == ("accepted", 2)
    assert "2 with feedback (accepted)" in job.log_tail


def test_export_has_review_columns(xil_home, tmp_path):
    pid, (e1, e2, *_) = small_project(overlap=3)
    ada = judge(e1, "ada", "wrong_reason", irrelevant=mask((0, 0)))
    judge(e1, "bob", "wrong_reason", irrelevant=mask((0, 0)))
    judge(e1, "cy")
    judge(e2, "ada", "wrong_reason", irrelevant=mask((0, 0)))  # superseded below
    judge(e2, "ada")  # one current judgement
    services.set_review(ada.id, "accepted", reviewer="rita")
    rows = {r["feedback_id"]: r for r in export.feedback_rows(pid)}
    by = {(r["example_id"], r["annotator"], r["current"]): r for r in rows.values()}
    assert (by[(e1.id, "ada", True)]["review_status"], by[(e1.id, "ada", True)]["reviewed_by"]) == ("accepted", "rita")
    assert by[(e1.id, "bob", True)]["review_status"] == "pending" and by[(e1.id, "bob", True)]["reviewed_by"] is None
    assert [by[(e1.id, n, True)]["in_consensus"] for n in ("ada", "bob", "cy")] == [True, True, False]
    assert by[(e2.id, "ada", True)]["in_consensus"] is True  # one judgement: the consensus itself
    assert by[(e2.id, "ada", False)]["in_consensus"] is False  # the superseded row differs from it
    out = services.export_feedback(pid, tmp_path / "f.parquet", fmt="parquet")
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    assert {"review_status", "reviewed_by", "in_consensus"} <= set(table.column_names)


# --- the page ---


def test_review_page_shows_a_disagreement_and_accepts(demo, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    pid = demo.project_id
    services.set_overlap(pid, 2)
    e1, e2 = services.examples(pid, split="train")[:2]
    services.save_feedback(e1.id, "ada", demo.version_id, verdict="right_reason", explanation_method="saliency")
    ada = services.save_feedback(
        e2.id, "ada", demo.version_id, verdict="wrong_reason", irrelevant=mask((0, 0)), explanation_method="saliency"
    )
    bob = services.save_feedback(e2.id, "b*b*", demo.version_id, verdict="right_reason")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["project"] = str(pid)
    at.run()
    at.switch_page("pages/review.py").run()
    assert not at.exception, [e.value for e in at.exception]
    markdown = "\n".join(m.value for m in at.markdown)
    assert "disagreement" in markdown
    assert markdown.index(ui_md(e2.name)) < markdown.index(ui_md(e1.name))  # the disagreement first
    assert r"b\*b\*" in markdown  # a name is shown as text, not Markdown
    assert len(at.get("plotly_chart")) == 3  # one image per judgement
    at.button(key=f"accept-{ada.id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert services.feedback_history(e2.id)[0].review_status == "accepted"
    assert any("accepted" in s.value for s in at.success)
    assert at.button(key=f"accept-{ada.id}").disabled

    relabel = other_label(e2)
    at.selectbox(key=f"fix-verdict-{bob.id}").set_value("wrong_reason")
    at.selectbox(key=f"fix-label-{bob.id}").set_value(relabel)
    at.button(key=f"fix-save-{bob.id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    current = {r.annotator: r for r in feedback_store.current_rows(pid) if r.example_id == e2.id}
    assert set(current) == {"ada", "operator"}
    assert (current["operator"].verdict, current["operator"].label) == ("wrong_reason", relabel)
    assert current["operator"].supersedes_id == bob.id
    assert not [b for b in at.button if b.key == f"accept-{ada.id}"]  # e2 is reviewed: it left the queue


def ui_md(text: str) -> str:
    from pages.ui import md

    return md(text)


def test_review_page_in_team_mode(demo, monkeypatch):
    """Signed in, an annotator is refused the Review, Train and Export pages; a reviewer's decisions
    carry their name."""
    monkeypatch.setenv("XIL_START_WORKER", "0")
    monkeypatch.setenv("XIL_AUTH", "on")
    pid = demo.project_id
    people = team(pid)
    [example] = services.examples(pid, split="train")[:1]
    row = services.save_feedback(example.id, "ann", demo.version_id, verdict="right_reason")

    def signed_in(name: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params["project"] = str(pid)
        at.session_state["xil_token"] = services.accounts.session_token(people[name])
        at.run()
        return at

    at = signed_in("ann")
    for page in ("review", "train", "export"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("does not allow" in e.value for e in at.error), page
        assert [b.label for b in at.button] == ["Sign out"]  # nothing else to press
    at = signed_in("rita").switch_page("pages/review.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key=f"reject-{row.id}").click().run()
    [stored] = services.feedback_history(example.id)
    assert (stored.review_status, stored.reviewed_by) == ("rejected", "rita")


def test_review_page_shows_rankings_side_by_side(demo, monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")
    services.seed_demo(train=False)
    [prompts] = [p for p in services.list_projects() if p.task == "ranking"]
    services.set_overlap(prompts.id, 2)
    [p1] = ranking.next_prompts(prompts.id, n=1)
    ranking.save_ranking(p1, "ada", [1, 2, 3, 4])
    bob = ranking.save_ranking(p1, "bob", [None, None, None, None], all_bad=True, correction="A better answer.")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["project"] = str(prompts.id)
    at.run()
    at.switch_page("pages/review.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert list(table["ada"]) == [1, 2, 3, 4] and list(table["bob"]) == ["bad"] * 4
    assert any("better answer" in m.value for m in at.markdown)
    assert not [b for b in at.button if b.key and b.key.startswith("fix-save")]  # a ranking is not corrected here
    at.button(key=f"reject-{bob.id}").click().run()
    assert services.feedback_history(p1)[-1].review_status == "rejected"
