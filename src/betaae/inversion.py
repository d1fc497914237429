"""Recover latent codes of target curves, and the family parameters that best match a decoded curve.

Each inversion method is one function registered in METHODS with its own options and their
constraints: it takes the model, the targets and the starting codes, and returns the codes it found
with the evaluations each took. invert() adds what every method shares (the start, the residuals,
the timing) and returns an Inversion. Built in: Nelder-Mead per target (the notebook's method) and
Adam on every target at once. See "Extending betaae" in the README for adding one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from betaae.constraints import Constraint, integer, positive
from betaae.families import Family
from betaae.model import CurveModel
from betaae.registry import Registry

INITS = ("encoder", "zeros")
MethodFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]
METHODS: Registry[MethodFn] = Registry("method")


def register_method(name: str, **options: Constraint) -> Callable[[MethodFn], MethodFn]:
    """Decorator: register `fn(model, targets, start, **options) -> (codes (n, latent), evaluations (n,))`
    as method `name`, with a constraint for each option (checked before the method runs)."""

    def add(fn: MethodFn) -> MethodFn:
        fn.options = options
        return METHODS.register(name)(fn)

    return add


@dataclass
class Inversion:
    """What an inversion found for n targets."""

    method: str
    codes: torch.Tensor  # (n, latent_dims)
    residual: torch.Tensor  # (n,): L2 norm over the grid of decoded minus target log-pdf
    evaluations: torch.Tensor  # (n,): decoder evaluations (Nelder-Mead) or optimizer steps (Adam)
    seconds: float


def start_codes(model: CurveModel, targets: torch.Tensor, init: str) -> torch.Tensor:
    """Starting latent codes, (n, latent_dims): the encoder's code of each target, or zeros."""
    with torch.no_grad():
        if init == "encoder":
            return model.encode(targets)
        return torch.zeros(targets.shape[0], model.latent_dims)


def residuals(model: CurveModel, codes: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """L2 norm over the grid of decoded minus target log-pdf, (n,)."""
    with torch.no_grad():
        return torch.linalg.vector_norm(model.decode(codes) - targets, dim=1)


@register_method("nelder-mead", max_iter=integer(1), xatol=positive, fatol=positive)
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
        target_np = target.numpy()

        def objective(z: np.ndarray, target_np: np.ndarray = target_np) -> float:
            with torch.no_grad():
                decoded = model.decode(torch.from_numpy(z.astype(np.float32))[None])[0]
            return float(np.linalg.norm(decoded.numpy() - target_np))

        options = {"maxiter": max_iter, "xatol": xatol, "fatol": fatol}
        result = minimize(objective, z0.double().numpy(), method="Nelder-Mead", options=options)
        codes.append(result.x)
        evaluations.append(result.nfev)
    return torch.tensor(np.array(codes), dtype=torch.float32), torch.tensor(evaluations)


@register_method("adam", steps=integer(1), lr=positive)
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


def invert(
    model: CurveModel, targets: torch.Tensor, method: str = "nelder-mead", init: str = "encoder", **options
) -> Inversion:
    """Latent codes for targets (n, num_points) by the named method, with its options."""
    started = time.perf_counter()
    model = model.eval()
    with torch.enable_grad():  # the batched methods differentiate through the decoder
        codes, evaluations = METHODS.get(method, "method")(model, targets, start_codes(model, targets, init), **options)
    return Inversion(method, codes, residuals(model, codes, targets), evaluations, time.perf_counter() - started)


def fit_family(
    family: Family,
    grid: torch.Tensor,
    curves: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    max_iter: int = 500,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The family parameters whose log-pdf on the grid is nearest each curve: (params (n, k), residual (n,)).

    A coarse grid search over a range somewhat wider than the training range finds a start for each
    curve, then scipy's L-BFGS-B refines all of them at once (their objectives are independent), each
    parameter optimized in an unconstrained space mapped onto its constraint, with gradients from autograd.
    No torch optimizer is built: the first one loads torch._dynamo, which would slow invert.py's start.
    """
    from scipy.optimize import minimize

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
    start = candidates[nearest]

    def to_params(free: torch.Tensor) -> torch.Tensor:
        return torch.stack([c.from_unconstrained(col) for c, col in zip(constraints, free.unbind(1))], dim=1)

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        free = torch.from_numpy(flat).view(start.shape).requires_grad_(True)
        with torch.enable_grad():
            loss = (family.log_pdf(grid64, to_params(free)) - curves64).pow(2).sum()
            loss.backward()
        return float(loss.detach()), free.grad.numpy().ravel()

    free0 = torch.stack([c.to_unconstrained(col) for c, col in zip(constraints, start.unbind(1))], dim=1)
    result = minimize(objective, free0.numpy().ravel(), jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    with torch.no_grad():
        params = to_params(torch.from_numpy(result.x).view(start.shape))
        residual = torch.linalg.vector_norm(family.log_pdf(grid64, params) - curves64, dim=1)
    return params.float(), residual.float()
