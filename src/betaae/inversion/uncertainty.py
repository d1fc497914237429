"""How uncertain an inversion's answer is: standard errors and intervals of the latent code and of the
family parameters.

For a curve observed with independent Gaussian noise of sd sigma at m points, the code that fits it best
has, to first order (Gauss-Newton, the Laplace approximation of the least-squares posterior), covariance
sigma^2 (J^T J)^-1, where J (m x latent_dims) is the Jacobian of the decoded curve at the observed points.
sigma is the given noise_sd, or estimated from the residual as RSS / (m - latent_dims), and the intervals
then use Student's t with m - latent_dims degrees of freedom. For samples, the covariance is the inverse
Hessian of the negative log-likelihood.

The family parameters are a function of the code (the parameters whose curve is nearest the decoded one),
so their covariance is G Cov(z) G^T with G = (J_t^T J_t)^-1 J_t^T J_f, where J_t is the Jacobian of the
family's curve with respect to its parameters and J_f that of the decoded curve with respect to the code,
both on the grid. Both are taken in each parameter's unconstrained coordinate (log alpha for alpha > 0),
where the approximation is closer to Gaussian; an interval is mapped back through the constraint, so it
stays inside it (alpha's is never negative). docs/inversion.md shows the coverage these intervals reach.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from betaae.families import Family
from betaae.inversion.methods import rowwise_jacobian
from betaae.inversion.observations import Observations

LEVELS = (0.68, 0.95)


def cdf(z: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """The CDF at z of Student's t with dof (broadcast), the normal where dof is infinite: quantile's inverse."""
    from scipy import stats

    return np.where(np.isinf(dof), stats.norm.cdf(z), stats.t.cdf(z, np.where(np.isinf(dof), 1.0, dof)))


def quantile(level: float, dof: np.ndarray) -> np.ndarray:
    """The two-sided quantile of a level: Student's t with dof, the normal where dof is infinite."""
    from scipy import stats

    p = 0.5 + level / 2
    return np.where(np.isinf(dof), stats.norm.ppf(p), stats.t.ppf(p, np.where(np.isinf(dof), 1.0, dof)))


def decoder_jacobian(model, codes: torch.Tensor, observations: Observations | None = None) -> torch.Tensor:
    """d(decoded curve)/d(code) for each code, (n, m, d): at the observed points (missing ones zeroed) if
    observations are given, else on the whole grid."""

    exact = copy.deepcopy(model).double()  # differences of float32 outputs would lose half their digits
    weights = None if observations is None or observations.weights is None else observations.weights.double()

    def decoded(batch: torch.Tensor) -> torch.Tensor:
        curves = exact.decode(batch)
        return curves if weights is None else curves @ weights.T

    with torch.no_grad():
        _, jacobian = rowwise_jacobian(decoded, codes, step=1e-4)
    if observations is not None:
        jacobian = jacobian * observations.mask[..., None]
    return jacobian.double()


def _inverse(matrix: torch.Tensor) -> torch.Tensor:
    """The inverse of each symmetric positive semi-definite matrix, with a ridge of 1e-12 of its trace so that
    a direction the data does not pin down gets a huge variance (and so a huge interval) instead of an error."""
    ridge = 1e-12 * matrix.diagonal(dim1=1, dim2=2).sum(dim=1).clamp_min(1e-300)
    return torch.linalg.inv(matrix + ridge[:, None, None] * torch.eye(matrix.shape[-1], dtype=matrix.dtype))


def code_covariance(
    model, codes: torch.Tensor, observations: Observations, residual: torch.Tensor, noise_sd: float | None
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """(Cov(code) (n, d, d), noise sd (n,), degrees of freedom (n,)) of a least-squares inversion."""
    jacobian = decoder_jacobian(model, codes, observations)
    d = codes.shape[1]
    m = observations.observed.double()
    dof = (m - d).clamp_min(1.0)
    if noise_sd is None:
        variance = residual.double() ** 2 / dof
        dofs = dof.numpy()
    else:
        variance = torch.full_like(m, float(noise_sd) ** 2)
        dofs = np.full(len(m), np.inf)
    information = jacobian.transpose(1, 2) @ jacobian
    return variance[:, None, None] * _inverse(information), variance.sqrt().numpy(), dofs


def intervals(center: np.ndarray, se: np.ndarray, dof: np.ndarray, levels=LEVELS) -> dict[float, np.ndarray]:
    """Symmetric intervals center ± t se, for each level, (n, p, 2)."""
    out = {}
    for level in levels:
        q = quantile(level, dof)[:, None]
        out[level] = np.stack([center - q * se, center + q * se], axis=-1)
    return out


@dataclass
class ParameterUncertainty:
    """The parameters' uncertainty, kept in their unconstrained coordinates so that any level can be asked."""

    family: Family
    free: np.ndarray  # (n, k) the parameters, unconstrained
    free_se: np.ndarray  # (n, k)
    dof: np.ndarray  # (n,)
    se: np.ndarray  # (n, k) in the parameters' own units, to first order

    def interval(self, level: float) -> np.ndarray:
        """(n, k, 2): each parameter's interval at `level`, mapped back onto its constraint."""
        box = intervals(self.free, self.free_se, self.dof, (level,))[level]
        mapped = [
            np.stack([c.from_unconstrained(torch.from_numpy(box[:, j, side])).numpy() for side in (0, 1)], axis=-1)
            for j, c in enumerate(p.constraint for p in self.family.parameters)
        ]
        return np.sort(np.stack(mapped, axis=1), axis=-1)


def parameter_uncertainty(
    family: Family,
    grid: torch.Tensor,
    params: torch.Tensor,
    model,
    codes: torch.Tensor,
    cov_codes: torch.Tensor,
    dof: np.ndarray,
) -> ParameterUncertainty:
    """The uncertainty of the parameters that best match each decoded curve (see the module docstring)."""
    constraints = [p.constraint for p in family.parameters]
    grid64 = grid.double()

    def to_params(free: torch.Tensor) -> torch.Tensor:
        return torch.stack([c.from_unconstrained(col) for c, col in zip(constraints, free.unbind(-1))], dim=-1)

    params64 = params.double()
    free = torch.stack([c.to_unconstrained(params64[:, j]) for j, c in enumerate(constraints)], dim=1)
    with torch.no_grad():
        _, j_theta = rowwise_jacobian(lambda f: family.log_pdf(grid64, to_params(f)), free)  # (n, num_points, k)
        _, slope = rowwise_jacobian(to_params, free)  # (n, k, k), diagonal: each parameter alone
    j_code = decoder_jacobian(model, codes)  # (n, num_points, d)
    gram = j_theta.transpose(1, 2) @ j_theta
    lift = torch.linalg.lstsq(gram, j_theta.transpose(1, 2) @ j_code).solution  # (n, k, d)
    cov_free = lift @ cov_codes @ lift.transpose(1, 2)
    se_free = cov_free.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt().numpy()
    slope = slope.diagonal(dim1=1, dim2=2).numpy()  # d theta / d free
    return ParameterUncertainty(family, free.numpy(), se_free, dof, np.abs(slope) * se_free)
