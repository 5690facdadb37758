"""Middle tier: the annotation queue. Which training example an annotator sees next (query strategies
over the current model version), the leases that keep several annotators off each other's examples,
the examples they skipped, and their unsaved marks (drafts).

Several annotators: an example leaves everyone's queue once the project's ``overlap`` of distinct
annotators have judged it, and never comes back to one who judged it. The example an annotator is
served is leased to them for a few minutes; a lease counts against the overlap like a judgement, so
with overlap 1 two people never get the same example, and with overlap N no example is served to more
than N at once. Saving refuses a judgement past the overlap (:func:`.feedback_store.store_feedback`)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import zlib

import numpy as np

from xil import config
from xil.services import adapters
from xil.services.assignment import LEASE_MINUTES, open_examples, release, serve
from xil.services.catalog import dataset
from xil.services.versions import get_model_version, model_lock

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


def strategy_titles(task: str) -> dict[str, str]:
    """The queue strategies titled for a project's task: name -> title."""
    return {**STRATEGIES, "suspicious": _SUSPICIOUS_TITLES.get(task, STRATEGIES["suspicious"])}


class ScoreCache:
    """Per model version, one array over the dataset's rows (queue scores, predicted classes, ranks):
    computed once, since a version never changes."""

    def __init__(self) -> None:
        self._arrays: dict[tuple[int, str], np.ndarray] = {}

    def get(self, model_version_id: int, name: str, compute) -> np.ndarray:
        key = (model_version_id, name)
        if key not in self._arrays:
            self._arrays[key] = compute()
        return self._arrays[key]

    def clear(self) -> None:
        self._arrays.clear()


SCORES = ScoreCache()


def strategy_scores(project_id: int, model_version_id: int, strategy: str) -> np.ndarray:
    """One score per dataset row; higher comes first."""

    def compute() -> np.ndarray:
        version = get_model_version(model_version_id)
        with model_lock:
            return adapters.for_project(project_id).queue_scores(version, dataset(project_id), strategy)

    return SCORES.get(model_version_id, strategy, compute)


def predicted_classes(project_id: int, model_version_id: int) -> np.ndarray:
    """The model's predicted class per dataset row."""

    def compute() -> np.ndarray:
        version = get_model_version(model_version_id)
        with model_lock:
            return adapters.for_project(project_id).predicted_classes(version, dataset(project_id))

    return SCORES.get(model_version_id, "predicted", compute)


def mix_classes(order: list[int], classes: np.ndarray) -> list[int]:
    """``order`` taken round-robin over ``classes``, each class keeping its own order: the best of
    every class first, then the second best of each... A score alone can serve one class for dozens of
    examples in a row, and feedback on one class only teaches the model little."""
    queues: dict[int, list[int]] = {}
    for i in order:  # classes come in the order of their best example
        queues.setdefault(int(classes[i]), []).append(i)
    rounds = itertools.zip_longest(*queues.values())
    return [i for one_round in rounds for i in one_round if i is not None]


def suspicious_rank(project_id: int, model_version_id: int) -> np.ndarray:
    """Each dataset row's place in the suspicious queue: by score, mixed over predicted classes. Made
    once over every row, so judging or skipping one example leaves the others' order as it was (what
    was prefetched stays next)."""

    def compute() -> np.ndarray:
        scores = strategy_scores(project_id, model_version_id, "suspicious")
        train = dataset(project_id).indices("train")  # the queue serves these only
        scored = np.isfinite(scores[train])  # a large image project scores a pool of its rows
        by_score = train[scored][np.argsort(-scores[train][scored], kind="stable")].tolist()
        rest = train[~scored][np.argsort(random_rank(train[~scored], str(model_version_id)), kind="stable")]
        mixed = mix_classes(by_score, predicted_classes(project_id, model_version_id)) + rest.tolist()
        rank = np.full(len(scores), len(scores), dtype=np.int64)
        rank[mixed] = np.arange(len(mixed))
        return rank

    return SCORES.get(model_version_id, "suspicious_rank", compute)


def random_rank(ids: np.ndarray, salt: str) -> np.ndarray:
    """A pseudo-random uint64 per id, fixed for ``salt`` (one annotator's queue of one project): the
    SplitMix64 finaliser of the salted id, in numpy (20,000 ids in a fraction of a millisecond)."""
    key = np.uint64(int.from_bytes(hashlib.blake2b(salt.encode(), digest_size=8).digest(), "little"))
    z = np.asarray(ids, dtype=np.uint64) ^ key
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def next_examples(
    project_id: int,
    model_version_id: int | None,
    strategy: str = "suspicious",
    annotator: str = "",
    n: int = 5,
    exclude: tuple[int, ...] = (),
    minutes: float = LEASE_MINUTES,
) -> list[int]:
    """Ids of the next training examples for ``annotator``, best first: those they have not judged,
    whose judgements and other annotators' active leases leave room under the project's overlap.

    A named annotator is leased the first one (see :func:`lease`), so two people asking at once get
    different examples where the overlap is 1; the rest are a look-ahead (to prefetch), not leased."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown queue strategy {strategy!r}; choose from {sorted(STRATEGIES)}")
    annotator = annotator.strip()
    rows = open_examples(project_id, annotator, exclude, split="train")
    if not rows:
        return []
    ids = np.array([r[0] for r in rows])
    if strategy == "random":  # a fixed pseudo-random rank per example: the queue keeps its order as it empties
        order = np.argsort(random_rank(ids, f"{project_id}:{annotator}"), kind="stable")
    else:
        if model_version_id is None:
            raise ValueError(f"the {strategy!r} queue needs a model version; the 'random' one does not")
        rows_idx = np.array([r[1] for r in rows])
        if strategy == "suspicious":
            order = np.argsort(suspicious_rank(project_id, model_version_id)[rows_idx], kind="stable")
        else:  # least confident stays strictly by confidence: that is what it promises
            order = np.argsort(-strategy_scores(project_id, model_version_id, strategy)[rows_idx], kind="stable")
    return serve([int(ids[i]) for i in order], annotator, n, minutes)


# --- skips: kept on the server per annotator and project, so a reload does not serve them again ----


def _skips_path(annotator: str, project_id: int):
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
    release(example_id, annotator)


def unskip_examples(annotator: str, project_id: int, example_ids: tuple[int, ...] | None = None) -> None:
    """Put skipped examples back in the queue (``None``: all of them)."""
    annotator = annotator.strip()
    if not annotator:
        return
    keep = [] if example_ids is None else [i for i in skipped_examples(annotator, project_id) if i not in example_ids]
    _write_skips(annotator, project_id, keep)


# --- drafts: unsaved marks survive a page reload (not feedback until saved) ------------------------


def _draft_path(annotator: str, example_id: int):
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
