"""What a run and an inversion may be configured as: every option's rule, checked before torch loads, so
that a bad option is refused in one line (`checks`), and the options that were renamed (`moved`).

May import: `betaae.core`, `betaae.families`, `betaae.models.options`; torch-free (a test checks it).
"""

from betaae.core.lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {"require": "checks", "check_options": "checks", "validate_train": "checks", "MOVED": "moved"},
)
