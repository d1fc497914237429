"""Recover latent codes of target curves, and the family parameters that best match a decoded curve.

Each inversion method is one function registered in METHODS with its own options and their constraints:
`fn(model, targets, start, **options) -> (codes, evaluations)`, where `model.decode(codes)` gives the
targets' predictions and `targets` the values to match, so that a method is written once for curves on
the model's grid. Targets observed elsewhere (their own x-values, missing points) reach a method the same
way: the model it gets decodes at the observed points, with missing points masked to zero on both sides.
A method that works one target at a time is registered with `per_target=True` and called per target.
invert() adds what every method shares (the start, the residuals, the timing) and returns an Inversion.
Built in: Nelder-Mead per target (the notebook's method) and Adam on every target at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from betaae.core.constraints import Constraint
from betaae.core.registry import Registry
from betaae.families import Family
from betaae.inversion.observations import Observations, on_grid
from betaae.inversion.options import METHOD_OPTIONS
from betaae.models.base import CurveModel

MethodFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]
METHODS: Registry[MethodFn] = Registry("method")


def register_method(name: str, per_target: bool = False, **options: Constraint) -> Callable[[MethodFn], MethodFn]:
    """Decorator: register `fn(model, targets, start, **options) -> (codes (n, latent), evaluations (n,))`
    as method `name`, with a constraint for each option (checked before the method runs)."""

    def add(fn: MethodFn) -> MethodFn:
        fn.options = options
        fn.per_target = per_target
        return METHODS.register(name)(fn)

    return add


class Observed(torch.nn.Module):
    """A model as an inversion method sees it: decoding to the targets' observed points, missing ones zeroed."""

    def __init__(self, model: CurveModel, observations: Observations, rows: slice = slice(None)) -> None:
        super().__init__()
        self.model, self.observations, self.rows = model, observations, rows
        self.latent_dims = model.latent_dims
        self.mask = observations.mask[rows]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.observations.at_observed(self.model.decode(codes)) * self.mask

    def encode(self, curves: torch.Tensor) -> torch.Tensor:
        return self.model.encode(curves)


@dataclass
class Inversion:
    """What an inversion found for n targets."""

    method: str
    codes: torch.Tensor  # (n, latent_dims)
    residual: torch.Tensor  # (n,): L2 norm, over the observed points, of decoded minus target log-pdf
    evaluations: torch.Tensor  # (n,): decoder evaluations (Nelder-Mead) or optimizer steps (Adam)
    seconds: float


def start_codes(model: CurveModel, observations: Observations, init: str) -> torch.Tensor:
    """Starting latent codes, (n, latent_dims): the encoder's code of each target (of the observed points
    joined up, for a target that is not a whole curve on the grid), or zeros."""
    with torch.no_grad():
        if init == "encoder":
            return model.encode(observations.on_grid())
        return torch.zeros(len(observations), model.latent_dims)


def residuals(model: CurveModel, codes: torch.Tensor, observations: Observations) -> torch.Tensor:
    """L2 norm over the observed points of decoded minus target log-pdf, (n,), in float64."""
    with torch.no_grad():
        return torch.linalg.vector_norm(observations.residual(model.decode(codes)), dim=1)


@register_method("nelder-mead", per_target=True, **METHOD_OPTIONS["nelder-mead"])
def nelder_mead(
    model: CurveModel,
    targets: torch.Tensor,
    start: torch.Tensor,
    max_iter: int = 2000,
    xatol: float = 1e-5,
    fatol: float = 1e-7,
) -> tuple[torch.Tensor, torch.Tensor]:
    """scipy's Nelder-Mead on the decoder, one target at a time (the notebook's method)."""
    from scipy.optimize import minimize

    codes, evaluations = [], []
    for target, z0 in zip(targets, start):
        target64 = target.double().numpy()

        def objective(z: np.ndarray, target64: np.ndarray = target64) -> float:
            with torch.no_grad():
                decoded = model.decode(torch.from_numpy(z.astype(np.float32))[None])[0]
            return float(np.linalg.norm(decoded.double().numpy() - target64))

        options = {"maxiter": max_iter, "xatol": xatol, "fatol": fatol}
        result = minimize(objective, z0.double().numpy(), method="Nelder-Mead", options=options)
        codes.append(result.x)
        evaluations.append(result.nfev)
    return torch.tensor(np.array(codes), dtype=torch.float32), torch.tensor(evaluations)


@register_method("adam", **METHOD_OPTIONS["adam"])
def adam(
    model: CurveModel, targets: torch.Tensor, start: torch.Tensor, steps: int = 300, lr: float = 0.05
) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on every target's code at once, with a cosine-decayed step; keeps each target's best code.

    The targets' objectives are independent, so the gradient of their sum is each one's own gradient.
    """
    codes = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([codes], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    best = start.clone()
    best_residual = torch.full((targets.shape[0],), math.inf)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        per_target = (model.decode(codes) - targets).pow(2).sum(dim=1)
        with torch.no_grad():
            residual = per_target.sqrt()
            better = residual < best_residual
            best[better] = codes[better]
            best_residual = torch.where(better, residual, best_residual)
        per_target.sum().backward()
        optimizer.step()
        schedule.step()
    return best.detach(), torch.full((targets.shape[0],), steps)


def find_codes(
    model: CurveModel,
    targets: torch.Tensor | Observations,
    method: str = "nelder-mead",
    init: str = "encoder",
    grid: torch.Tensor | None = None,
    **options,
) -> Inversion:
    """Latent codes for targets by the named method, with its options. Targets are whole curves on the
    model's grid, (n, num_points), or Observations (their own x-values, missing points)."""
    started = time.perf_counter()
    model = model.eval()
    if not isinstance(targets, Observations):
        targets = on_grid(targets, grid if grid is not None else torch.arange(targets.shape[1], dtype=torch.float64))
    fn = METHODS.get(method, "method")
    start = start_codes(model, targets, init)
    with torch.enable_grad():  # the batched methods differentiate through the decoder
        if targets.complete():
            codes, evaluations = fn(model, targets.values, start, **options)
        elif fn.per_target:
            found = [
                fn(Observed(model, targets, slice(i, i + 1)), targets.filled[i : i + 1], start[i : i + 1], **options)
                for i in range(len(targets))
            ]
            codes, evaluations = torch.cat([c for c, _ in found]), torch.cat([e for _, e in found])
        else:
            codes, evaluations = fn(Observed(model, targets), targets.filled, start, **options)
    return Inversion(method, codes, residuals(model, codes, targets), evaluations, time.perf_counter() - started)


def rowwise_jacobian(
    fn: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, step: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """fn(inputs) (n, m) and each row's Jacobian (n, m, k), in float64, for a function whose row i depends on
    input row i alone: central differences, two batched calls per input column. (Not forward-mode autograd
    or torch.func: their first use imports torch._dynamo and sympy, over a second of invert.py's start.)"""
    inputs = inputs.double()
    values = fn(inputs).double()
    columns = []
    for j in range(inputs.shape[1]):
        h = step * inputs[:, j].abs().clamp_min(1.0)
        up, down = inputs.clone(), inputs.clone()
        up[:, j] += h
        down[:, j] -= h
        columns.append((fn(up).double() - fn(down).double()) / (2 * h[:, None]))
    return values, torch.stack(columns, dim=-1)


def fit_family(
    family: Family,
    grid: torch.Tensor,
    curves: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    max_iter: int = 100,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The family parameters whose log-pdf on the grid is nearest each curve: (params (n, k), residual (n,)).

    A coarse grid search over a range somewhat wider than the training range finds a start for each curve,
    then Levenberg-Marquardt refines all of them at once (their least-squares problems are independent, so
    each gets its own damping and its own steps, batched), each parameter in an unconstrained coordinate
    mapped onto its constraint, with the Jacobian from autograd. A handful of steps reach float64 precision.
    """
    grid64, curves64 = grid.double(), curves.double()
    constraints = [p.constraint for p in family.parameters]
    span = high - low
    lo, hi = low - 0.25 * span, high + 0.25 * span
    per_axis = max(8, round(2304 ** (1 / len(constraints))))  # about 2,300 candidates whatever the count
    axes = [
        torch.linspace(*c.interior(float(a), float(b)), per_axis, dtype=torch.float64)
        for a, b, c in zip(lo, hi, constraints)
    ]
    candidates = torch.cartesian_prod(*axes).reshape(-1, len(constraints))
    nearest = torch.cdist(curves64, family.log_pdf(grid64, candidates)).argmin(dim=1)

    def to_params(free: torch.Tensor) -> torch.Tensor:
        return torch.stack([c.from_unconstrained(col) for c, col in zip(constraints, free.unbind(-1))], dim=-1)

    def curves_of(free: torch.Tensor) -> torch.Tensor:
        return family.log_pdf(grid64, to_params(free))

    def loss(free: torch.Tensor) -> torch.Tensor:
        return (family.log_pdf(grid64, to_params(free)) - curves64).pow(2).sum(dim=1)

    start = candidates[nearest]
    free = torch.stack([c.to_unconstrained(col) for c, col in zip(constraints, start.unbind(1))], dim=1)
    damping = torch.full((free.shape[0],), 1e-3, dtype=torch.float64)
    current = loss(free)
    eye = torch.eye(free.shape[1], dtype=torch.float64)
    active = torch.arange(free.shape[0])  # the curves still improving
    with torch.enable_grad():
        for _ in range(max_iter):
            target, point = curves64[active], free[active]
            values, jacobian = rowwise_jacobian(curves_of, point)  # (a, m), (a, m, k)
            residual = values - target
            gradient = (jacobian.transpose(1, 2) @ residual[..., None])[..., 0]
            normal = jacobian.transpose(1, 2) @ jacobian
            diagonal = normal.diagonal(dim1=1, dim2=2)[..., None] * eye + 1e-12 * eye
            step = torch.linalg.solve(normal + damping[active, None, None] * diagonal, -gradient)
            trial = point + step
            trial_loss = (family.log_pdf(grid64, to_params(trial)) - target).pow(2).sum(dim=1)
            better = torch.isfinite(trial_loss) & (trial_loss < current[active])
            gain = (current[active] - trial_loss) / current[active].clamp_min(1e-300)
            free[active] = torch.where(better[:, None], trial, point)
            current[active] = torch.where(better, trial_loss, current[active])
            damping[active] = torch.where(better, damping[active] / 3, damping[active] * 4).clamp(1e-12, 1e12)
            # A curve is done when a step gains almost nothing, or no step helps even with heavy damping.
            done = (better & (gain < 1e-12)) | (~better & (damping[active] > 1e8))
            active = active[~done]
            if len(active) == 0:
                break
    with torch.no_grad():
        params = to_params(free)
        residual = torch.linalg.vector_norm(family.log_pdf(grid64, params) - curves64, dim=1)
    return params, residual
