"""How a trained model is scored, the same way for runs, sweeps and benchmarks.

A model is scored on the test set (data.num_test curves from data.test_seed, the same for every run of a
family and ranges) by the per-curve SSE over the grid: its mean, median, 90th and 99th percentiles and
maximum, the mean near a degenerate range end (min(alpha, beta) <= 0.01 for the Beta family) and a map of
the error over the parameters. Beside them, a scale-free figure: the mean SSE per curve divided by the
spread of the family's own curves (the variance across curves at each grid point, summed over the grid),
the share of that spread the model does not reconstruct; it compares families and grids, where SSE per curve
does not (a normal family's log-densities span hundreds of units on its grid, a Beta's a few).

The test curves are importance-sampled (betaae.learner.datamodule), so every figure is a weighted estimate
for curves drawn uniformly from the training ranges; its spread from one draw of the test set to another is
measured in docs/performance.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

# The notebook's final SSE per curve, and the quality the defaults aim well below: seconds to reach each.
QUALITY_MARKS = (0.038, 0.002)
EDGE_REGION = 0.002  # "near the edge": within this share of its range above a degenerate end (alpha <= 0.01)


def late_spikes(vals: list[float]) -> int:
    """Epochs in the last third whose val SSE per curve is above twice the best so far: 0 is a smooth end,
    where the last weights are as good as the best checkpoint's."""
    best, spikes = math.inf, 0
    for epoch, value in enumerate(vals):
        spikes += epoch >= 2 * len(vals) // 3 and value > 2 * best
        best = min(best, value)
    return spikes


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The q-quantile of values drawn with these importance weights."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][min(np.searchsorted(cumulative, q * cumulative[-1]), len(values) - 1)])


@dataclass
class Scores:
    """The per-curve SSE of a model on a set of curves, with each curve's parameters and weight."""

    errors: np.ndarray  # (n,) float64
    params: np.ndarray  # (n, k)
    weights: np.ndarray  # (n,)
    names: tuple[str, ...]
    low: np.ndarray  # (k,) the parameter ranges
    high: np.ndarray
    edges: np.ndarray  # (k,) bool: parameters with a degenerate range end (betaae.learner.datamodule.edge_parameters)
    spread: float = math.nan  # the curves' variance across curves, summed over the grid (weighted, like the SSE)

    def mean(self, mask: np.ndarray | None = None) -> float:
        w = self.weights if mask is None else self.weights * mask
        return float((w * self.errors).sum() / w.sum()) if w.sum() > 0 else math.nan

    def near_edge(self) -> np.ndarray:
        """Curves with a degenerate parameter within EDGE_REGION of its range's end."""
        depth = (self.params - self.low) / (self.high - self.low)
        return ((depth <= EDGE_REGION) & self.edges).any(axis=1)

    def edge_text(self) -> str:
        """What near_edge means for this family, e.g. "min(alpha, beta) <= 0.01"."""
        names = [n for n, e in zip(self.names, self.edges) if e]
        bound = float(self.low[self.edges][0] + EDGE_REGION * (self.high - self.low)[self.edges][0])
        what = names[0] if len(names) == 1 else f"min({', '.join(names)})"
        return f"{what} <= {bound:g}"

    def figures(self, prefix: str = "test/") -> dict[str, float]:
        """The figures every run reports, by name."""
        figures = {
            f"{prefix}sse_per_curve": self.mean(),
            f"{prefix}sse_per_curve_median": weighted_quantile(self.errors, self.weights, 0.5),
            f"{prefix}sse_per_curve_p90": weighted_quantile(self.errors, self.weights, 0.9),
            f"{prefix}sse_per_curve_p99": weighted_quantile(self.errors, self.weights, 0.99),
            f"{prefix}sse_per_curve_max": float(self.errors.max()),
        }
        if self.edges.any():
            figures[f"{prefix}sse_per_curve_edge"] = self.mean(self.near_edge())
        if self.spread > 0:
            figures[f"{prefix}sse_relative"] = self.mean() / self.spread
        return figures


@torch.no_grad()
def score(model, datamodule, split: str = "test", n: int | None = None, device: str | torch.device = "cpu") -> Scores:
    """Score a model (in eval mode) on a split of a CurveDataModule, drawn chunk by chunk."""
    was_training = model.training
    model.eval()
    dtype = next(model.parameters()).dtype
    n = n or (datamodule.hparams.num_test if split == "test" else datamodule.hparams.num_val)
    errors, params, weights = [], [], []
    total = first = second = 0.0  # weighted sums of 1, y and y**2 at each grid point, for the spread
    for curves, chunk_params, chunk_weights in datamodule.chunks(split, n):
        total = total + chunk_weights.sum()
        first = first + chunk_weights @ curves
        second = second + chunk_weights @ curves.pow(2)
        curves = curves.to(device, dtype)
        errors.append((model.reconstruct(curves) - curves).double().pow(2).sum(dim=1).cpu())
        params.append(chunk_params)
        weights.append(chunk_weights)
    model.train(was_training)
    mean = first / total
    spread = float((second / total - mean.pow(2)).clamp_min(0).sum())
    return Scores(
        torch.cat(errors).numpy(),
        torch.cat(params).numpy(),
        torch.cat(weights).numpy(),
        tuple(datamodule.family.param_names),
        datamodule.low.numpy(),
        datamodule.high.numpy(),
        datamodule.edges.numpy(),
        spread,
    )
