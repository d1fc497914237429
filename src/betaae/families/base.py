"""Families of functions the autoencoder learns: each maps named parameters to a log-pdf on a grid.

A family is a class, as in torch.distributions and scipy.stats: it declares its parameters (each with
its constraint and default range), its support and its default grid, and computes its own log-density
for many parameter rows at once (the built-in ones are in `builtin`). Exponential families only supply
their natural parameters, log normalizer and sufficient statistics; the shared product turns a whole split
into one matrix product.

Add a family by subclassing Family (or ExponentialFamily) and decorating it with @FAMILIES.register;
see docs/extending.md. The math uses tensor methods only, and this module does not
import torch, so a config is checked against a family's declarations before torch is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from betaae.core.constraints import Interval
from betaae.core.registry import Registry

if TYPE_CHECKING:
    from torch import Tensor


@dataclass(frozen=True)
class Parameter:
    """One named parameter: the values it may take, and the range data is drawn from by default."""

    name: str
    constraint: Interval
    default_range: tuple[float, float]


class Family:
    """A family of densities on an interval, evaluated for many parameter rows in one call."""

    parameters: ClassVar[tuple[Parameter, ...]]
    support: ClassVar[Interval]  # where the grid may lie
    default_grid: ClassVar[tuple[float, float]]

    @property
    def name(self) -> str:
        """How a file names the family so that a fresh process finds it: `beta`, or `myfamilies.Laplace`."""
        return FAMILIES.ref(type(self))

    @property
    def label(self) -> str:
        """How a message names it to a person: its registered name (`laplace`), else its class name."""
        return FAMILIES.label(type(self))

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def default_ranges(self) -> dict[str, list[float]]:
        return {p.name: list(p.default_range) for p in self.parameters}

    def log_density(self, x: Tensor, *params: Tensor) -> Tensor:
        """The log-density at x (1, num_points) for parameter columns of shape (n, 1) each: (n, num_points)."""
        raise NotImplementedError

    def log_pdf(self, grid: Tensor, params: Tensor) -> Tensor:
        """Log-density of each parameter row on the grid: params (n, k), grid (num_points,) -> (n, num_points)."""
        x = grid.to(params.dtype).unsqueeze(0)
        return self.log_density(x, *params.unsqueeze(-1).unbind(1))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self.param_names)})"


class ExponentialFamily(Family):
    """log p(x) = natural(θ) · stats(x) - log_normalizer(θ) + log_base_measure(x), for every row at once."""

    def natural_params(self, *params: Tensor) -> tuple[Tensor, ...]:
        """Each natural parameter, (n,) each, from the parameter columns, (n,) each."""
        raise NotImplementedError

    def log_normalizer(self, *params: Tensor) -> Tensor:
        """A(θ), (n,)."""
        raise NotImplementedError

    def sufficient_stats(self, x: Tensor) -> tuple[Tensor, ...]:
        """Each sufficient statistic on the grid, (num_points,) each, in the order of natural_params."""
        raise NotImplementedError

    def log_base_measure(self, x: Tensor) -> Tensor | float:
        return 0.0

    def log_pdf(self, grid: Tensor, params: Tensor) -> Tensor:
        import torch  # imported here so that the family declarations above load without torch

        x = grid.to(params.dtype)
        columns = params.unbind(1)
        natural = torch.stack([*self.natural_params(*columns), -self.log_normalizer(*columns)], dim=1)
        stats = torch.stack([*self.sufficient_stats(x), torch.ones_like(x)])
        return natural @ stats + self.log_base_measure(x)  # (n, k+1) @ (k+1, num_points)


FAMILIES: Registry[type[Family]] = Registry("family", lambda item: isinstance(item, type) and issubclass(item, Family))


def make_grid(low: float, high: float, num_points: int) -> Tensor:
    """The fixed evaluation grid, float32, (num_points,)."""
    import torch

    return torch.linspace(low, high, num_points, dtype=torch.float64).float()


def get_family(name: str, option: str = "data.family", stored_in: str | None = None) -> Family:
    """An instance of the family called `name` (or at import path `name`); a ConfigError lists the known ones.
    A name read from a file (`stored_in`, the file's path) never imports a module betaae does not know."""
    cls = FAMILIES.get(name, option) if stored_in is None else FAMILIES.get_stored(name, stored_in)
    return cls()
