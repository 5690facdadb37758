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


__all__ = ["ADAPTERS", "TaskAdapter", "for_project", "for_task"]
