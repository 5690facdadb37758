"""What every task adapter does, one small interface: the services above call it and never ask
which task a project has. A new task is a new adapter, not an ``if`` in five places."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import numpy as np

from db import Example, Feedback, ModelVersion
from xil.registry import Registry

Progress = Callable[[dict], bool]  # called once per epoch; False stops the job


class TaskAdapter(Protocol):
    task: ClassVar[str]
    config_class: ClassVar[type]  # the training config, stored on the job row
    config_classes: ClassVar[tuple[type, ...]]  # every config its jobs take, config_class first (distinct KINDs)
    methods: ClassVar[Registry]  # the feedback methods its configs name (xil.feedback, xil.feedback.text)

    def first_config(self) -> Any | None:
        """The plain first model's config, queued when a project is imported (None: no first model)."""

    def check(self, project_id: int, cfg: Any) -> None:
        """What a config cannot check on its own because it needs the project (ValueError)."""

    def train_inputs(self, project_id: int, cfg: Any) -> Any:
        """What training reads from the database (picklable): the processes of one job share one read."""

    def train(
        self, project_id: int, cfg: Any, progress: Progress, log: Callable[[str], None], inputs: Any = None
    ) -> tuple[Any, list, int]:
        """``(trained artifact, per-epoch history, pieces of feedback used)`` from ``inputs`` (None:
        :meth:`train_inputs` now); raises train.Cancelled."""

    def evaluate(self, project_id: int, artifact: Any, cfg: Any) -> dict:
        """Metrics of a trained artifact on the project's held-out split and feedback."""

    def save(self, project_id: int, artifact: Any, cfg: Any) -> tuple[str, str, str, str]:
        """``(relative path, sha, arch, method)`` of the saved artifact."""

    def load_file(self, path: str, cfg: Any) -> Any:
        """The artifact ``save`` stored at ``path`` (absolute), for a job trained with ``cfg``."""

    def load(self, row: ModelVersion) -> Any:
        """The artifact of a stored version (cached)."""

    def progress_line(self, record: dict) -> str:
        """One log line per epoch."""

    def result_line(self, version: ModelVersion, metrics: dict) -> str:
        """The last log line of a finished job."""

    def explanation_methods(self, row: ModelVersion) -> dict[str, str]:
        """``{name: title}`` of the explanations that apply to this version."""

    def training_methods(self) -> dict[str, str]:
        """``{name: title}`` of the training methods, ``none`` (plain) first."""

    def content(self, ds: Any, idx: int) -> dict:
        """What the annotator sees of dataset row ``idx``: ``{"image": (C, H, W)}`` or ``{"words": [...]}``."""

    def explain(self, row: ModelVersion, ds: Any, idx: int, method: str) -> tuple[np.ndarray, np.ndarray]:
        """``(attribution, class probabilities)`` of dataset row ``idx``."""

    def queue_scores(self, row: ModelVersion, ds: Any, strategy: str) -> np.ndarray:
        """One score per dataset row for a queue strategy; higher comes first."""

    def predicted_classes(self, row: ModelVersion, ds: Any) -> np.ndarray:
        """The predicted class of every dataset row."""

    def rationale(self, ds: Any, example: Example, marks: dict) -> tuple[str, dict, dict[str, np.ndarray]]:
        """``(feedback kind, payload, non-empty pixel masks)`` from an annotator's marks (``irrelevant``,
        ``relevant`` masks or ``irrelevant_words``, ``relevant_words``), validated (ValueError)."""

    def export_fields(self, ds: Any, example: Example, fb: Feedback) -> dict:
        """The task's own columns of an exported feedback row."""

    def wrong_reason_on_marks(self, row: ModelVersion) -> float | None:
        """The version's share of attribution on the project's current irrelevant marks (None: none)."""


def no_explanations(task: str):
    def refuse(*_args, **_kwargs):
        raise ValueError(f"a {task} project has no per-example explanations")

    return refuse


def classifier_progress_line(record: dict) -> str:
    """The per-epoch log line of image and text classifiers (cross-entropy plus a penalty)."""
    return (
        f"epoch {record['epoch']}/{record['epochs']}: loss {record['loss']:.4f} "
        f"(ce {record['ce']:.4f}, penalty {record['penalty']:.3g})"
    )


def classifier_result_line(version: ModelVersion, metrics: dict) -> str:
    return f"model version {version.version}: test accuracy {metrics['test_acc']:.3f}"
