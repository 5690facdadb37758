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
    return _latest_per_example(current_rows(project_id))


def word_marks(payload: dict, kind: str) -> list[int]:
    return [int(i) for i in payload.get(f"{kind}_words", [])]


def lacks_reason(row: Feedback) -> bool:
    """A "wrong reason" verdict that says neither where the wrong reason is (no marks) nor what the
    label should be: it teaches a trainer nothing, so trainers leave it out."""
    if row.verdict != "wrong_reason" or row.label is not None:
        return False
    words = word_marks(row.payload or {}, "irrelevant") or word_marks(row.payload or {}, "relevant")
    return not (row.irrelevant_path or row.relevant_path or words)


def training_feedback(project_id: int, slice: str = "all") -> list[Feedback]:
    """The feedback a trainer uses, one row per example, without wrong-reason verdicts that give no
    reason; ``slice`` (a config's ``feedback`` field) says which:

    - ``all``: per example the most recent current judgement of any annotator;
    - ``accepted``: per example the most recent current judgement a reviewer accepted;
    - ``consensus``: per example the annotators' majority (:func:`consensus_feedback`): transient rows,
      not stored, that no review status applies to.

    The RiT corpus (the Correction table, :mod:`.revision`) has no review status: every slice leaves
    it as it is."""
    if slice == "all":
        rows = current_feedback(project_id)
    elif slice == "accepted":
        rows = _latest_per_example([r for r in current_rows(project_id) if r.review_status == "accepted"])
    elif slice == "consensus":
        rows = consensus_feedback(project_id)
    else:
        raise ValueError(f"feedback must be one of all, accepted, consensus, not {slice!r}")
    return [row for row in rows if not lacks_reason(row)]


def count_lacking_reason(project_id: int) -> int:
    """How many current wrong-reason verdicts trainers leave out for want of marks or a label."""
    return sum(lacks_reason(row) for row in current_feedback(project_id))


def load_mask(path: str | None, shape: tuple[int, int]) -> np.ndarray:
    return storage.get_array(path).astype(bool) if path else np.zeros(shape, dtype=bool)


def feedback_masks(project_id: int, slice: str = "all") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dataset rows, irrelevant masks, relevant masks)`` of the feedback trainers use (``slice``:
    see :func:`training_feedback`) that marks pixels: a judgement without marks has no row here."""
    shape = dataset(project_id).shape[1:]
    rows = [r for r in training_feedback(project_id, slice) if r.irrelevant_path or r.relevant_path]
    if not rows:
        empty = np.zeros((0, *shape), dtype=bool)
        return np.zeros(0, dtype=int), empty, empty
    idx_of = dataset_rows(project_id)
    idx = np.array([idx_of[r.example_id] for r in rows])
    irrelevant = np.stack([load_mask(r.irrelevant_path, shape) for r in rows])
    relevant = np.stack([load_mask(r.relevant_path, shape) for r in rows])
    return idx, irrelevant, relevant


def feedback_words(project_id: int, slice: str = "all") -> list[tuple[int, Feedback]]:
    """``(dataset row, feedback)`` pairs, of the feedback trainers use (``slice``: see
    :func:`training_feedback`)."""
    idx_of = dataset_rows(project_id)
    return [(idx_of[r.example_id], r) for r in training_feedback(project_id, slice)]


# --- the annotators' majority: the consensus slice, the review queue and the export share it ----------


def current_rows(project_id: int) -> list[Feedback]:
    """Every annotator's current judgement in the project, oldest first."""
    with session_scope() as session:
        return list(session.scalars(current_query(project_id).order_by(col(Feedback.created_at), col(Feedback.id))))


def _latest_per_example(rows: list[Feedback]) -> list[Feedback]:
    latest: dict[int, Feedback] = {}
    for row in rows:  # oldest first: the last one wins
        latest[row.example_id] = row
    return list(latest.values())


def strict_majority(values: list) -> tuple[bool, object]:
    """``(found, value)``: the value more than half of ``values`` have; ``found`` is False where none
    has (a tie, or a plurality short of half). ``None`` is a value like any other."""
    for value in dict.fromkeys(values):
        if 2 * values.count(value) > len(values):
            return True, value
    return False, None


def effective_label(row: Feedback, dataset_label: int) -> int:
    """The label a judgement stands for: its correction, or the dataset's where it kept it."""
    return row.label if row.label is not None else dataset_label


def dense_order(ranks: list[float | None]) -> tuple[int | None, ...] | None:
    """Ranks as dense ranks (1, 1, 2 for 3, 3, 7; None stays unranked), or None where nothing is
    ranked: two rankings with one order give one value."""
    if not any(r is not None for r in ranks):
        return None
    dense = {r: i + 1 for i, r in enumerate(sorted({r for r in ranks if r is not None}))}
    return tuple(None if r is None else dense[r] for r in ranks)


def rank_order(row: Feedback) -> tuple[int | None, ...] | None:
    """A ranking's order (:func:`dense_order`), or None where it states none (marked all bad, or
    nothing ranked)."""
    payload = row.payload or {}
    return None if payload.get("all_bad") else dense_order(list(payload.get("ranks") or []))


def mostly_all_bad(rows: list[Feedback]) -> bool:
    """Whether more than half of the rankings marked every candidate bad."""
    return 2 * sum(bool((r.payload or {}).get("all_bad")) for r in rows) > len(rows)


def vote(rows: list[Feedback], dataset_label: int) -> tuple[str | None, int] | None:
    """``(majority verdict, majority effective label)`` of one example's current judgements, each a
    strict majority (None: no majority of either)."""
    found, verdict = strict_majority([r.verdict for r in rows])
    has_label, label = strict_majority([effective_label(r, dataset_label) for r in rows])
    return (verdict, label) if found and has_label else None


def mean_ranks(rows: list[Feedback]) -> list[float | None]:
    """Per candidate its mean rank over the rankings that ranked it (None: nobody did)."""
    ranked = [r.payload["ranks"] for r in rows if rank_order(r) is not None]
    if not ranked:
        return []
    out: list[float | None] = []
    for i in range(len(ranked[0])):
        values = [ranks[i] for ranks in ranked if ranks[i] is not None]
        out.append(float(np.mean(values)) if values else None)
    return out


def in_consensus(row: Feedback, rows: list[Feedback], dataset_label: int) -> bool:
    """Whether ``row`` agrees with the majority of ``rows`` (the example's current judgements): its
    verdict and effective label equal the majority's; a ranking's order equals the one of the mean
    ranks. True where the example has one judgement, and it is that one."""
    if row.kind == "ranking":
        if (row.payload or {}).get("all_bad") or mostly_all_bad(rows):
            return bool((row.payload or {}).get("all_bad")) and mostly_all_bad(rows)
        consensus = dense_order(mean_ranks(rows))
        return consensus is not None and rank_order(row) == consensus
    majority = vote(rows, dataset_label)
    return majority is not None and majority == (row.verdict, effective_label(row, dataset_label))


def _majority_mask(masks: list[np.ndarray]) -> np.ndarray:
    """A pixel (or word) is marked where more than half of ``masks`` mark it."""
    return 2 * np.sum(masks, axis=0) > len(masks)


def _stored_mask(mask: np.ndarray) -> dict[str, str | None]:
    return dict(zip(("path", "sha"), storage.put_array(mask, "masks") if mask.any() else (None, None), strict=True))


def _consensus_row(rows: list[Feedback], dataset_label: int, shape: tuple[int, ...] | None) -> Feedback | None:
    """The majority of one example's current judgements as a transient row (never added to a
    session), or None where there is no majority."""
    first = rows[-1]
    fields = {"project_id": first.project_id, "example_id": first.example_id, "annotator": "consensus"}
    if first.kind == "ranking":
        all_bad = mostly_all_bad(rows)
        means = [] if all_bad else mean_ranks(rows)
        order = dense_order(means)
        if order is None and not all_bad:
            return None
        corrections = [c for r in rows if (r.payload or {}).get("all_bad") and (c := r.payload.get("correction"))]
        payload = {
            "ranks": list(order) if order else [None] * len(first.payload.get("ranks", [])),
            "mean_ranks": means,
            "all_bad": all_bad,
            "correction": corrections[-1] if all_bad and corrections else None,
        }
        return Feedback(kind="ranking", payload=payload, **fields)
    majority = vote(rows, dataset_label)
    if majority is None:
        return None
    verdict, label = majority
    agreeing = [r for r in rows if r.verdict == verdict]
    out = Feedback(
        kind=first.kind, verdict=verdict, label=None if label == dataset_label else label, payload={}, **fields
    )
    if first.kind == "text_rationale":
        for kind in ("irrelevant", "relevant"):
            width = 1 + max((i for r in agreeing for i in word_marks(r.payload or {}, kind)), default=-1)
            masks = []
            for r in agreeing:
                mask = np.zeros(width, dtype=bool)
                mask[word_marks(r.payload or {}, kind)] = True
                masks.append(mask)
            out.payload[f"{kind}_words"] = [int(i) for i in np.flatnonzero(_majority_mask(masks))]
    elif shape is not None:  # images: pixel masks by majority, stored like an annotator's
        for kind in ("irrelevant", "relevant"):
            mask = _majority_mask([load_mask(getattr(r, f"{kind}_path"), shape) for r in agreeing])
            stored = _stored_mask(mask)
            setattr(out, f"{kind}_path", stored["path"])
            setattr(out, f"{kind}_sha", stored["sha"])
    return out


def consensus_feedback(project_id: int) -> list[Feedback]:
    """Per example with current judgements, their majority: the verdict a strict majority gave (a tie
    leaves the example out), the label a strict majority stands for (a kept label is a vote for the
    dataset's), and the marks more than half of the judgements with the majority verdict made (a
    combined pixel mask is stored with the other masks; words likewise). Rankings: the candidates in
    the order of their mean rank (all bad where most said so). An example judged once gives its own
    row. The rows returned for two or more judgements are transient: never stored, no id."""
    by_example: dict[int, list[Feedback]] = {}
    for row in current_rows(project_id):
        by_example.setdefault(row.example_id, []).append(row)
    if not by_example:
        return []
    with session_scope() as session:
        labels = dict(session.execute(select(Example.id, Example.label).where(Example.project_id == project_id)).all())
    shape = None
    if any(r.kind == "image_rationale" for rows in by_example.values() for r in rows):
        shape = dataset(project_id).shape[1:]
    out = []
    for example_id, rows in by_example.items():
        if len(rows) == 1:
            out.append(rows[0])
        elif (row := _consensus_row(rows, labels[example_id], shape)) is not None:
            out.append(row)
    return out


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
    an example one judged before always goes through); the annotator's lease on the example ends with the save."""
    with session_scope(write=True) as session:
        session.get(Example, example.id, with_for_update=True)
        previous = session.scalar(
            current_query(example.project_id).where(Feedback.example_id == example.id, Feedback.annotator == annotator)
        )
        wrote_before = previous is not None or session.scalar(
            select(func.count()).where(Feedback.example_id == example.id, Feedback.annotator == annotator)
        )
        if not wrote_before:  # one whose judgement a reviewer corrected may judge the example again
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
