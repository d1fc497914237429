"""What an inversion fits: target curves as they were observed, on the model's grid or on x-values of their
own, with missing points, or i.i.d. samples of an unknown member of the family.

A model decodes a code to its curve on the checkpoint's grid. A target observed at other x-values is
compared with that curve interpolated at them: a cubic spline through the grid values, written as one
fixed matrix W (observed points x grid points), so that the comparison stays linear in the decoded curve
and its Jacobian is W times the decoder's. Points exactly on the grid are the grid values themselves.
Missing points (NaN) are left out of every sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from betaae.core.errors import TargetError


def interpolation_matrix(grid: np.ndarray, x: np.ndarray) -> np.ndarray:
    """W (len(x), len(grid)) such that W @ f(grid) is the cubic spline through f(grid) at x (inside the grid)."""
    from scipy.interpolate import CubicSpline

    return CubicSpline(grid, np.eye(len(grid)), axis=0)(x)


@dataclass
class Observations:
    """n target curves observed at m shared x-values, each with its own missing points."""

    values: torch.Tensor  # (n, m) float32, NaN where missing
    x: np.ndarray  # (m,) where they were observed
    weights: torch.Tensor | None  # (m, num_points) interpolation matrix; None when x is the grid itself
    grid: np.ndarray  # (num_points,) the checkpoint's grid

    @property
    def mask(self) -> torch.Tensor:
        """(n, m): 1 where observed."""
        return torch.isfinite(self.values).to(torch.float32)

    @property
    def observed(self) -> torch.Tensor:
        """(n,) the number of observed points of each target."""
        return self.mask.sum(dim=1)

    @property
    def filled(self) -> torch.Tensor:
        """The values with each missing point set to 0 (it is masked out of every sum)."""
        return torch.nan_to_num(self.values, nan=0.0)

    def residual(self, curves: torch.Tensor) -> torch.Tensor:
        """Curves on the grid minus the targets at the observed points, zero where a point is missing: (n, m)
        float64. Every misfit of an inversion is a norm of this."""
        return (self.at_observed(curves).double() - self.filled.double()) * self.mask.double()

    def at_observed(self, decoded: torch.Tensor) -> torch.Tensor:
        """Curves decoded on the grid, (n, num_points), at the observed x-values, (n, m)."""
        return decoded if self.weights is None else decoded @ self.weights.T

    def complete(self) -> bool:
        """On the grid with nothing missing: every method sees the targets as they are."""
        return self.weights is None and bool(torch.isfinite(self.values).all())

    def on_grid(self) -> torch.Tensor:
        """Each target as a whole curve on the grid, (n, num_points): the observed points joined by straight
        lines (flat beyond the first and last): a starting point for the encoder, not an answer."""
        if self.complete():
            return self.values
        rows = []
        for row in self.values.double().numpy():
            seen = np.isfinite(row)
            rows.append(np.interp(self.grid, self.x[seen], row[seen]))
        return torch.tensor(np.array(rows), dtype=torch.float32)

    def __len__(self) -> int:
        return self.values.shape[0]


def observe(values: np.ndarray, grid: np.ndarray, x: np.ndarray | None, source: str, min_points: int) -> Observations:
    """Targets (n, m) at x-values x (the grid when None): checked, with the interpolation they need."""
    values = np.asarray(values, dtype=np.float64)
    if x is None:
        if values.shape[1] != len(grid):
            raise TargetError(
                f"{source}: rows have {values.shape[1]} values but the checkpoint's grid has {len(grid)} points; "
                f"give their x-values with x=..., or an x column"
            )
        x, weights = np.asarray(grid, dtype=np.float64), None
    else:
        x = np.asarray(x, dtype=np.float64).ravel()
        if values.shape[1] != len(x):
            raise TargetError(f"{source}: rows have {values.shape[1]} values but x has {len(x)}")
        if not np.isfinite(x).all():
            raise TargetError(f"{source}: the x-values must be finite numbers")
        low, high = float(grid[0]), float(grid[-1])
        outside = (x < low - 1e-9 * (high - low)) | (x > high + 1e-9 * (high - low))
        if outside.any():
            raise TargetError(
                f"{source}: {int(outside.sum())} x-value(s) lie outside the checkpoint's grid [{low:g}, {high:g}] "
                f"(e.g. x={x[outside][0]:g}); the model has no curve there"
            )
        on_grid = len(x) == len(grid) and np.allclose(x, grid, rtol=0, atol=1e-9 * (high - low))
        weights = (
            None if on_grid else torch.tensor(interpolation_matrix(grid, np.clip(x, low, high)), dtype=torch.float32)
        )
    if np.isinf(values).any():
        row = int(np.argmax(np.isinf(values).any(axis=1)))
        raise TargetError(
            f"{source}: row {row} has infinite values; a missing point is NaN, every other must be finite"
        )
    huge = np.nanmax(np.abs(values), initial=0.0)
    if huge > 1e6:
        raise TargetError(
            f"{source}: values reach {huge:.3g}; a log-density on the grid stays within about ±1e3, so this "
            "looks like another quantity (or a damaged file)"
        )
    counts = np.isfinite(values).sum(axis=1)
    if (counts < min_points).any():
        row = int(np.argmax(counts < min_points))
        raise TargetError(
            f"{source}: row {row} has {int(counts[row])} observed point(s); at least {min_points} are needed "
            f"(the latent code's dimensions + 2, to fit it and estimate the noise)"
        )
    return Observations(torch.tensor(values, dtype=torch.float32), x, weights, np.asarray(grid, dtype=np.float64))


def on_grid(curves: torch.Tensor, grid) -> Observations:
    """Whole curves on the checkpoint's grid, as inversion targets."""
    grid = np.asarray(grid, dtype=np.float64)
    return Observations(curves.float(), grid, None, grid)


@dataclass
class Samples:
    """i.i.d. draws from an unknown member of the family, one array per target; the draws outside the grid
    are counted, not kept: the likelihood counts them as censored (betaae.inversion.samples)."""

    draws: list[np.ndarray]  # inside the grid, one array per target
    outside: list[int]  # how many draws of each target lay outside the grid


def sampled(rows: list[np.ndarray], grid: np.ndarray, support, source: str, min_draws: int = 10) -> Samples:
    """Check draws against the family's support and the grid; keep those inside the grid."""
    low, high = float(grid[0]), float(grid[-1])
    kept, outside = [], []
    for i, row in enumerate(rows):
        row = np.asarray(row, dtype=np.float64)
        row = row[~np.isnan(row)]
        bad = [v for v in row if not support.check(float(v))]
        if bad:
            raise TargetError(
                f"{source}: target {i} has {len(bad)} draw(s) outside the family's support {support.notation} "
                f"(e.g. {bad[0]:g})"
            )
        inside = row[(row >= low) & (row <= high)]
        if len(inside) < min_draws:
            raise TargetError(
                f"{source}: target {i} has {len(inside)} draw(s) inside the checkpoint's grid [{low:g}, {high:g}]; "
                f"at least {min_draws} are needed"
            )
        kept.append(inside)
        outside.append(int(len(row) - len(inside)))
    return Samples(kept, outside)
