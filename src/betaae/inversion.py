"""Recover latent codes of target curves: Nelder-Mead per target (as in the notebook) or a batched
Adam optimizer over all targets at once, plus the family parameters that best match a decoded curve."""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from scipy.optimize import minimize

from betaae.families import Family
from betaae.model import AutoEncoder

METHODS = ("nelder-mead", "adam")
INITS = ("encoder", "zeros")


def start_codes(model: AutoEncoder, targets: torch.Tensor, init: str) -> torch.Tensor:
    """Starting latent codes, (n, latent_dims): the encoder's code of each target, or zeros."""
    with torch.no_grad():
        if init == "encoder":
            return model.encoder(targets)
        return torch.zeros(targets.shape[0], model.hparams.latent_dims)


def residuals(model: AutoEncoder, latent: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """L2 norm over the grid of decoded minus target log-pdf, (n,)."""
    with torch.no_grad():
        return torch.linalg.vector_norm(model.decoder(latent) - targets, dim=1)


def nelder_mead(model: AutoEncoder, targets: torch.Tensor, start: torch.Tensor, max_iter: int = 2000) -> dict:
    """scipy's Nelder-Mead on the decoder, one target at a time (the notebook's method)."""
    decoder = model.decoder
    latents, evaluations = [], []
    for target, z0 in zip(targets, start):
        target_np = target.numpy()

        def objective(z: np.ndarray, target_np: np.ndarray = target_np) -> float:
            with torch.no_grad():
                decoded = decoder(torch.from_numpy(z.astype(np.float32)))
            return float(np.linalg.norm(decoded.numpy() - target_np))

        result = minimize(
            objective,
            z0.double().numpy(),
            method="Nelder-Mead",
            options={"maxiter": max_iter, "xatol": 1e-5, "fatol": 1e-7},
        )
        latents.append(result.x)
        evaluations.append(result.nfev)
    return {"latent": torch.tensor(np.array(latents), dtype=torch.float32), "evaluations": evaluations}


def batched_adam(
    model: AutoEncoder, targets: torch.Tensor, start: torch.Tensor, steps: int = 300, lr: float = 0.05
) -> dict:
    """Adam on every target's code at once, with a cosine-decayed step; keeps each target's best code.

    The targets' objectives are independent, so the gradient of their sum is each one's own gradient.
    """
    decoder = model.decoder.requires_grad_(False)
    latent = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    best = start.clone()
    best_residual = torch.full((targets.shape[0],), math.inf)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        per_target = (decoder(latent) - targets).pow(2).sum(dim=1)
        with torch.no_grad():
            residual = per_target.sqrt()
            better = residual < best_residual
            best[better] = latent[better]
            best_residual = torch.where(better, residual, best_residual)
        per_target.sum().backward()
        optimizer.step()
        schedule.step()
    decoder.requires_grad_(True)
    return {"latent": best.detach(), "evaluations": [steps] * targets.shape[0]}


def invert(
    model: AutoEncoder, targets: torch.Tensor, method: str = "nelder-mead", init: str = "encoder", **options: float
) -> dict:
    """Latent codes for targets (n, num_points): codes, residuals, evaluations and seconds taken."""
    started = time.perf_counter()
    model = model.eval()
    start = start_codes(model, targets, init)
    if method == "nelder-mead":
        found = nelder_mead(model, targets, start, max_iter=int(options.get("max_iter", 2000)))
    elif method == "adam":
        found = batched_adam(
            model, targets, start, steps=int(options.get("steps", 300)), lr=float(options.get("lr", 0.05))
        )
    else:
        raise ValueError(f"unknown method {method!r}")
    found["residual"] = residuals(model, found["latent"], targets)
    found["seconds"] = time.perf_counter() - started
    return found


def fit_family(
    family: Family, grid: torch.Tensor, curves: torch.Tensor, low: torch.Tensor, high: torch.Tensor, steps: int = 200
) -> tuple[torch.Tensor, torch.Tensor]:
    """The family parameters whose log-pdf on the grid is nearest each curve: (params (n, 2), residual (n,)).

    A coarse grid search over a range somewhat wider than the training range finds a start for each
    curve, then Adam refines all of them at once (positive parameters are optimized in log space).
    """
    grid64 = grid.double()
    curves64 = curves.double()
    span = high - low
    lo, hi = low - 0.25 * span, high + 0.25 * span
    floors = torch.tensor(family.param_floor, dtype=torch.float64)
    positive = torch.isfinite(floors)
    lo = torch.where(positive, torch.maximum(lo, floors + 1e-3), lo)
    axes = [torch.linspace(float(a), float(b), 48, dtype=torch.float64) for a, b in zip(lo, hi)]
    candidates = torch.cartesian_prod(*axes)  # (48*48, 2)
    candidate_curves = family.log_pdf(grid64, candidates)
    nearest = torch.cdist(curves64, candidate_curves).argmin(dim=1)
    start = candidates[nearest]

    def to_params(free: torch.Tensor) -> torch.Tensor:
        return torch.where(positive, floors.clamp(min=0) + free.exp(), free)

    free = torch.where(positive, (start - floors.clamp(min=0)).log(), start).requires_grad_(True)
    optimizer = torch.optim.Adam([free], lr=0.02)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = (family.log_pdf(grid64, to_params(free)) - curves64).pow(2).sum(dim=1)
        loss.sum().backward()
        optimizer.step()
    with torch.no_grad():
        params = to_params(free)
        residual = torch.linalg.vector_norm(family.log_pdf(grid64, params) - curves64, dim=1)
    return params.float(), residual.float()
