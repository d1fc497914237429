"""How parameters are drawn: uniformly for training, by importance sampling for scoring.

Training curves are drawn uniformly from the parameter ranges: that is the task. The curves a model is
scored on (val, the test set, the in-family reference of inversion verdicts) are drawn by importance
sampling from the same uniform distribution instead: near a range end where the density degenerates (a
Beta's alpha or beta -> 0) the error is large and rare, and a plain draw of a few thousand curves misses
it, so its mean is mostly too low and jumps from draw to draw. There, half of the draws are log-uniform
down to 1e-9 of the range, and each curve carries the weight that makes every weighted figure an estimate
for the uniform draw (a defensive mixture: no weight exceeds 1 / (1 - EDGE_SHARE) per parameter).
docs/performance.md measures how much steadier the figures are. Needs torch, not Lightning.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from betaae.families import Family

SPLITS = ("train", "val", "test", "preview", "reference", "inversion_val", "inversion_test")
EDGE_SHARE = 0.5  # of the draws of an edge parameter that are log-uniform
EDGE_DECADES = 9  # the log-uniform part spans (low + 1e-9 span, high]


def sample_params(
    low: torch.Tensor, high: torch.Tensor, n: int, generator: torch.Generator, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Draw n parameter rows uniformly from (low, high], (n, num_params) float64.

    The interval is open at `low` so that a range starting at 0 never yields a parameter of
    exactly 0, whose log-pdf would be -inf or NaN.
    """
    u = 1.0 - torch.rand(n, low.shape[0], generator=generator, dtype=torch.float64, device=device)  # (0, 1]
    return low.to(device) + (high - low).to(device) * u


def edge_parameters(family: Family, low: torch.Tensor) -> torch.Tensor:
    """Which parameters' ranges reach the open end of their constraint, where the density degenerates
    (a Beta's alpha and beta, drawn from (0, 5]): a boolean per parameter."""
    return torch.tensor(
        [
            p.constraint.low_open and math.isfinite(p.constraint.low) and float(lo) <= p.constraint.low
            for p, lo in zip(family.parameters, low.tolist())
        ]
    )


def sample_scoring_params(
    low: torch.Tensor, high: torch.Tensor, edges: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """n parameter rows to score a model on, (n, num_params) float64, and each row's weight, (n,): the
    ratio of the uniform density on (low, high] to the density it was drawn from (see the module docstring)."""
    k = low.shape[0]
    # One draw per row, so that the rows are the same whatever the chunks they are drawn in.
    u, t, choice = torch.rand(n, 3 * k, generator=generator, dtype=torch.float64).split(k, dim=1)
    span = high - low
    uniform = low + span * (1.0 - u)  # in (low, high]
    floor = math.log(10.0**-EDGE_DECADES)
    log_uniform = low + span * torch.exp(floor * t)  # in (low + 1e-9 span, high]
    pick = (choice < EDGE_SHARE) & edges
    params = torch.where(pick, log_uniform, uniform)
    depth = ((params - low) / span).clamp_min(1e-300)  # in (0, 1]
    density = (1 - EDGE_SHARE) + EDGE_SHARE * (depth >= 10.0**-EDGE_DECADES) / (depth * -floor)
    return params, 1.0 / torch.where(edges, density, torch.ones_like(density)).prod(dim=1)


def split_seed(seed: int, split: str, epoch: int = 0, rank: int = 0) -> int:
    """An independent seed per (seed, split, epoch, rank), so that changing one never shifts another."""
    return int(np.random.SeedSequence([seed, SPLITS.index(split), epoch, rank]).generate_state(1)[0])
