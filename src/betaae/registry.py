"""Name -> implementation tables for two of the extension seams: families and inversion methods.

(Models have no table: a model config names its class by import path in `_target_`, as Hydra does.)

A built-in registers itself with a decorator where it is defined. Code outside betaae is found in one of
three ways, each of which imports the module that holds the decorator:
- by import path, `mymodule.Cauchy` (the class or function itself);
- by module and registered name, `mymodule.cauchy` (the name given to `register`);
- by its registered name alone, `cauchy`, once the module is imported: list it in the `extensions` option
  (`extensions=[mymodule]`), or publish it under the `betaae.extensions` entry-point group of a package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from betaae.errors import ConfigError

T = TypeVar("T")
ENTRY_POINTS = "betaae.extensions"


def import_path(path: str) -> Any:
    """The object at import path `module.attribute` (ImportError or AttributeError if there is none)."""
    module, _, name = path.rpartition(".")
    if not module:
        raise ImportError(f"{path!r} is not an import path (module.attribute)")
    return getattr(importlib.import_module(module), name)


def import_extensions(modules: Iterable[str], option: str = "extensions") -> None:
    """Import the modules that register a user's families, models or methods (their decorators run)."""
    for module in modules:
        try:
            importlib.import_module(str(module))
        except ImportError as err:
            raise ConfigError(f"{option}: cannot import {module!r} ({err}); is its folder on PYTHONPATH?") from None


_entry_points_loaded = False


def load_entry_points() -> None:
    """Import every module published under the `betaae.extensions` entry-point group, once."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINTS):
        entry.load()


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
        """The item called `name` (see the module docstring); a ConfigError names the known ones."""
        option = option or self.kind
        if isinstance(name, str) and name in self._items:
            return self._items[name]
        if isinstance(name, str) and "." in name:
            module, _, attr = name.rpartition(".")
            try:
                imported = importlib.import_module(module)
            except ImportError as err:
                raise ConfigError(
                    f"{option}={name!r}: cannot import it ({err}); is its folder on PYTHONPATH?"
                ) from None
            if attr in self._items:  # module.registered_name: importing the module registered it
                return self._items[attr]
            if hasattr(imported, attr):
                return getattr(imported, attr)
            raise ConfigError(f"{option}={name!r}: {module} has no {attr} and registers no {self.kind} named {attr!r}")
        load_entry_points()
        if name in self._items:
            return self._items[name]
        raise ConfigError(
            f"{option}={name!r} is not allowed: must be one of {', '.join(self._items)} "
            f"(or your own {self.kind}: mymodule.{name}, or list its module in extensions=[mymodule])"
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
