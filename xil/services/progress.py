"""Work tier, above :mod:`.assignment`: how far a project's annotation is, and each person's part.

A project needs ``overlap`` judgements of every example it counts (its training split; a ranking
project ranks held-out prompts too, so all of its prompts), one per distinct annotator. A judgement
past the overlap (a reviewer's extra look) does not count twice. Rates are judgements per hour of
active time, as in :mod:`.agreement` (:func:`xil.agreement.per_hour`).

Who sees whom: reviewers and owners (``see_all``) see every annotator's numbers, an annotator only
their own; ``actor=None`` is the trusted local operator.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select

from db import Example, Feedback, Project, session_scope
from xil import agreement as measures
from xil.services.access import Actor, can, require
from xil.services.accounts import members
from xil.services.assignment import open_examples
from xil.services.catalog import get_project


def counted_split(project: Project) -> str | None:
    """The split whose examples a project's progress counts (None: all of them)."""
    return None if project.task == "ranking" else "train"


def project_progress(project_id: int) -> dict:
    """Where the project's annotation stands:

    - ``examples``: examples to judge (the training split; a ranking project's every prompt);
    - ``overlap``: distinct annotators each example needs;
    - ``judgements_needed``: ``examples * overlap``;
    - ``judgements_done``: distinct (example, annotator) pairs, at most ``overlap`` per example;
    - ``complete``: examples with ``overlap`` annotators or more;
    - ``left``: judgements still needed (``judgements_needed - judgements_done``)."""
    project = get_project(project_id)
    split = counted_split(project)
    with session_scope() as session:
        total = select(func.count()).select_from(Example).where(Example.project_id == project.id)
        judges = (
            select(Feedback.example_id, func.count(func.distinct(Feedback.annotator)))
            .join(Example, Example.id == Feedback.example_id)
            .where(Feedback.project_id == project.id)
            .group_by(Feedback.example_id)
        )
        if split is not None:
            total = total.where(Example.split == split)
            judges = judges.where(Example.split == split)
        examples = int(session.scalar(total) or 0)
        counts = [int(n) for _, n in session.execute(judges).all()]
    overlap = project.overlap
    needed = examples * overlap
    done = sum(min(n, overlap) for n in counts)
    return {
        "examples": examples,
        "overlap": overlap,
        "judgements_needed": needed,
        "judgements_done": done,
        "complete": sum(1 for n in counts if n >= overlap),
        "left": needed - done,
    }


def _activity(project: Project, annotator: str | None = None) -> dict[str, dict]:
    """Per annotator (or only ``annotator``): ``done`` (examples of the counted split they judged),
    ``per_hour`` and ``last_active`` (their newest save, superseded ones included)."""
    split = counted_split(project)
    query = (
        select(Feedback.annotator, Feedback.example_id, Feedback.created_at, Example.split)
        .join(Example, Example.id == Feedback.example_id)
        .where(Feedback.project_id == project.id)
    )
    if annotator is not None:
        query = query.where(Feedback.annotator == annotator)
    with session_scope() as session:
        rows = session.execute(query).all()
    judged: dict[str, set[int]] = defaultdict(set)
    counted: dict[str, set[int]] = defaultdict(set)
    times: dict[str, list[datetime]] = defaultdict(list)
    for name, example_id, created_at, example_split in rows:
        judged[name].add(example_id)
        if split is None or example_split == split:
            counted[name].add(example_id)
        times[name].append(created_at)
    return {
        name: {
            "done": len(counted[name]),
            # as agreement's rate: current judgements (one per example judged) over active time
            "per_hour": measures.per_hour(len(judged[name]), times[name]),
            "last_active": max(times[name]),
        }
        for name in times
    }


def _idle() -> dict:
    return {"done": 0, "per_hour": None, "last_active": None}


def annotator_progress(project_id: int, annotator: str) -> dict:
    """One annotator's part: ``done`` (examples they judged, of the split the project counts),
    ``left`` (examples still open to them: not judged by them and under the overlap with others'
    judgements and active leases, as their queue sees it), ``per_hour`` (judgements per hour of active
    time; None before two saves) and ``last_active`` (their newest save, None before one)."""
    project = get_project(project_id)
    name = annotator.strip()
    mine = _activity(project, name).get(name, _idle()) if name else _idle()
    left = len(open_examples(project.id, name, split=counted_split(project)))
    return {"done": mine["done"], "left": left, "per_hour": mine["per_hour"], "last_active": mine["last_active"]}


def visible_rows(actor: Actor | None, project_id: int, rows: list[dict]) -> list[dict]:
    """``rows`` (each with a ``name``) the actor may see: all of them for reviewers, owners and the
    operator, an annotator's own only. Not a member: PermissionDenied."""
    require(actor, project_id, "judge")
    if can(actor, project_id, "see_all"):
        return rows
    return [row for row in rows if row["name"] == actor.name]


def team_progress(project_id: int, actor: Actor | None = None) -> list[dict]:
    """Per annotator, by name: ``name``, ``done``, ``per_hour``, ``last_active`` (see
    :func:`annotator_progress`). Everyone who judged an example of the project, and the project's
    annotator members who have not yet (done 0). An annotator gets their own row only."""
    project = get_project(project_id)
    activity = _activity(project)
    names = set(activity) | {m["name"] for m in members(project.id) if m["role"] == "annotator" and m["active"]}
    if actor is not None and not can(actor, project.id, "see_all"):
        names.add(actor.name)  # their own row, judged or not
    rows = [{"name": name, **activity.get(name, _idle())} for name in sorted(names)]
    return visible_rows(actor, project.id, rows)
