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
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from betaae.core.errors import CheckpointError, ConfigError

T = TypeVar("T")
ENTRY_POINTS = "betaae.extensions"


def import_path(path: str) -> Any:
    """The object at import path `module.attribute` (ImportError or AttributeError if there is none)."""
    module, _, name = path.rpartition(".")
    if not module:
        raise ImportError(f"{path!r} is not an import path (module.attribute)")
    return getattr(importlib.import_module(module), name)


# Release 0.3 kept every module at the top of the package. The import paths its checkpoints and saved configs
# hold, by module, and where those modules are now.
LEGACY_MODULES = {
    "betaae.model": "betaae.models",
    "betaae.vae": "betaae.models",
    "betaae.data": "betaae.learner",
    "betaae.callbacks": "betaae.learner.callbacks",
    "betaae.loggers": "betaae.learner.loggers",
    "betaae.inversion": "betaae.inversion.methods",
    "betaae.sweep": "betaae.sweep",
    "betaae.families": "betaae.families",
}
# Modules outside betaae whose classes a saved config may name: torch's optimizers and schedules, Lightning's
# Trainer, callbacks and loggers. Importing them runs nothing a user did not install for betaae.
KNOWN_MODULES = (
    "torch.optim",
    "torch.optim.lr_scheduler",
    "lightning.pytorch",
    "lightning.pytorch.callbacks",
    "lightning.pytorch.loggers",
)


def current_path(path: str) -> str:
    """An import path as this version names it: release 0.3's module paths are mapped to their new homes."""
    module, _, name = str(path).rpartition(".")
    return f"{LEGACY_MODULES[module]}.{name}" if module in LEGACY_MODULES else str(path)


def may_import(module: str) -> bool:
    """Whether a name stored in a file (a checkpoint, a saved config) may lead to importing `module`: only
    betaae's own modules, the KNOWN_MODULES, and modules this process has imported already (the ones a user
    named in `extensions=`, or imported before calling the API). A file never makes betaae import anything
    else, since importing a module runs its code."""
    return module == "betaae" or module.startswith("betaae.") or module in KNOWN_MODULES or module in sys.modules


def stored_object(path: str, kinds: type | tuple[type, ...], what: str, source: str) -> Any:
    """The class a checkpoint or a saved config names by import path, if it is a subclass of `kinds`; anything
    else is refused in one CheckpointError naming the file and the path, before it is imported or called."""
    path = current_path(path)
    module, _, name = path.rpartition(".")
    found = None
    if module and may_import(module):
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            found = None
    if not (isinstance(found, type) and issubclass(found, kinds)):
        raise CheckpointError(untrusted(source, what, path))
    return found


def untrusted(source: str, what: str, path: str) -> str:
    """The one line that refuses a name a file holds."""
    module = path.rpartition(".")[0] or path
    return (
        f"{source}: its {what} is {path!r}, which is not one betaae knows; a checkpoint or a saved run never "
        f"makes betaae import or call anything else. If you trust its code, name its module: extensions=[{module}]"
    )


def import_extensions(modules: Iterable[str], option: str = "extensions") -> None:
    """Import the modules that register a user's families, models or methods (their decorators run)."""
    for module in modules:
        try:
            importlib.import_module(str(module))
        except ImportError as err:
            raise ConfigError(f"{option}: cannot import {module!r} ({err}); is its folder on PYTHONPATH?") from None


# Process-wide: entry points are imported once per process (importing them again would change nothing).
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

    def __init__(self, kind: str, accepts: Callable[[Any], bool] = callable) -> None:
        self.kind = kind
        self.accepts = accepts  # what an item found by import path must be (a Family subclass, a method)
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
            found = getattr(imported, attr, None)
            if found is not None and self.accepts(found):
                return found
            raise ConfigError(
                f"{option}={name!r}: {module} has no {self.kind} {attr} and registers none named {attr!r}"
            )
        load_entry_points()
        if name in self._items:
            return self._items[name]
        raise ConfigError(
            f"{option}={name!r} is not allowed: must be one of {', '.join(self._items)} "
            f"(or your own {self.kind}: mymodule.{name}, or list its module in extensions=[mymodule])"
        )

    def get_stored(self, name: str, source: str) -> T:
        """The item a file names (a checkpoint's family): by registered name, or by an import path that
        `may_import` allows; anything else is refused before it is imported or called."""
        name = current_path(name) if isinstance(name, str) else name
        if isinstance(name, str) and name in self._items:
            return self._items[name]
        if isinstance(name, str) and "." in name and may_import(name.rpartition(".")[0]):
            try:
                return self.get(name, source)
            except ConfigError:
                pass
        load_entry_points()  # packages the user installed as betaae extensions
        if isinstance(name, str) and name in self._items:
            return self._items[name]
        raise CheckpointError(untrusted(source, self.kind, str(name)))

    def ref(self, item: T) -> str:
        """How to name an item so that `get` finds it again in a fresh process (a checkpoint stores this):
        a built-in by its registered name, anything else by its import path."""
        for name, known in self._items.items():
            if known is item and item.__module__.split(".")[0] == "betaae":
                return name
        return f"{item.__module__}.{item.__qualname__}"

    def label(self, item: T) -> str:
        """How to name an item to a person: its registered name (`laplace`), else its class name."""
        return next((name for name, known in self._items.items() if known is item), item.__qualname__)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
