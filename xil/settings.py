"""What the config dataclasses share: a job row stores ``to_dict()``, a worker rebuilds it with
``from_dict`` (unknown keys are an error, not silently dropped)."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, TypeVar

T = TypeVar("T", bound="Settings")


class Settings:
    """Mixin for ``@dataclass`` configs."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict) -> T:
        unknown = set(data) - {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"unknown training settings: {sorted(unknown)}")
        return cls(**data)
