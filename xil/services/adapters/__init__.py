"""Middle tier: one adapter per task, looked up by the project's task (see :mod:`.base`)."""

from __future__ import annotations

from xil.services.adapters.base import TaskAdapter
from xil.services.adapters.image import ImageAdapter
from xil.services.adapters.ranking import RankingAdapter
from xil.services.adapters.text import TextAdapter
from xil.services.catalog import get_project

ADAPTERS: dict[str, TaskAdapter] = {a.task: a for a in (ImageAdapter(), TextAdapter(), RankingAdapter())}


def for_task(task: str) -> TaskAdapter:
    return ADAPTERS[task]


def for_project(project_id: int) -> TaskAdapter:
    return ADAPTERS[get_project(project_id).task]


def config_class(project_id: int, kind: str | None = None) -> type:
    """The training config a project's jobs take (TrainConfig, TextTrainConfig or RewardConfig); with
    ``kind``, the one of that ``KIND`` (a ranking project also trains its generator: "preference tuning")."""
    adapter = for_project(project_id)
    if kind is None:
        return adapter.config_class
    for cls in adapter.config_classes:
        if cls.KIND == kind:
            return cls
    raise ValueError(f"a {adapter.task} project has no {kind} jobs")


__all__ = ["ADAPTERS", "TaskAdapter", "config_class", "for_project", "for_task"]
