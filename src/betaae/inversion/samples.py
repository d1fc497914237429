"""Inverting samples instead of a curve: the code whose decoded density best explains i.i.d. draws.

A decoded curve is the family's log-pdf on the grid, interpolated between grid points. Each draw inside the
grid counts by its density there; the draws outside the grid are censored: each counts by the decoded
probability of falling outside, one minus the decoded density's integral over the grid. That is the
likelihood of all the draws, where setting the outside ones aside (a likelihood truncated to the grid) would
lose what their number says: for the Beta family with α < 1, a large share of the draws falls below the
grid. The likelihood is maximized over the code with L-BFGS from the best of a set of candidate codes.
The answer's covariance is the inverse Hessian of the negative log-likelihood (Laplace), and a
Kolmogorov-Smirnov test of the inside draws against the decoded density truncated to the grid says whether
the model describes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from betaae.inversion.observations import Samples, interpolation_matrix

REFINE = 10  # the normalizing integral is taken on a grid this many times finer than the model's
# The decoded probability of a draw inside the grid is kept within (EDGE, 1 - EDGE): a model's curve may
# integrate to a little more than 1 over the grid, and a censored draw must still have a finite likelihood.
EDGE = 1e-6


@dataclass
class SampleFit:
    codes: torch.Tensor  # (n, d)
    log_likelihood: np.ndarray  # (n,) of all the draws (censored outside the grid), per draw
    covariance: torch.Tensor  # (n, d, d)
    ks_p_value: np.ndarray  # (n,)
    evaluations: np.ndarray  # (n,)


class DecodedDensity:
    """Log-densities of decoded curves at given points, normalized on the grid."""

    def __init__(self, grid: np.ndarray) -> None:
        self.grid = np.asarray(grid, dtype=np.float64)
        self.fine = np.linspace(self.grid[0], self.grid[-1], REFINE * (len(self.grid) - 1) + 1)
        self.to_fine = torch.tensor(interpolation_matrix(self.grid, self.fine), dtype=torch.float64)
        step = np.diff(self.fine)
        trapezoid = np.zeros(len(self.fine))
        trapezoid[:-1] += step / 2
        trapezoid[1:] += step / 2
        self.trapezoid = torch.tensor(trapezoid, dtype=torch.float64)

    def log_normalizer(self, decoded: torch.Tensor) -> torch.Tensor:
        """log of the integral over the grid of exp(decoded), (n,)."""
        fine = decoded.double() @ self.to_fine.T
        return torch.logsumexp(fine + self.trapezoid.log(), dim=1)

    def cdf(self, decoded: torch.Tensor, points: np.ndarray) -> np.ndarray:
        """The decoded distribution's CDF (one curve, (num_points,)) at points."""
        fine = (decoded.double()[None] @ self.to_fine.T)[0]
        pdf = (fine - self.log_normalizer(decoded[None])[0]).exp().numpy()
        cumulative = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(self.fine))])
        return np.interp(points, self.fine, cumulative / cumulative[-1])


def draw_weights(grid: np.ndarray, draws: np.ndarray, chunk: int = 100_000) -> torch.Tensor:
    """How much each grid point weighs in the draws' summed log-likelihood, (num_points,): the log-density is
    interpolated linearly between grid points, so the sum over the draws of its value at each draw is one dot
    product with these weights. Summed chunk by chunk, so that ten million draws need no more memory than
    a hundred thousand."""
    total = np.zeros(len(grid))
    for start in range(0, len(draws), chunk):
        total += interpolation_matrix(grid, draws[start : start + chunk]).sum(axis=0)
    return torch.tensor(total, dtype=torch.float64)


def censored_loglik(
    decoded: torch.Tensor, weights: torch.Tensor, inside: int, outside: int, log_mass: torch.Tensor
) -> torch.Tensor:
    """The log-likelihood (n,) of draws of which `inside` lie in the grid (their summed log-density is
    `decoded @ weights`) and `outside` beyond it, under decoded log-pdfs whose integral over the grid is
    exp(log_mass): the truncated likelihood of the inside draws, plus the binomial likelihood of the split."""
    mass = log_mass.exp().clamp(EDGE, 1 - EDGE)
    truncated = decoded @ weights - inside * log_mass
    return truncated + inside * mass.log() + outside * torch.log1p(-mass)


def fit_samples(model, samples: Samples, grid: np.ndarray, candidates: torch.Tensor) -> SampleFit:
    """The maximum-likelihood code of each target's draws (censored outside the grid), its Laplace covariance
    and a KS p-value of the inside draws against the decoded density truncated to the grid."""
    from scipy import stats
    from scipy.optimize import minimize

    density = DecodedDensity(grid)
    with torch.no_grad():
        candidate_curves = model.decode(candidates).double()
        normalizers = density.log_normalizer(candidate_curves)
    codes, loglik, covariances, p_values, evaluations = [], [], [], [], []
    for draws, out in zip(samples.draws, samples.outside):
        weights = draw_weights(density.grid, draws)  # (num_points,)
        m = len(draws)

        def negative_loglik(
            code: torch.Tensor, weights: torch.Tensor = weights, m: int = m, out: int = out
        ) -> torch.Tensor:
            decoded = model.decode(code[None].float()).double()
            return -censored_loglik(decoded, weights, m, out, density.log_normalizer(decoded))[0] / (m + out)

        start = candidates[int(censored_loglik(candidate_curves, weights, m, out, normalizers).argmax())]

        def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
            code = torch.tensor(z, dtype=torch.float64, requires_grad=True)
            with torch.enable_grad():
                value = negative_loglik(code)
                value.backward()
            return float(value.detach()), code.grad.numpy()

        result = minimize(objective, start.double().numpy(), jac=True, method="L-BFGS-B")
        code = torch.tensor(result.x, dtype=torch.float64)
        with torch.enable_grad():
            hessian = torch.autograd.functional.hessian(negative_loglik, code) * (m + out)
        ridge = 1e-12 * hessian.diagonal().abs().sum().clamp_min(1e-300)
        covariances.append(torch.linalg.inv(hessian + ridge * torch.eye(len(code), dtype=torch.float64)))
        codes.append(code.float())
        loglik.append(-float(result.fun))
        evaluations.append(int(result.nfev))
        with torch.no_grad():
            cdf = density.cdf(model.decode(code[None].float())[0], np.sort(draws))
        steps = np.arange(1, m + 1) / m
        distance = max(float(np.max(steps - cdf)), float(np.max(cdf - (steps - 1 / m))))
        p_values.append(float(stats.kstwo.sf(distance, m)))
    return SampleFit(
        torch.stack(codes), np.array(loglik), torch.stack(covariances), np.array(p_values), np.array(evaluations)
    )
