"""betaae: autoencoders for families of mathematical functions, trained with Lightning and Hydra.

The public Python surface, importable from here: `load_model`, `invert`, `FAMILIES` and `get_family`
(see docs/inversion.md). Each is imported on first use, so `import betaae` (and any of its modules)
loads neither torch nor Lightning and registers nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.3.0"

_PUBLIC = {
    "load_model": "betaae.api",
    "invert": "betaae.api",
    "FAMILIES": "betaae.families",
    "get_family": "betaae.families",
}
__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'betaae' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
