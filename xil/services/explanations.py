"""Middle tier: an example as the annotator sees it, with its prediction and explanation. Explanations
are computed once per (model version, example, method): kept in memory (LRU), stored as array files
with a row each, and prepared ahead for the next examples by one background thread."""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db import Example, Explanation, session_scope
from xil import storage
from xil.services import adapters
from xil.services.catalog import dataset, get_example
from xil.services.versions import get_model_version, model_lock


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


Result = tuple[np.ndarray, np.ndarray]  # (attribution, class probabilities)


class ExplanationCache:
    """Explanations by ``(model version, example, method)``: memory, then the database, then computed
    (and stored). ``prefetch`` computes ahead on one background thread."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._memory: OrderedDict[tuple[int, int, str], Result] = OrderedDict()
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xil-prefetch")

    def get(self, model_version_id: int, example: Example, method: str) -> Result:
        key = (model_version_id, example.id, method)
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        result = self._stored(key) or self._compute(model_version_id, example, method)
        with self._lock:
            self._memory[key] = result
            while len(self._memory) > self.size:
                self._memory.popitem(last=False)
        return result

    def _stored(self, key: tuple[int, int, str]) -> Result | None:
        model_version_id, example_id, method = key
        with session_scope() as session:
            row = session.scalar(
                select(Explanation).where(
                    Explanation.model_version_id == model_version_id,
                    Explanation.example_id == example_id,
                    Explanation.method == method,
                )
            )
        return None if row is None else (storage.get_array(row.path), np.asarray(row.probs, dtype=np.float32))

    def _compute(self, model_version_id: int, example: Example, method: str) -> Result:
        version = get_model_version(model_version_id)
        adapter = adapters.for_project(example.project_id)
        with model_lock:
            result = adapter.explain(version, dataset(example.project_id), example.idx, method)
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
        return result

    def prefetch(self, model_version_id: int, example_ids: list[int], method: str) -> None:
        """Compute explanations for the next examples off the request path (best effort)."""

        def work() -> None:
            for example_id in example_ids:
                try:
                    example = get_example(example_id)
                    check_same_project(model_version_id, example, None)
                    self.get(model_version_id, example, method)
                except Exception:  # the request path computes on a miss
                    pass

        self._executor.submit(work)

    def wait(self, timeout_s: float = 300) -> None:
        """Until the prefetches queued so far are done."""
        self._executor.submit(lambda: None).result(timeout=timeout_s)

    def clear(self) -> None:
        with self._lock:
            self._memory.clear()


CACHE = ExplanationCache()


def check_same_project(model_version_id: int, example: Example, project_id: int | None) -> None:
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
    example = get_example(example_id)
    check_same_project(model_version_id, example, project_id)
    ds = dataset(example.project_id)
    attribution, probs = CACHE.get(model_version_id, example, method)
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
        **adapters.for_project(example.project_id).content(ds, example.idx),
    )


def prefetch(model_version_id: int, example_ids: list[int], method: str) -> None:
    CACHE.prefetch(model_version_id, example_ids, method)


def explanation_methods(model_version_id: int) -> dict[str, str]:
    """``{name: title}`` of the explanations that apply to this model version."""
    version = get_model_version(model_version_id)
    return adapters.for_project(version.project_id).explanation_methods(version)
