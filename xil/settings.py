"""What the config dataclasses share: a job row stores ``to_dict()``, a worker rebuilds it with
``from_dict`` (unknown keys are an error, not silently dropped), and the UI shows each field's help
from the class's *Parameters* docstring (:func:`field_help`).

A config documents every field in its docstring and checks every value in ``__post_init__``, so a bad
setting fails where the config is made (a form, the CLI, a stored job row), with the same message
everywhere."""

from __future__ import annotations

import inspect
from dataclasses import asdict, fields
from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="Settings")


def field_help(cls: type) -> dict[str, str]:
    """``{field: its description}`` from the *Parameters* section of ``cls``'s docstring, one paragraph
    per field, in docstring order. An entry is ``name: text`` (or ``name (type): text``) indented under
    ``Parameters:``; deeper-indented lines continue it."""
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().rstrip(":") == "Parameters") + 1
    except StopIteration:
        return {}
    out: dict[str, str] = {}
    indent: int | None = None
    name = None
    for line in lines[start:]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        if depth < indent:
            break
        if depth == indent:
            head, _, text = line.strip().partition(":")
            name = head.split(" ")[0]
            out[name] = text.strip()
        elif name is not None:
            out[name] = f"{out[name]} {line.strip()}".strip()
    return out


class Settings:
    """Mixin for ``@dataclass`` configs."""

    KIND: ClassVar[str] = "training"  # names them in errors: "unknown training settings: [...]"

    @classmethod
    def help(cls, field: str) -> str:
        """The help text of one field (its paragraph in the *Parameters* docstring); "" if undocumented."""
        return field_help(cls).get(field, "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict) -> T:
        unknown = set(data) - {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"unknown {cls.KIND} settings: {sorted(unknown)}")
        return cls(**data)


FEEDBACK_SLICES = ("all", "accepted", "consensus")


def check_processes(processes, machines=1) -> None:
    """A job's data-parallel processes per machine and machines: whole numbers, 1 or more."""
    for name, value in (("processes", processes), ("machines", machines)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number, 1 or more (got {value!r})")


def check_feedback(value: str) -> None:
    """What every trainable config shares: the slice of the feedback it trains on."""
    if value not in FEEDBACK_SLICES:
        raise ValueError(f"feedback must be one of {', '.join(FEEDBACK_SLICES)}, not {value!r}")


def check_penalty(cfg) -> None:
    """What image and text configs share: weight decay, lambda_ and lambda_scale are not negative."""
    if cfg.weight_decay < 0:
        raise ValueError(f"weight_decay must be 0 or more, not {cfg.weight_decay}")
    if cfg.lambda_ is not None and cfg.lambda_ < 0:
        raise ValueError(f"lambda_ must be 0 or more (None: automatic), not {cfg.lambda_}")
    if cfg.lambda_scale is not None and cfg.lambda_scale <= 0:
        raise ValueError(f"lambda_scale must be positive (None: the method's default), not {cfg.lambda_scale}")
