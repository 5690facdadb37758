"""Middle tier: how model versions compare, as the Models page shows it: each version's wrong-reason
score on today's marks, method titles, metric formats and how much feedback a method usually needs."""

from __future__ import annotations

import functools

from xil import config
from xil.services import adapters
from xil.services.feedback_store import feedback_state
from xil.services.versions import get_model_version, model_lock


def wrong_reason_on_marks(model_version_id: int) -> float | None:
    """The version's wrong-reason score on the project's *current* irrelevant marks (None: no marks),
    so every version, the first one too, is measured against the same marks. Cached per version and
    state of the feedback."""
    row = get_model_version(model_version_id)
    # database ids repeat across data directories (tests, a second XIL_HOME): they key the cache too
    return _wrong_reason_on_marks(model_version_id, row.sha, str(config.home()), feedback_state(row.project_id))


@functools.lru_cache(maxsize=64)
def _wrong_reason_on_marks(model_version_id: int, sha: str, home: str, state: tuple) -> float | None:
    row = get_model_version(model_version_id)
    with model_lock:
        return adapters.for_project(row.project_id).wrong_reason_on_marks(row)


def method_titles(task: str) -> dict[str, str]:
    """``{method name: the one title the UI uses for it}`` for a task's training methods."""
    return adapters.for_task(task).training_methods()


def method_title(method: str | None, task: str) -> str:
    """One name per method everywhere in the UI (a reward job's config has no ``method`` at all: it is
    the task's first method)."""
    titles = method_titles(task)
    if method is None and "none" not in titles:
        return next(iter(titles.values()))
    return titles.get(method or "none", str(method))


# What the README's benchmarks measured, so a user who judged a few dozen examples knows whether
# "nothing changed" is expected: (method, task) -> how much feedback it needed there.
FEEDBACK_NEEDED: dict[tuple[str, str], tuple[int, str]] = {
    ("rrr", "image"): (
        20,
        "RRR on the demo needs about 20 judged examples to lift test accuracy from 0.78 to about 0.92, and "
        "about 80 to 0.95 (benchmark: 0.919 / 0.947 / 0.950 with the decoy marked on 17 / 82 / 300 examples)",
    ),
    ("ce", "image"): (
        300,
        "counterexamples need more marked examples than RRR for the same gain (Decoy-MNIST benchmark: 0.83 "
        "with 100 and 0.90 with 400 marked examples, RRR 0.93 with 100)",
    ),
    ("hint", "image"): (
        1438,
        "HINT reached 0.969 on the demo with relevant marks on all 1,438 training examples",
    ),
    ("rrr_g", "image"): (
        1438,
        "RRR-G reached 0.964 on the demo's images with the small CNN and every one of the 1,438 examples marked",
    ),
    ("ce", "text"): (
        40,
        "counterexamples on the review demo reach 1.0 test accuracy after about 40 marked reviews",
    ),
}


# the projects those measurements speak for: the demos and the Decoy-MNIST the benchmarks use
HINTED_SOURCES = {"decoy-digits", "decoy-mnist", "demo-reviews"}


def feedback_hint(task: str, method: str | None, n_feedback: int, source: str | None = None) -> str | None:
    """A hint when a version used less feedback than its method needed in the benchmarks, on the
    projects those benchmarks measured (``source``: the project's; None: any)."""
    need = FEEDBACK_NEEDED.get((method or "none", task))
    if need is None or n_feedback >= need[0] or (source is not None and source not in HINTED_SOURCES):
        return None
    return f"This version used {n_feedback} judged examples; {need[1]}."


COUNT_METRICS = ("train_pairs", "eval_pairs")


def format_metric(key: str, value: object) -> str:
    """A metric as the tables show it: counts as integers, lambda in 3 significant digits (it can be
    4e4 or 1e-3), scores with 3 decimals."""
    if value is None:
        return ""
    if not isinstance(value, int | float):
        return str(value)
    if key in COUNT_METRICS:
        return f"{int(value):,}"
    if key == "lambda":  # an automatic lambda can be 4e4 or 1e-3: 43,036 and 0.00123, not 43035.610
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return f"{value:.3f}"


def load_model(model_version_id: int):
    """A version's trained model (a module, or ``(model, tokenizer)``), from the loader cache."""
    row = get_model_version(model_version_id)
    return adapters.for_project(row.project_id).load(row)
