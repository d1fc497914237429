"""Name -> implementation tables for the three extension seams: families, models and inversion methods.

A built-in registers itself with a decorator where it is defined. Code outside betaae can be named by
its import path (`mypkg.families.Cauchy`): the module is imported on first use, which runs its decorator.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from betaae.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Registered items of one kind, by name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: `@FAMILIES.register("beta")` on a class or function."""

        def add(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise ValueError(f"a {self.kind} named {name!r} is already registered: {self._items[name]!r}")
            self._items[name] = item
            return item

        return add

    def get(self, name: str, option: str | None = None) -> T:
        """The item called `name`, or the one at import path `name`; a ConfigError names the known ones."""
        if name in self._items:
            return self._items[name]
        if isinstance(name, str) and "." in name:
            module, _, attr = name.rpartition(".")
            try:
                return getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as err:
                raise ConfigError(f"{option or self.kind}={name!r}: cannot import it ({err})") from None
        raise ConfigError(
            f"{option or self.kind}={name!r} is not allowed: must be one of {', '.join(self._items)} "
            f"(or the import path of your own {self.kind})"
        )

    def ref(self, item: T) -> str:
        """How to name an item so that `get` finds it again in a fresh process (a checkpoint stores this):
        a built-in by its registered name, anything else by its import path."""
        for name, known in self._items.items():
            if known is item and item.__module__.split(".")[0] == "betaae":
                return name
        return f"{item.__module__}.{item.__qualname__}"

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
