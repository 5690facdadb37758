"""Work tier: reviewing the annotators' judgements. A reviewer sees, per example, every annotator's
current judgement side by side, disagreements first; accepts or rejects each one, or corrects it: a
correction is a new row by the reviewer that supersedes the judgement (nothing a person wrote is
changed), accepted from the start. Training can then use only accepted feedback, or the annotators'
consensus (a config's ``feedback`` field, :func:`.feedback_store.training_feedback`).

Every use case needs the review permission (reviewers and owners; ``actor=None`` is the local
operator) and is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import aliased
from sqlmodel import col

from db import Example, Feedback, session_scope
from db.models import utcnow
from xil.services.access import Actor, audit, require
from xil.services.catalog import dataset, get_project
from xil.services.feedback_store import (
    VERDICTS,
    current_query,
    current_rows,
    effective_label,
    in_consensus,
    lacks_reason,
    load_mask,
    rank_order,
    word_marks,
)

REVIEW_STATUSES = ("pending", "accepted", "rejected")
KEEP = object()  # correct(): "leave this as the judgement has it" (None is a value: the dataset's label)


@dataclass
class ReviewRow:
    """One annotator's current judgement of an example, as the reviewer sees it."""

    feedback_id: int
    annotator: str
    kind: str
    verdict: str | None
    label: int | None  # the annotator's correction; None kept the dataset's
    effective_label: int
    review_status: str
    reviewed_by: str | None
    in_consensus: bool
    created_at: datetime
    model_version_id: int | None = None  # the version whose explanation the annotator judged
    explanation_method: str | None = None
    irrelevant_path: str | None = None
    relevant_path: str | None = None
    payload: dict = field(default_factory=dict)
    shape: tuple[int, ...] | None = None  # an image's (H, W)

    @property
    def marks(self) -> str:
        """What was marked, in words: "12 irrelevant pixels", "ranks 1, 3, 2" (masks are read only when
        asked: a page shows a few items of a long queue)."""
        return _marks(
            self.kind, self.payload, {"irrelevant": self.irrelevant_path, "relevant": self.relevant_path}, self.shape
        )

    @property
    def irrelevant_words(self) -> list[int]:
        return word_marks(self.payload, "irrelevant")

    @property
    def relevant_words(self) -> list[int]:
        return word_marks(self.payload, "relevant")


@dataclass
class ReviewItem:
    """An example with current judgements not all reviewed."""

    example_id: int
    name: str
    split: str
    label: int  # the dataset's
    rows: list[ReviewRow]
    disagree: bool  # two or more judgements differ in verdict, label or (rankings) order

    @property
    def pending(self) -> int:
        return sum(r.review_status == "pending" for r in self.rows)


def _reviewer(actor: Actor | None, reviewer: str) -> str:
    return actor.name if actor is not None else (reviewer.strip() or "operator")


def _marks(kind: str, payload: dict, paths: dict[str, str | None], shape: tuple[int, ...] | None) -> str:
    if kind == "ranking":
        if payload.get("all_bad"):
            text = "all bad"
        else:
            text = "ranks " + ", ".join("-" if r is None else str(r) for r in payload.get("ranks", []))
        return text + (", with a better answer" if payload.get("correction") else "")
    parts = []
    for which in ("irrelevant", "relevant"):
        if kind == "text_rationale":
            n, unit = len(word_marks(payload, which)), "word"
        else:
            path = paths[which]
            n, unit = (int(load_mask(path, shape).sum()) if path and shape else 0), "pixel"
        if n:
            parts.append(f"{n} {which} {unit}{'s' if n != 1 else ''}")
    return ", ".join(parts) or "no marks"


def _opinion(row: Feedback, dataset_label: int) -> tuple:
    """What two judgements must share to agree."""
    if row.kind == "ranking":
        return ("all_bad",) if (row.payload or {}).get("all_bad") else ("order", rank_order(row))
    return (row.verdict, effective_label(row, dataset_label))


def review_queue(
    project_id: int, actor: Actor | None = None, limit: int | None = None, include_reviewed: bool = False
) -> list[ReviewItem]:
    """One item per example whose current judgements are not all reviewed (``include_reviewed``: every
    judged example): disagreements first (two or more current judgements that differ in verdict,
    effective label or, for rankings, rank order), then the examples with a pending judgement; oldest
    pending first within each."""
    require(actor, project_id, "review")
    project = get_project(project_id)
    rows = current_rows(project_id)
    by_example: dict[int, list[Feedback]] = {}
    for row in rows:
        by_example.setdefault(row.example_id, []).append(row)
    if not by_example:
        return []
    with session_scope() as session:
        examples = {e.id: e for e in session.scalars(select(Example).where(col(Example.id).in_(list(by_example))))}
    shape = dataset(project_id).shape[1:] if project.task == "image" else None
    items = []
    for example_id, judged in by_example.items():
        if not include_reviewed and all(r.review_status != "pending" for r in judged):
            continue
        example = examples[example_id]
        opinions = {_opinion(r, example.label) for r in judged}
        items.append(
            ReviewItem(
                example_id=example.id,
                name=example.name,
                split=example.split,
                label=example.label,
                disagree=len(judged) >= 2 and len(opinions) > 1,
                rows=[
                    ReviewRow(
                        feedback_id=r.id,
                        annotator=r.annotator,
                        kind=r.kind,
                        verdict=r.verdict,
                        label=r.label,
                        effective_label=effective_label(r, example.label),
                        review_status=r.review_status,
                        reviewed_by=r.reviewed_by,
                        in_consensus=in_consensus(r, judged, example.label),
                        created_at=r.created_at,
                        model_version_id=r.model_version_id,
                        explanation_method=r.explanation_method,
                        irrelevant_path=r.irrelevant_path,
                        relevant_path=r.relevant_path,
                        payload=dict(r.payload or {}),
                        shape=shape,
                    )
                    for r in judged
                ],
            )
        )

    def oldest_pending(item: ReviewItem) -> int:
        return min((r.feedback_id for r in item.rows if r.review_status == "pending"), default=0)

    items.sort(key=lambda item: (not item.disagree, oldest_pending(item), item.example_id))
    return items[:limit] if limit is not None else items


def review_counts(project_id: int, actor: Actor | None = None) -> dict[str, int]:
    """``{status: current judgements}`` of the project, every status present."""
    require(actor, project_id, "review")
    counts = dict.fromkeys(REVIEW_STATUSES, 0)
    for row in current_rows(project_id):
        counts[row.review_status] = counts.get(row.review_status, 0) + 1
    return counts


def _current_locked(session, feedback_id: int) -> Feedback:
    """The feedback row, its example locked (saves on one example are serialised, as in
    :func:`.feedback_store.store_feedback`); ValueError unless it is current."""
    row = session.get(Feedback, feedback_id)
    if row is None:
        raise ValueError(f"no feedback {feedback_id}")
    session.get(Example, row.example_id, with_for_update=True)
    session.refresh(row)  # as it is now that no one else writes on the example
    newer = aliased(Feedback)
    later = session.scalar(select(newer.id).where(newer.supersedes_id == row.id))
    if later is not None:
        raise ValueError(
            f"feedback {feedback_id} is no longer current: feedback {later} superseded it. Review that one."
        )
    return row


def _check_allowed(actor: Actor | None, feedback_id: int) -> int:
    with session_scope() as session:
        project_id = session.scalar(select(Feedback.project_id).where(Feedback.id == feedback_id))
    if project_id is None:
        raise ValueError(f"no feedback {feedback_id}")
    require(actor, project_id, "review")
    return project_id


def set_review(feedback_id: int, status: str, actor: Actor | None = None, reviewer: str = "") -> Feedback:
    """Accept or reject a current judgement (or set it back to pending). Records who (the signed-in
    reviewer; for the local operator ``reviewer``, or "operator") and when; pending clears both."""
    if status not in REVIEW_STATUSES:
        raise ValueError(f"a review status is one of {', '.join(REVIEW_STATUSES)}, not {status!r}")
    project_id = _check_allowed(actor, feedback_id)
    name = _reviewer(actor, reviewer)
    with session_scope(write=True) as session:
        row = _current_locked(session, feedback_id)
        previous = row.review_status
        row.review_status = status
        row.reviewed_by = None if status == "pending" else name
        row.reviewed_at = None if status == "pending" else utcnow()
        session.add(row)
        session.flush()
        session.refresh(row)
    audit(actor or name, "feedback_reviewed", project_id, feedback_id=feedback_id, status=status, previous=previous)
    return row


def correct(
    feedback_id: int,
    actor: Actor | None = None,
    verdict: str | None | object = KEEP,
    label: int | None | object = KEEP,
    reviewer: str = "",
) -> Feedback:
    """The reviewer's correction of a current judgement: a new row under the reviewer's name that
    supersedes it, with its kind, marks, payload, explanation method and model version, and the
    ``verdict`` and ``label`` given (``label=None``: the dataset's label); accepted by the reviewer.
    The superseded row keeps its status: it is no longer current.

    A reviewer has one current judgement per example, like an annotator: one who has their own
    judgement (or correction) of the example corrects that one, and accepts or rejects the others."""
    project_id = _check_allowed(actor, feedback_id)
    name = _reviewer(actor, reviewer)
    if verdict is not KEEP and verdict is not None and verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    if label is not KEEP and label is not None:
        n_classes = len(dataset(project_id).class_names)
        if not 0 <= int(label) < n_classes:  # type: ignore[call-overload]
            raise ValueError(f"label {label} is not a class of this project (0..{n_classes - 1})")
    with session_scope(write=True) as session:
        row = _current_locked(session, feedback_id)
        if row.kind == "ranking" and (verdict is not KEEP or label is not KEEP):
            raise ValueError("a ranking has no verdict or label to correct: accept or reject it")
        if name != row.annotator:
            own = session.scalar(
                current_query(project_id).where(Feedback.example_id == row.example_id, Feedback.annotator == name)
            )
            if own is not None:
                raise ValueError(
                    f"{name} has a judgement of this example already (feedback {own.id}): correct that one, "
                    "and accept or reject the others"
                )
        new = Feedback(
            project_id=row.project_id,
            example_id=row.example_id,
            model_version_id=row.model_version_id,
            annotator=name,
            kind=row.kind,
            verdict=row.verdict if verdict is KEEP else verdict,  # type: ignore[arg-type]
            label=row.label if label is KEEP else (None if label is None else int(label)),  # type: ignore[call-overload]
            explanation_method=row.explanation_method,
            irrelevant_path=row.irrelevant_path,
            irrelevant_sha=row.irrelevant_sha,
            relevant_path=row.relevant_path,
            relevant_sha=row.relevant_sha,
            payload=dict(row.payload or {}),
            supersedes_id=row.id,
            review_status="accepted",
            reviewed_by=name,
            reviewed_at=utcnow(),
        )
        if lacks_reason(new):
            raise ValueError(
                "A wrong-reason verdict needs to say where the wrong reason is: this judgement has no marks, "
                "so correct the label as well (or give the right-reason verdict)."
            )
        session.add(new)
        session.flush()
        session.refresh(new)
    audit(
        actor or name,
        "feedback_corrected",
        project_id,
        feedback_id=feedback_id,
        correction_id=new.id,
        verdict=new.verdict,
        label=new.label,
    )
    return new
