"""Work tier, below the queues: which examples an annotator may be served. A project's overlap N caps
the distinct annotators per example; an example served to a named annotator is leased to them for a
few minutes, so people asking at the same moment get different examples where the overlap is 1 (and no
example collects N+1 judgements where it is N). The annotation queue and the Rank queue both use it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlmodel import col

from db import Example, Feedback, Lease, Project, session_scope
from db.models import utcnow
from xil.services import catalog
from xil.services.access import Actor, audit, require
from xil.services.catalog import get_project
from xil.services.feedback_store import judges

LEASE_MINUTES = 5  # how long an example served to an annotator stays theirs without a save


def set_overlap(project_id: int, overlap: int, actor: Actor | None = None) -> Project:
    """How many annotators judge each example before it leaves everyone's queue (a project setting:
    owners only)."""
    require(actor, project_id, "manage")
    project = catalog.set_overlap(project_id, overlap)
    audit(actor, "overlap_changed", project_id, overlap=project.overlap)
    return project


def lease(example_id: int, annotator: str, minutes: float = LEASE_MINUTES) -> bool:
    """Hold the example for ``annotator`` for ``minutes``: False (and nothing held) when the project's
    overlap is taken by other annotators' judgements and active leases. Renews the annotator's own
    lease; always granted on an example they judged (re-judging is always allowed). An annotator holds
    one example at a time per project: their other leases there end.

    One write transaction with the example row locked (as saves lock it), so two annotators asking
    at the same moment cannot both take the last place."""
    annotator = annotator.strip()
    if not annotator:
        raise ValueError("say who you are (annotator name) to be served examples")
    now = utcnow()
    with session_scope(write=True) as session:
        example = session.get(Example, example_id, with_for_update=True)
        if example is None:
            raise ValueError(f"no example {example_id}")
        mine = session.scalar(
            select(func.count()).where(Feedback.example_id == example_id, Feedback.annotator == annotator)
        )
        if not mine:
            overlap = session.scalar(select(Project.overlap).where(Project.id == example.project_id)) or 1
            leased = session.scalar(
                select(func.count()).where(
                    Lease.example_id == example_id, Lease.annotator != annotator, Lease.expires_at > now
                )
            )
            if judges(session, example_id) + int(leased or 0) >= overlap:
                return False
        same_project = select(Example.id).where(Example.project_id == example.project_id)
        session.execute(
            delete(Lease).where(
                Lease.annotator == annotator,
                Lease.example_id != example_id,
                col(Lease.example_id).in_(same_project),
            )
        )
        held = session.scalar(select(Lease).where(Lease.example_id == example_id, Lease.annotator == annotator))
        if held is None:
            held = Lease(example_id=example_id, annotator=annotator, expires_at=now)
        held.expires_at = now + timedelta(minutes=minutes)
        session.add(held)
    return True


def release(example_id: int, annotator: str) -> None:
    """End the annotator's lease on the example (a skip; a save ends it by itself)."""
    with session_scope(write=True) as session:
        session.execute(delete(Lease).where(Lease.example_id == example_id, Lease.annotator == annotator.strip()))


def open_examples(
    project_id: int, annotator: str, exclude: tuple[int, ...] = (), split: str | None = "train"
) -> list[tuple[int, int]]:
    """``(example id, dataset row)`` of the examples ``annotator`` may be served (of ``split``; None:
    all): not judged by them, not in ``exclude``, and with judgements plus other annotators' active
    leases under the project's overlap."""
    annotator = annotator.strip()
    overlap = get_project(project_id).overlap
    now = utcnow()
    with session_scope() as session:
        judged = (
            select(Feedback.example_id, func.count(func.distinct(Feedback.annotator)).label("n"))
            .where(Feedback.project_id == project_id)
            .group_by(Feedback.example_id)
            .subquery()
        )
        leased = (
            select(Lease.example_id, func.count().label("n"))
            .join(Example, col(Example.id) == Lease.example_id)
            .where(Example.project_id == project_id, Lease.annotator != annotator, Lease.expires_at > now)
            .group_by(Lease.example_id)
            .subquery()
        )
        mine = select(Feedback.example_id).where(Feedback.project_id == project_id, Feedback.annotator == annotator)
        query = (
            select(Example.id, Example.idx)
            .outerjoin(judged, judged.c.example_id == Example.id)
            .outerjoin(leased, leased.c.example_id == Example.id)
            .where(
                Example.project_id == project_id,
                col(Example.id).not_in(mine),
                col(Example.id).not_in(list(exclude)),
                func.coalesce(judged.c.n, 0) + func.coalesce(leased.c.n, 0) < overlap,
            )
            .order_by(col(Example.idx))
        )
        if split is not None:
            query = query.where(Example.split == split)
        return [(int(i), int(idx)) for i, idx in session.execute(query).all()]


def serve(ordered: list[int], annotator: str, n: int, minutes: float = LEASE_MINUTES) -> list[int]:
    """The first ``n`` of ``ordered`` from the first one ``annotator`` can lease (taken by someone since
    the query: try the next); an unnamed visitor takes no lease."""
    if not annotator.strip():
        return ordered[:n]
    for place, example_id in enumerate(ordered):
        if lease(example_id, annotator, minutes):
            return ordered[place : place + n]
    return []
