"""One small registry for every kind of plugin: image and text explainers, image and text feedback
methods, model architectures.

A plugin declares itself as a typed object (a frozen dataclass with a ``name``), so a plugin that lacks a
field fails when its module is imported, not later with a silent default. The registry is a read-only
mapping from name to that object, in declaration order (the order the UI and the CLI list them in).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Generic, Protocol, TypeVar


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class Registry(Mapping[str, T], Generic[T]):
    """``{name: entry}`` for one kind of plugin; ``kind`` names it in error messages ("explanation method")."""

    def __init__(self, kind: str, entries: Iterable[T]) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        for entry in entries:
            if entry.name in self._entries:
                raise ValueError(f"two {kind}s are called {entry.name!r}")
            self._entries[entry.name] = entry

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"

    def names(self) -> list[str]:
        """The names in declaration order."""
        return list(self._entries)

    def choices(self, *extra: str) -> str:
        """``"none, rrr, rrr_g"``: the names, after ``extra`` ones, for help texts and error messages."""
        return ", ".join([*extra, *self._entries])

    def lookup(self, name: str) -> T:
        """The entry called ``name``, or a ValueError that lists the choices."""
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; choose from {self.choices()}") from None


__all__ = ["Named", "Registry"]
