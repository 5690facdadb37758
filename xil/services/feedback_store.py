"""Bottom tier: feedback rows. A judgement is never changed: a new row supersedes the annotator's
current one, so every example keeps its history; *current* rows are those nothing supersedes."""

from __future__ import annotations

import numpy as np
from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import aliased
from sqlmodel import col

from db import Example, Feedback, Lease, Project, session_scope
from xil import storage
from xil.services.catalog import dataset, dataset_rows, get_example

VERDICTS = ("right_reason", "wrong_reason")


def current_query(project_id: int):
    """A query of the project's feedback rows no later row supersedes."""
    newer = aliased(Feedback)
    return select(Feedback).where(
        Feedback.project_id == project_id,
        ~exists().where(newer.supersedes_id == Feedback.id),
    )


def current_feedback(project_id: int) -> list[Feedback]:
    """Per example, the most recent current feedback of any annotator."""
    with session_scope() as session:
        rows = session.scalars(current_query(project_id).order_by(col(Feedback.created_at), col(Feedback.id))).all()
    latest: dict[int, Feedback] = {}
    for row in rows:
        latest[row.example_id] = row
    return list(latest.values())


def word_marks(payload: dict, kind: str) -> list[int]:
    return [int(i) for i in payload.get(f"{kind}_words", [])]


def lacks_reason(row: Feedback) -> bool:
    """A "wrong reason" verdict that says neither where the wrong reason is (no marks) nor what the
    label should be: it teaches a trainer nothing, so trainers leave it out."""
    if row.verdict != "wrong_reason" or row.label is not None:
        return False
    words = word_marks(row.payload or {}, "irrelevant") or word_marks(row.payload or {}, "relevant")
    return not (row.irrelevant_path or row.relevant_path or words)


def training_feedback(project_id: int) -> list[Feedback]:
    """The current feedback a trainer uses: all of it except wrong-reason verdicts without a reason."""
    return [row for row in current_feedback(project_id) if not lacks_reason(row)]


def count_lacking_reason(project_id: int) -> int:
    """How many current wrong-reason verdicts trainers leave out for want of marks or a label."""
    return sum(lacks_reason(row) for row in current_feedback(project_id))


def load_mask(path: str | None, shape: tuple[int, int]) -> np.ndarray:
    return storage.get_array(path).astype(bool) if path else np.zeros(shape, dtype=bool)


def feedback_masks(project_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dataset rows, irrelevant masks, relevant masks)`` of the feedback trainers use."""
    shape = dataset(project_id).shape[1:]
    rows = training_feedback(project_id)
    if not rows:
        empty = np.zeros((0, *shape), dtype=bool)
        return np.zeros(0, dtype=int), empty, empty
    idx_of = dataset_rows(project_id)
    idx = np.array([idx_of[r.example_id] for r in rows])
    irrelevant = np.stack([load_mask(r.irrelevant_path, shape) for r in rows])
    relevant = np.stack([load_mask(r.relevant_path, shape) for r in rows])
    return idx, irrelevant, relevant


def feedback_words(project_id: int) -> list[tuple[int, Feedback]]:
    """``(dataset row, current feedback)`` pairs, of the feedback trainers use."""
    idx_of = dataset_rows(project_id)
    return [(idx_of[r.example_id], r) for r in training_feedback(project_id)]


def judges(session, example_id: int) -> int:
    """How many distinct annotators have judged the example (each has one current judgement)."""
    query = select(func.count(func.distinct(Feedback.annotator))).where(Feedback.example_id == example_id)
    return int(session.scalar(query) or 0)


def judged_by(example_id: int) -> int:
    """How many distinct annotators have judged the example."""
    with session_scope() as session:
        return judges(session, example_id)


def store_feedback(example: Example, annotator: str, **fields) -> Feedback:
    """A new feedback row on ``example`` that supersedes this annotator's current one, in one write
    transaction. Saves on one example are serialised (the example row is locked on PostgreSQL; SQLite
    has one writer), so two racing saves cannot both supersede the same row or both start a history;
    a unique index on ``supersedes_id`` guards the rest.

    A new annotator's first judgement is refused once the project's overlap is reached (re-judging
    one's own example always goes through); the annotator's lease on the example ends with the save."""
    with session_scope(write=True) as session:
        session.get(Example, example.id, with_for_update=True)
        previous = session.scalar(
            current_query(example.project_id).where(Feedback.example_id == example.id, Feedback.annotator == annotator)
        )
        if previous is None:
            overlap = session.scalar(select(Project.overlap).where(Project.id == example.project_id)) or 1
            others = judges(session, example.id)
            if others >= overlap:
                raise ValueError(
                    f"{example.name} has its {overlap} judgement{'s' if overlap != 1 else ''} already "
                    f"({others} annotator{'s' if others != 1 else ''}; the project's overlap is {overlap}): "
                    "your judgement was not saved. Go on with the next example."
                )
        session.execute(delete(Lease).where(Lease.example_id == example.id, Lease.annotator == annotator))
        row = Feedback(
            project_id=example.project_id,
            example_id=example.id,
            annotator=annotator,
            supersedes_id=previous.id if previous else None,
            **fields,
        )
        session.add(row)
        session.flush()
        session.refresh(row)
        return row


def feedback_history(example_id: int) -> list[Feedback]:
    with session_scope() as session:
        query = select(Feedback).where(Feedback.example_id == example_id).order_by(col(Feedback.id))
        return list(session.scalars(query))


def recent_feedback(project_id: int, annotator: str, limit: int = 20) -> list[Feedback]:
    """This annotator's current judgements in the project, newest first: what "Back" returns to."""
    with session_scope() as session:
        query = (
            current_query(project_id)
            .where(Feedback.annotator == annotator.strip())
            .order_by(col(Feedback.id).desc())
            .limit(limit)
        )
        return list(session.scalars(query))


def current_judgement(example_id: int, annotator: str) -> Feedback | None:
    """This annotator's current feedback on the example, if any."""
    example = get_example(example_id)
    with session_scope() as session:
        query = current_query(example.project_id).where(
            Feedback.example_id == example_id, Feedback.annotator == annotator.strip()
        )
        return session.scalar(query)


def annotation_progress(project_id: int, split: str | None = "train") -> tuple[int, int]:
    """``(examples with feedback, examples)`` of ``split`` (None: all of them)."""
    with session_scope() as session:
        examples = select(func.count()).select_from(Example).where(Example.project_id == project_id)
        if split is not None:
            examples = examples.where(Example.split == split)
        total = session.scalar(examples)
        done = session.scalar(
            select(func.count(func.distinct(Feedback.example_id))).where(Feedback.project_id == project_id)
        )
    return int(done or 0), int(total or 0)


def compare_candidates(project_id: int, limit: int = 200) -> list[Example]:
    """Examples worth comparing versions on: those with feedback first, then the test split."""
    with session_scope() as session:
        judged = list(
            session.scalars(
                select(Example)
                .where(col(Example.id).in_(select(Feedback.example_id).where(Feedback.project_id == project_id)))
                .order_by(col(Example.id))
                .limit(limit)
            )
        )
        test = list(
            session.scalars(
                select(Example)
                .where(Example.project_id == project_id, Example.split == "test")
                .order_by(col(Example.idx))
                .limit(max(0, limit - len(judged)))
            )
        )
    return judged + test


def feedback_state(project_id: int) -> tuple[int, int | None]:
    """``(rows, newest id)`` of the project's feedback: a cache key that changes with every save."""
    with session_scope() as session:
        return tuple(
            session.execute(select(func.count(), func.max(Feedback.id)).where(Feedback.project_id == project_id)).one()
        )
