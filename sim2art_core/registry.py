"""One small registry class for every extension point (detectron2 style).

Models (:mod:`sim2art_core.model.registry`), evaluation methods
(:mod:`sim2art_core.eval.methods`) and run-time optical-flow methods each own one
:class:`Registry`. Adding an implementation is one module plus one
``@REGISTRY.register("name")``; configs list the names as ``Literal[...]`` and a test
checks that the literal and the registry agree (:func:`Registry.check_literal`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, get_args

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object (usually a constructor), unique names, clear errors.

    Args:
        kind: what is registered, for error messages ("model", "flow method", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated object under ``name`` (unique)."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` under ``name``; a name can be registered once."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def get(self, name: str) -> T:
        """The object registered under ``name``; ValueError naming the known ones otherwise."""
        if name not in self._items:
            raise ValueError(f"unknown {self.kind} {name!r}; registered: {', '.join(sorted(self._items))}")
        return self._items[name]

    def names(self) -> tuple[str, ...]:
        """Registered names in registration order."""
        return tuple(self._items)

    def check_literal(self, literal: object) -> None:
        """Raise unless ``typing.Literal[...]`` ``literal`` lists exactly the registered names.

        Configs type their choice fields as ``Literal`` for editors and type checkers; this keeps
        that literal and the registry from drifting apart (called by the tests).
        """
        choices = set(get_args(literal))
        if choices != set(self._items):
            raise AssertionError(f"{self.kind} Literal {sorted(choices)} != registered {sorted(self._items)}")

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
