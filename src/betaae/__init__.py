"""betaae: autoencoders for families of mathematical functions, trained with Lightning and Hydra.

The public Python surface, importable from here: `load_model`, `invert`, `FAMILIES` and `get_family`
(see docs/inversion.md). Each is imported on first use, so `import betaae` (and any of its modules)
loads neither torch nor Lightning and registers nothing. How the package is laid out: docs/design.md.
"""

from betaae.core.lazy import exports

__version__ = "0.4.0"  # the one place the version is written (pyproject.toml reads it)

__getattr__, __dir__, _public = exports(
    __name__,
    {"load_model": "inversion.api", "invert": "inversion.api", "FAMILIES": "families", "get_family": "families"},
)
__all__ = [*_public, "__version__"]
