"""Annotation: the queue of examples, their explanations (cached, prepared ahead), saving feedback."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import zlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col

from db import Example, Explanation, Feedback, session_scope
from xil import storage
from xil.data.text import TextDataset
from xil.explain import explain
from xil.explain.metrics import mass_in_mask
from xil.services import text
from xil.services.models import get_model_version, load_model
from xil.services.projects import dataset

STRATEGIES = {
    "suspicious": "Suspicious first (attribution off the object, or on one word)",
    "least_confident": "Least confident prediction first",
    "random": "Random",
}
# What "suspicious" means differs per task; the queue option should say what it does for this one.
_SUSPICIOUS_TITLES = {
    "image": "Suspicious first (attribution off the object)",
    "text": "Suspicious first (attribution on one word)",
}
VERDICTS = ("right_reason", "wrong_reason")
_CACHE_SIZE = 512
_cache: OrderedDict[tuple[int, int, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_cache_lock = threading.Lock()
_explain_lock = threading.Lock()
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xil-prefetch")
_scores: dict[tuple[int, str], np.ndarray] = {}


@dataclass
class ExampleView:
    """One example as the annotator sees it."""

    example_id: int
    project_id: int
    name: str
    split: str
    label: int
    class_names: list[str]
    attribution: np.ndarray  # (H, W) for images, one score per word for texts
    probs: np.ndarray  # (K,)
    method: str
    model_version_id: int
    image: np.ndarray | None = None  # (C, H, W) in [0, 1]
    words: list[str] | None = None  # a text, split on whitespace

    @property
    def task(self) -> str:
        return "text" if self.words is not None else "image"

    @property
    def predicted(self) -> int:
        return int(self.probs.argmax())


def _get_example(example_id: int) -> Example:
    with session_scope() as session:
        row = session.get(Example, example_id)
        if row is None:
            raise ValueError(f"no example {example_id}")
        return row


def _compute(model_version_id: int, example: Example, method: str) -> tuple[np.ndarray, np.ndarray]:
    key = (model_version_id, example.id, method)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    with session_scope() as session:
        row = session.scalar(
            select(Explanation).where(
                Explanation.model_version_id == model_version_id,
                Explanation.example_id == example.id,
                Explanation.method == method,
            )
        )
    if row is not None:
        result = (storage.get_array(row.path), np.asarray(row.probs, dtype=np.float32))
    else:
        ds = dataset(example.project_id)
        with _explain_lock:  # captum's layer methods hook the shared model: one explanation at a time
            if isinstance(ds, TextDataset):
                result = text.explain_words(get_model_version(model_version_id), ds, example.idx, method)
            else:
                x = torch.from_numpy(ds.images[example.idx : example.idx + 1])
                attribution, probs = explain(load_model(model_version_id), x, method)
                result = (attribution[0].numpy().astype(np.float32), probs[0].numpy())
        rel, sha = storage.put_array(result[0], "explanations")
        try:
            with session_scope(write=True) as session:
                session.add(
                    Explanation(
                        model_version_id=model_version_id,
                        example_id=example.id,
                        method=method,
                        probs=[float(p) for p in result[1]],
                        path=rel,
                        sha=sha,
                    )
                )
        except IntegrityError:  # computed concurrently by the prefetcher; same content
            pass
    with _cache_lock:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def strategy_titles(task: str) -> dict[str, str]:
    """The queue strategies titled for a project's task: name -> title."""
    return {**STRATEGIES, "suspicious": _SUSPICIOUS_TITLES.get(task, STRATEGIES["suspicious"])}


def _check_same_project(model_version_id: int, example: Example, project_id: int | None) -> None:
    """A model only explains examples of its own project: another project's model would be loaded
    with the wrong loader (a text model folder read as image weights crashes in safetensors)."""
    version = get_model_version(model_version_id)
    if project_id is not None and example.project_id != project_id:
        raise ValueError(f"example {example.id} belongs to another project")
    if version.project_id != example.project_id:
        raise ValueError(f"model version {model_version_id} belongs to another project than example {example.id}")


def explain_example(
    model_version_id: int, example_id: int, method: str = "saliency", project_id: int | None = None
) -> ExampleView:
    """The example with its prediction and explanation. ValueError, before anything is computed,
    where the example and the model version are not of one project (``project_id`` where given)."""
    example = _get_example(example_id)
    _check_same_project(model_version_id, example, project_id)
    ds = dataset(example.project_id)
    attribution, probs = _compute(model_version_id, example, method)
    return ExampleView(
        example_id=example.id,
        project_id=example.project_id,
        name=example.name,
        split=example.split,
        label=example.label,
        class_names=ds.class_names,
        attribution=attribution,
        probs=probs,
        method=method,
        model_version_id=model_version_id,
        image=None if isinstance(ds, TextDataset) else ds.images[example.idx],
        words=ds.words(example.idx) if isinstance(ds, TextDataset) else None,
    )


def prefetch(model_version_id: int, example_ids: list[int], method: str) -> None:
    """Compute explanations for the next examples off the request path."""

    def work() -> None:
        for example_id in example_ids:
            try:
                example = _get_example(example_id)
                _check_same_project(model_version_id, example, None)
                _compute(model_version_id, example, method)
            except Exception:  # prefetching is best effort; the request path computes on a miss
                pass

    _executor.submit(work)


def _current(session, project_id: int):
    """Feedback rows no later row supersedes."""
    newer = aliased(Feedback)
    return select(Feedback).where(
        Feedback.project_id == project_id,
        ~exists().where(newer.supersedes_id == Feedback.id),
    )


def current_feedback(project_id: int) -> list[Feedback]:
    """Per example, the most recent current feedback of any annotator."""
    with session_scope() as session:
        rows = session.scalars(_current(session, project_id).order_by(col(Feedback.created_at), col(Feedback.id))).all()
    latest: dict[int, Feedback] = {}
    for row in rows:
        latest[row.example_id] = row
    return list(latest.values())


def lacks_reason(row: Feedback) -> bool:
    """A "wrong reason" verdict that says neither where the wrong reason is (no marks) nor what the
    label should be: it teaches a trainer nothing, so trainers leave it out."""
    if row.verdict != "wrong_reason" or row.label is not None:
        return False
    words = (row.payload or {}).get("irrelevant_words") or (row.payload or {}).get("relevant_words")
    return not (row.irrelevant_path or row.relevant_path or words)


def training_feedback(project_id: int) -> list[Feedback]:
    """The current feedback a trainer uses: all of it except wrong-reason verdicts without a reason."""
    return [row for row in current_feedback(project_id) if not lacks_reason(row)]


def count_lacking_reason(project_id: int) -> int:
    """How many current wrong-reason verdicts trainers leave out for want of marks or a label."""
    return sum(lacks_reason(row) for row in current_feedback(project_id))


def feedback_masks(project_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dataset rows, irrelevant masks, relevant masks)`` of the feedback trainers use."""
    ds = dataset(project_id)
    rows = training_feedback(project_id)
    if not rows:
        empty = np.zeros((0, *ds.shape[1:]), dtype=bool)
        return np.zeros(0, dtype=int), empty, empty
    with session_scope() as session:
        idx_of = dict(session.execute(select(Example.id, Example.idx).where(Example.project_id == project_id)).all())
    idx = np.array([idx_of[r.example_id] for r in rows])
    blank = np.zeros(ds.shape[1:], dtype=bool)
    irrelevant = np.stack([storage.get_array(r.irrelevant_path) if r.irrelevant_path else blank for r in rows])
    relevant = np.stack([storage.get_array(r.relevant_path) if r.relevant_path else blank for r in rows])
    return idx, irrelevant.astype(bool), relevant.astype(bool)


def feedback_words(project_id: int) -> list[tuple[int, Feedback]]:
    """``(dataset row, current feedback)`` pairs for a text project, of the feedback trainers use."""
    rows = training_feedback(project_id)
    with session_scope() as session:
        idx_of = dict(session.execute(select(Example.id, Example.idx).where(Example.project_id == project_id)).all())
    return [(idx_of[r.example_id], r) for r in rows]


def _object_box(shape: tuple[int, int]) -> np.ndarray:
    """Where the object is assumed to be without annotations: the centre, a 1/7 border off."""
    h, w = shape
    box = np.zeros(shape, dtype=bool)
    box[h // 7 : h - h // 7, w // 7 : w - w // 7] = True
    return box


def _strategy_scores(project_id: int, model_version_id: int, strategy: str) -> np.ndarray:
    """One score per dataset row; higher comes first. Computed once per model version."""
    key = (model_version_id, strategy)
    if key in _scores:
        return _scores[key]
    ds = dataset(project_id)
    with _explain_lock:
        if isinstance(ds, TextDataset):
            scores = text.strategy_scores(get_model_version(model_version_id), ds, strategy)
        elif strategy == "least_confident":
            from xil.train.evaluate import predict

            scores = 1.0 - predict(load_model(model_version_id), torch.from_numpy(ds.images)).max(dim=1).values.numpy()
        else:
            from xil.train.evaluate import attributions

            maps = attributions(load_model(model_version_id), torch.from_numpy(ds.images))
            outside = ~_object_box(ds.shape[1:])
            scores = mass_in_mask(maps, np.broadcast_to(outside, maps.shape))
    _scores[key] = scores
    return scores


def _predicted_classes(project_id: int, model_version_id: int) -> np.ndarray:
    """The model's predicted class per dataset row; computed once per model version."""
    key = (model_version_id, "predicted")
    if key in _scores:
        return _scores[key]
    ds = dataset(project_id)
    with _explain_lock:
        if isinstance(ds, TextDataset):
            predicted = text.predicted_classes(get_model_version(model_version_id), ds)
        else:
            from xil.train.evaluate import predict

            predicted = predict(load_model(model_version_id), torch.from_numpy(ds.images)).argmax(dim=1).numpy()
    _scores[key] = predicted
    return predicted


def _mix_classes(order: list[int], classes: np.ndarray) -> list[int]:
    """``order`` taken round-robin over ``classes``, each class keeping its own order: the best of
    every class first, then the second best of each... A score alone can serve one class for dozens of
    examples in a row, and feedback on one class only teaches the model little."""
    queues: dict[int, list[int]] = {}
    for i in order:  # classes come in the order of their best example
        queues.setdefault(int(classes[i]), []).append(i)
    rounds = itertools.zip_longest(*queues.values())
    return [i for one_round in rounds for i in one_round if i is not None]


def _suspicious_rank(project_id: int, model_version_id: int) -> np.ndarray:
    """Each dataset row's place in the suspicious queue: by score, mixed over predicted classes. Made
    once over every row, so judging or skipping one example leaves the others' order as it was (what
    was prefetched stays next)."""
    key = (model_version_id, "suspicious_rank")
    if key not in _scores:
        scores = _strategy_scores(project_id, model_version_id, "suspicious")
        train = dataset(project_id).indices("train")  # the queue serves these only
        by_score = train[np.argsort(-scores[train], kind="stable")].tolist()
        mixed = _mix_classes(by_score, _predicted_classes(project_id, model_version_id))
        rank = np.full(len(scores), len(scores), dtype=np.int64)
        rank[mixed] = np.arange(len(mixed))
        _scores[key] = rank
    return _scores[key]


def next_examples(
    project_id: int,
    model_version_id: int,
    strategy: str = "suspicious",
    annotator: str = "",
    n: int = 5,
    exclude: tuple[int, ...] = (),
) -> list[int]:
    """Ids of the next training examples nobody has judged yet, best first."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown queue strategy {strategy!r}; choose from {sorted(STRATEGIES)}")
    with session_scope() as session:
        judged = select(Feedback.example_id).where(Feedback.project_id == project_id)
        rows = session.execute(
            select(Example.id, Example.idx).where(
                Example.project_id == project_id,
                Example.split == "train",
                col(Example.id).not_in(judged),
                col(Example.id).not_in(list(exclude)),
            )
        ).all()
    if not rows:
        return []
    ids = np.array([r[0] for r in rows])
    if strategy == "random":  # a fixed pseudo-random rank per example: the queue keeps its order as it empties
        ranks = [hashlib.blake2b(f"{project_id}:{annotator}:{i}".encode(), digest_size=8).digest() for i in ids]
        order = sorted(range(len(ids)), key=ranks.__getitem__)
    else:
        rows_idx = np.array([r[1] for r in rows])
        if strategy == "suspicious":
            order = np.argsort(_suspicious_rank(project_id, model_version_id)[rows_idx], kind="stable")
        else:  # least confident stays strictly by confidence: that is what it promises
            order = np.argsort(-_strategy_scores(project_id, model_version_id, strategy)[rows_idx], kind="stable")
    return [int(ids[i]) for i in order[:n]]


def annotation_progress(project_id: int, split: str | None = "train") -> tuple[int, int]:
    """``(examples with feedback, examples)`` of ``split`` (None: all of them)."""
    from sqlalchemy import func

    with session_scope() as session:
        examples = select(func.count()).select_from(Example).where(Example.project_id == project_id)
        if split is not None:
            examples = examples.where(Example.split == split)
        total = session.scalar(examples)
        done = session.scalar(
            select(func.count(func.distinct(Feedback.example_id))).where(Feedback.project_id == project_id)
        )
    return int(done or 0), int(total or 0)


def save_feedback(
    example_id: int,
    annotator: str,
    model_version_id: int | None,
    verdict: str | None = None,
    label: int | None = None,
    irrelevant: np.ndarray | None = None,
    relevant: np.ndarray | None = None,
    explanation_method: str | None = None,
    irrelevant_words: list[int] | None = None,
    relevant_words: list[int] | None = None,
) -> Feedback:
    """Store a judgement; it supersedes this annotator's earlier one on the same example.

    Images take pixel masks (``irrelevant``, ``relevant``); texts take word indices
    (``irrelevant_words``, ``relevant_words``)."""
    annotator = annotator.strip()
    if not annotator:
        raise ValueError("say who you are (annotator name) before saving feedback")
    if verdict is not None and verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    example = _get_example(example_id)
    ds = dataset(example.project_id)
    if label is not None and not 0 <= int(label) < len(ds.class_names):
        raise ValueError(f"label {label} is not a class of this project (0..{len(ds.class_names) - 1})")
    if model_version_id is not None and get_model_version(model_version_id).project_id != example.project_id:
        raise ValueError(f"model version {model_version_id} belongs to another project than example {example_id}")
    payload: dict = {}
    if isinstance(ds, TextDataset):
        if irrelevant is not None or relevant is not None:
            raise ValueError("a text takes marked words (irrelevant_words, relevant_words), not pixel masks")
        n_words = len(ds.words(example.idx))
        payload = {
            "irrelevant_words": text.validate_words(irrelevant_words, n_words, "irrelevant"),
            "relevant_words": text.validate_words(relevant_words, n_words, "relevant"),
        }
    elif irrelevant_words or relevant_words:
        raise ValueError("an image takes pixel masks (irrelevant, relevant), not word indices")
    masks: dict[str, np.ndarray] = {}
    for kind, mask in (("irrelevant", irrelevant), ("relevant", relevant)):
        if mask is None:
            continue
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != ds.shape[1:]:
            raise ValueError(f"{kind} mask has shape {mask.shape}, the image is {ds.shape[1:]}")
        masks[kind] = mask
    marked = any(m.any() for m in masks.values()) or any(payload.values())
    if verdict == "wrong_reason" and label is None and not marked:
        raise ValueError(
            "a wrong-reason verdict needs to say where the wrong reason is: mark the "
            + ("words" if payload else "pixels")
            + " the model should not (or should) use, or correct the label, then save again"
        )
    paths: dict[str, str | None] = {}
    for kind in ("irrelevant", "relevant"):  # stored only once every argument is known to be valid
        paths[f"{kind}_path"] = paths[f"{kind}_sha"] = None
        if kind in masks and masks[kind].any():
            paths[f"{kind}_path"], paths[f"{kind}_sha"] = storage.put_array(masks[kind], "masks")
    return store_feedback(
        example,
        annotator,
        model_version_id=model_version_id,
        verdict=verdict,
        label=None if label is None else int(label),
        explanation_method=explanation_method,
        kind="text_rationale" if payload else "image_rationale",
        payload=payload,
        **paths,
    )


def store_feedback(example: Example, annotator: str, **fields) -> Feedback:
    """A new feedback row on ``example`` that supersedes this annotator's current one, in one write
    transaction. Saves on one example are serialised (the example row is locked on PostgreSQL; SQLite
    has one writer), so two racing saves cannot both supersede the same row or both start a history;
    a unique index on ``supersedes_id`` guards the rest."""
    with session_scope(write=True) as session:
        session.get(Example, example.id, with_for_update=True)
        previous = session.scalar(
            _current(session, example.project_id).where(
                Feedback.example_id == example.id, Feedback.annotator == annotator
            )
        )
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


def load_mask(path: str | None, shape: tuple[int, int]) -> np.ndarray:
    return storage.get_array(path).astype(bool) if path else np.zeros(shape, dtype=bool)


def _draft_path(annotator: str, example_id: int):
    from xil import config

    key = zlib.crc32(annotator.encode())
    return config.home() / "drafts" / f"{key:08x}-{example_id}.npz"


def save_draft(annotator: str, example_id: int, irrelevant: np.ndarray, relevant: np.ndarray) -> None:
    """Keep unsaved marks across a page reload (not feedback until saved)."""
    path = _draft_path(annotator, example_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, irrelevant=irrelevant.astype(bool), relevant=relevant.astype(bool))


def load_draft(annotator: str, example_id: int) -> tuple[np.ndarray, np.ndarray] | None:
    path = _draft_path(annotator, example_id)
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        return z["irrelevant"], z["relevant"]


def discard_draft(annotator: str, example_id: int) -> None:
    _draft_path(annotator, example_id).unlink(missing_ok=True)


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


def recent_feedback(project_id: int, annotator: str, limit: int = 20) -> list[Feedback]:
    """This annotator's current judgements in the project, newest first: what "Back" returns to."""
    annotator = annotator.strip()
    with session_scope() as session:
        query = (
            _current(session, project_id)
            .where(Feedback.annotator == annotator)
            .order_by(col(Feedback.id).desc())
            .limit(limit)
        )
        return list(session.scalars(query))


def current_judgement(example_id: int, annotator: str) -> Feedback | None:
    """This annotator's current feedback on the example, if any."""
    example = _get_example(example_id)
    with session_scope() as session:
        query = _current(session, example.project_id).where(
            Feedback.example_id == example_id, Feedback.annotator == annotator.strip()
        )
        return session.scalar(query)


def _skips_path(annotator: str, project_id: int):
    from xil import config

    key = hashlib.blake2b(annotator.encode(), digest_size=8).hexdigest()
    return config.home() / "skips" / f"{key}-{project_id}.json"


def skipped_examples(annotator: str, project_id: int) -> tuple[int, ...]:
    """The examples this annotator skipped in the project; kept on the server so a reload, or another
    browser, does not serve them again."""
    path = _skips_path(annotator.strip(), project_id)
    if not annotator.strip() or not path.exists():
        return ()
    try:
        return tuple(int(i) for i in json.loads(path.read_text()))
    except (ValueError, TypeError):  # a damaged file: start over rather than break the page
        return ()


def _write_skips(annotator: str, project_id: int, ids: list[int]) -> None:
    path = _skips_path(annotator, project_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(ids))
    tmp.replace(path)  # whole or not at all


def skip_example(annotator: str, project_id: int, example_id: int) -> None:
    annotator = annotator.strip()
    if not annotator:
        raise ValueError("say who you are (annotator name) to keep skips")
    ids = list(skipped_examples(annotator, project_id))
    if example_id not in ids:
        _write_skips(annotator, project_id, [*ids, int(example_id)])


def unskip_examples(annotator: str, project_id: int, example_ids: tuple[int, ...] | None = None) -> None:
    """Put skipped examples back in the queue (``None``: all of them)."""
    annotator = annotator.strip()
    if not annotator:
        return
    keep = [] if example_ids is None else [i for i in skipped_examples(annotator, project_id) if i not in example_ids]
    _write_skips(annotator, project_id, keep)
