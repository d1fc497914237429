"""Importance-sampled scoring draws: weighted figures estimate the uniform draw's, with far less spread."""

import math

import torch

from betaae.families import get_family
from betaae.families.sampling import edge_parameters, sample_params, sample_scoring_params

LOW = torch.zeros(2, dtype=torch.float64)
HIGH = torch.full((2,), 5.0, dtype=torch.float64)


def draw(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    edges = edge_parameters(get_family("beta"), LOW)
    return sample_scoring_params(LOW, HIGH, edges, n, torch.Generator().manual_seed(seed))


def test_only_ranges_that_reach_an_open_end_of_the_constraint_are_edges():
    beta = get_family("beta")
    assert edge_parameters(beta, LOW).tolist() == [True, True]
    assert edge_parameters(beta, torch.tensor([0.5, 0.0], dtype=torch.float64)).tolist() == [False, True]
    normal = get_family("normal")  # mean is unbounded, sd > 0: only sd's range can reach its open end
    assert edge_parameters(normal, torch.tensor([-3.0, 0.0], dtype=torch.float64)).tolist() == [False, True]


def test_weighted_draws_estimate_uniform_expectations():
    params, weights = draw(400_000, 0)
    assert (params > 0).all() and (params <= 5).all() and (weights > 0).all()
    n = len(weights)
    assert abs(weights.mean().item() - 1.0) < 0.01
    # E[alpha] = 2.5 and P(min(alpha, beta) <= 0.05) = 1 - (1 - 0.01)^2 under the uniform draw.
    assert abs((weights * params[:, 0]).sum().item() / n - 2.5) < 0.02
    corner = (params.min(dim=1).values <= 0.05).double()
    assert abs((weights * corner).sum().item() / n - (1 - 0.99**2)) < 0.001
    assert weights.max().item() <= 4.0 + 1e-9  # defensive: at most 1 / (1 - 0.5) per edge parameter


def test_the_corner_is_drawn_often_so_its_mean_is_steady():
    params, _ = draw(100_000, 1)
    uniform = sample_params(LOW, HIGH, 100_000, torch.Generator().manual_seed(1))
    deep = lambda p: (p.min(dim=1).values <= 0.01).double().mean().item()  # noqa: E731
    assert deep(params) > 50 * deep(uniform)
    # An error that grows like 1/min(alpha, beta), as the model's does: its weighted mean is steadier.
    f = lambda p: 1.0 / p.min(dim=1).values.clamp_min(1e-3)  # noqa: E731
    sampled = [(lambda p, w: (w * f(p)).mean().item())(*draw(5_000, s)) for s in range(20)]
    plain = [f(sample_params(LOW, HIGH, 5_000, torch.Generator().manual_seed(s))).mean().item() for s in range(20)]
    sd = lambda v: math.sqrt(sum((x - sum(v) / len(v)) ** 2 for x in v) / (len(v) - 1))  # noqa: E731
    assert sd(sampled) < 0.5 * sd(plain)
