"""Name → component registries (one per kind: label spaces, datasets, models, ...).

A new component is one file with a ``@REGISTRY.register("name")`` line; lookups of
unknown names fail with the list of known ones instead of an if/elif chain over strings.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Generic, TypeVar

from labelrobust.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to components of one kind (e.g. ``"label space"``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._descriptions: dict[str, str] = {}

    def register(self, name: str, description: str = "") -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``; a name may be taken only once.

        ``description``: one line for ``labelrobust list`` (default: the first sentence of the
        component's own docstring)."""

        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            self._descriptions[name] = description or _first_sentence(obj)
            return obj

        return add

    def get(self, name: str) -> T:
        """The component called ``name``; unknown names raise a ConfigError listing the known ones."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ConfigError(
                f"unknown {self.kind} {name!r}; known: {', '.join(self.available())}"
            ) from None

    def describe(self, name: str) -> str:
        """The one-line description of ``name`` (components describe themselves)."""
        self.get(name)  # an unknown name fails with the known ones
        return self._descriptions[name]

    def available(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items


def _first_sentence(obj: object) -> str:
    """The first sentence of ``obj``'s *own* docstring (not one inherited from a base class)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    paragraph = " ".join(inspect.cleandoc(doc or "").split("\n\n")[0].split())
    return paragraph.split(". ")[0].rstrip(".")
