"""Families of functions the autoencoder learns, and how their parameters are drawn.

- `base`: what a family is (`Family`, `ExponentialFamily`, `Parameter`), the `FAMILIES` registry, the grid;
- `builtin`: Beta, Kumaraswamy, Gamma, Normal and Student's t, registered when this package is imported;
- `sampling`: parameter draws, uniform for training and importance-sampled for scoring (needs torch; not
  imported here).

May import: `betaae.core`. `base` and `builtin` load no torch, so a config is checked against a family's
declarations before torch is loaded.
"""

from betaae.families.base import FAMILIES, ExponentialFamily, Family, Parameter, get_family, make_grid
from betaae.families.builtin import Beta, Gamma, Kumaraswamy, Normal, StudentT

__all__ = [
    "FAMILIES",
    "Beta",
    "ExponentialFamily",
    "Family",
    "Gamma",
    "Kumaraswamy",
    "Normal",
    "Parameter",
    "StudentT",
    "get_family",
    "make_grid",
]
