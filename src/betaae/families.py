"""Families of functions the autoencoder learns: each maps two parameters to a log-pdf on a grid.

A family knows its parameter names, its support (where the grid may lie), the lowest value each
parameter may take, and how to evaluate log-pdfs for many parameter pairs at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Family:
    """A two-parameter family of densities, evaluated in one vectorized call."""

    name: str
    param_names: tuple[str, str]
    support: tuple[float, float]  # open interval the grid must lie in
    param_floor: tuple[float, float]  # each parameter must be > floor (-inf: any real value)
    default_params: dict[str, tuple[float, float]]
    default_grid: tuple[float, float]

    def log_pdf(self, grid: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Log-density of each parameter row on the grid: params (n, 2), grid (m,) -> (n, m).

        Beta, gamma and normal are exponential families: the log-density is a per-curve vector of
        natural parameters times a per-point vector of sufficient statistics, so a whole split is
        one (n, 3) @ (3, m) matrix product instead of n distribution objects.
        """
        first, second = params[:, 0], params[:, 1]
        x = grid.to(params.dtype)
        if self.name == "kumaraswamy":
            a, b = first.unsqueeze(1), second.unsqueeze(1)
            return torch.log(a) + torch.log(b) + (a - 1) * torch.log(x) + (b - 1) * torch.log1p(-(x**a))
        if self.name == "beta":
            log_norm = torch.lgamma(first) + torch.lgamma(second) - torch.lgamma(first + second)
            natural = torch.stack([first - 1, second - 1, -log_norm], dim=1)
            stats = torch.stack([torch.log(x), torch.log1p(-x), torch.ones_like(x)])
        elif self.name == "gamma":  # shape k, rate r
            natural = torch.stack([first - 1, -second, first * torch.log(second) - torch.lgamma(first)], dim=1)
            stats = torch.stack([torch.log(x), x, torch.ones_like(x)])
        elif self.name == "normal":  # mean mu, standard deviation sigma
            precision = second.pow(-2)
            const = -0.5 * first.pow(2) * precision - torch.log(second) - 0.5 * math.log(2 * math.pi)
            natural = torch.stack([-0.5 * precision, first * precision, const], dim=1)
            stats = torch.stack([x * x, x, torch.ones_like(x)])
        else:
            raise KeyError(self.name)
        return natural @ stats


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "beta", ("alpha", "beta"), (0.0, 1.0), (0.0, 0.0), {"alpha": (0.0, 5.0), "beta": (0.0, 5.0)}, (0.01, 0.99)
        ),
        Family("kumaraswamy", ("a", "b"), (0.0, 1.0), (0.0, 0.0), {"a": (0.5, 5.0), "b": (0.5, 5.0)}, (0.01, 0.99)),
        Family(
            "gamma",
            ("shape", "rate"),
            (0.0, math.inf),
            (0.0, 0.0),
            {"shape": (1.0, 5.0), "rate": (0.5, 2.0)},
            (0.1, 10.0),
        ),
        Family(
            "normal",
            ("mean", "std"),
            (-math.inf, math.inf),
            (-math.inf, 0.0),
            {"mean": (-2.0, 2.0), "std": (0.3, 2.0)},
            (-5.0, 5.0),
        ),
    )
}


def get_family(name: str) -> Family:
    """The family called `name`, or a KeyError listing the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}") from None


def make_grid(low: float, high: float, num_points: int) -> torch.Tensor:
    """The fixed evaluation grid, float32, (num_points,)."""
    return torch.linspace(low, high, num_points, dtype=torch.float64).float()


def sample_params(
    low: torch.Tensor, high: torch.Tensor, n: int, generator: torch.Generator, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Draw n parameter pairs uniformly from (low, high], (n, 2) float64.

    The interval is open at `low` so that a range starting at 0 never yields a parameter of
    exactly 0, whose log-pdf would be -inf or NaN.
    """
    u = 1.0 - torch.rand(n, 2, generator=generator, dtype=torch.float64, device=device)  # (0, 1]
    return low.to(device) + (high - low).to(device) * u


def curves_for(family: Family, grid: torch.Tensor, params: torch.Tensor, chunk: int = 1_000_000) -> torch.Tensor:
    """Log-pdf rows for every parameter pair, float32 (n, num_points), built in chunks to bound memory.

    Evaluated in float64 and stored in float32: the float64 intermediate is what costs memory, so
    chunking keeps the peak at the float32 result plus one chunk.
    """
    out = torch.empty(params.shape[0], grid.shape[0], dtype=torch.float32, device=params.device)
    grid64 = grid.to(device=params.device, dtype=torch.float64)
    for start in range(0, params.shape[0], chunk):
        out[start : start + chunk] = family.log_pdf(grid64, params[start : start + chunk]).float()
    return out
