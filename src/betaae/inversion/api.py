"""The public Python API: load a checkpoint, then encode, decode and invert curves, samples or parameters.

    from betaae import load_model, invert
    model = load_model("outputs/train/runs/<run>")          # a run directory or a .ckpt file
    result = invert(model, params=[[2.0, 4.0]])              # or curves=..., x=..., samples=..., noise_sd=...
    result.params, result.param_intervals[0.95], result.described, result.verdicts

Everything returned is numpy; nothing here imports Lightning.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from betaae.core.errors import TargetError
from betaae.families import Family
from betaae.inversion.methods import find_codes, fit_family
from betaae.inversion.observations import Observations, Samples, observe, sampled
from betaae.inversion.options import NOISE_SD
from betaae.inversion.uncertainty import LEVELS, ParameterUncertainty, code_covariance, intervals, parameter_uncertainty
from betaae.inversion.verdicts import Reference, compute_reference, judge_fit, judge_parameters, smooth_misfit
from betaae.models.checkpoints import Checkpointed, rebuild

__all__ = ["InversionResult", "Model", "invert", "load_model"]

NOT_AN_ESTIMATE = "the nearest member of the family to a target the model does not describe: not an estimate"


class Model:
    """A trained model and what it was trained on: its family, grid and parameter ranges."""

    def __init__(self, loaded: Checkpointed) -> None:
        self.loaded = loaded
        self.path = loaded.path

    @property
    def family(self) -> Family:
        return self.loaded.family

    @property
    def grid(self) -> np.ndarray:
        return self.loaded.grid.double().numpy()

    @property
    def ranges(self) -> dict[str, list[float]]:
        return self.loaded.ranges

    @property
    def latent_dims(self) -> int:
        return self.loaded.model.latent_dims

    @property
    def module(self):
        """The torch module itself (eval mode, on the CPU)."""
        return self.loaded.model

    @cached_property
    def reference(self) -> Reference:
        """How well the model inverts its own family's held-out curves (stored in the checkpoint at the end of
        training; computed now, once, for a checkpoint of an earlier betaae)."""
        if self.loaded.reference is not None:
            return Reference.from_dict(self.loaded.reference)
        low, high = self.bounds
        return compute_reference(self.module, self.family, self.loaded.grid, low, high)

    @property
    def bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        names = self.family.param_names
        low = torch.tensor([self.ranges[n][0] for n in names], dtype=torch.float64)
        high = torch.tensor([self.ranges[n][1] for n in names], dtype=torch.float64)
        return low, high

    def curves(self, params) -> np.ndarray:
        """The family's log-pdf on the model's grid for parameter rows (n, k)."""
        params = _rows(params, len(self.family.parameters), "params")
        return self.family.log_pdf(self.loaded.grid.double(), torch.tensor(params)).numpy()

    def encode(self, curves) -> np.ndarray:
        """Latent codes (n, latent_dims) of log-pdf rows on the model's grid (n, num_points)."""
        rows = _rows(curves, len(self.loaded.grid), "curves")
        with torch.no_grad():
            return self.module.encode(torch.as_tensor(rows, dtype=torch.float32)).double().numpy()

    def decode(self, codes) -> np.ndarray:
        """Log-pdf rows on the model's grid (n, num_points) of latent codes (n, latent_dims)."""
        rows = _rows(codes, self.latent_dims, "codes")
        with torch.no_grad():
            return self.module.decode(torch.as_tensor(rows, dtype=torch.float32)).double().numpy()

    def invert(self, **kwargs) -> InversionResult:
        return invert(self, **kwargs)

    def __repr__(self) -> str:
        return f"Model({type(self.module).__name__}, {self.family.name}, latent_dims={self.latent_dims}, {self.path})"


def load_model(path: str | Path) -> Model:
    """A model from a checkpoint file, or from a run directory (its checkpoints/best.ckpt)."""
    return Model(rebuild(path))


@dataclass
class InversionResult:
    """What an inversion found for n targets; every array has one row per target."""

    kind: str  # curves, params or samples
    method: str
    names: tuple[str, ...]
    codes: np.ndarray  # (n, d)
    code_se: np.ndarray  # (n, d)
    code_intervals: dict[float, np.ndarray]  # level -> (n, d, 2)
    noise_sd: np.ndarray  # (n,) given, or estimated from the residual (curves) / nan (samples)
    noise_estimated: bool
    described: np.ndarray  # (n,) bool: the model describes the target (betaae.inversion.verdicts)
    verdicts: list[str]
    seconds: float
    residual_decoded_vs_target: np.ndarray | None = None  # (n,) L2 over the observed points (curves)
    rms_decoded_vs_target: np.ndarray | None = None  # (n,) per observed point
    percentile: np.ndarray | None = None  # (n,) of the rms among the family's own curves
    observed_points: np.ndarray | None = None  # (n,)
    evaluations: np.ndarray | None = None
    params: np.ndarray | None = None  # (n, k) the family parameters nearest each decoded curve
    param_se: np.ndarray | None = None
    param_intervals: dict[float, np.ndarray] | None = None
    residual_family_vs_decoded: np.ndarray | None = None  # (n,) L2 over the grid
    residual_family_vs_target: np.ndarray | None = None  # (n,) L2 over the observed points (curves)
    fit_ok: np.ndarray | None = None  # (n,) bool: the parameters are a good fit of the decoded curve
    fit_verdicts: list[str] | None = None
    true_params: np.ndarray | None = None  # (n, k) when the targets were given by their parameters
    log_likelihood: np.ndarray | None = None  # (n,) per draw (samples)
    ks_p_value: np.ndarray | None = None  # (n,) (samples)
    draws: np.ndarray | None = None  # (n,) draws inside the grid (samples)
    draws_outside: np.ndarray | None = None
    parameter_uncertainty: ParameterUncertainty | None = None  # intervals at any level: .interval(level)

    def __len__(self) -> int:
        return len(self.codes)

    def rows(self) -> list[dict[str, Any]]:
        """One flat record per target, for a CSV or JSON file."""
        rows = []
        for i in range(len(self)):
            row: dict[str, Any] = {"target": i}
            for j in range(self.codes.shape[1]):
                row[f"z_{j + 1}"] = float(self.codes[i, j])
                row[f"z_{j + 1}_se"] = float(self.code_se[i, j])
                for level, box in self.code_intervals.items():
                    row[f"z_{j + 1}_{level:.0%}_low"], row[f"z_{j + 1}_{level:.0%}_high"] = map(float, box[i, j])
            for key in (
                "residual_decoded_vs_target",
                "rms_decoded_vs_target",
                "percentile",
                "observed_points",
                "evaluations",
                "log_likelihood",
                "ks_p_value",
                "draws",
                "draws_outside",
            ):
                value = getattr(self, key)
                if value is not None:
                    row[key] = value[i].item()
            row["noise_sd"] = float(self.noise_sd[i])
            row["noise_sd_estimated"] = self.noise_estimated
            row["described"] = bool(self.described[i])
            row["verdict"] = self.verdicts[i]
            if self.params is not None:
                for j, name in enumerate(self.names):
                    row[f"fit_{name}"] = float(self.params[i, j])
                    row[f"fit_{name}_se"] = float(self.param_se[i, j])
                    for level, box in self.param_intervals.items():
                        row[f"fit_{name}_{level:.0%}_low"], row[f"fit_{name}_{level:.0%}_high"] = map(float, box[i, j])
                row["residual_family_vs_decoded"] = float(self.residual_family_vs_decoded[i])
                if self.residual_family_vs_target is not None:
                    row["residual_family_vs_target"] = float(self.residual_family_vs_target[i])
                # A family member matched to a target the model does not describe is not an answer.
                row["fit_ok"] = bool(self.fit_ok[i] and self.described[i])
                row["fit_verdict"] = self.fit_verdicts[i] if self.described[i] else NOT_AN_ESTIMATE
            if self.true_params is not None:
                for j, name in enumerate(self.names):
                    row[f"true_{name}"] = float(self.true_params[i, j])
                    if self.params is not None:
                        row[f"error_{name}"] = float(self.params[i, j] - self.true_params[i, j])
            rows.append(row)
        return rows


def _rows(values, width: int | None, what: str) -> np.ndarray:
    """A 2-D float64 table of target rows, or one TargetError naming the argument and what is allowed (never a
    raw numpy or torch error, and never a silent cast of complex values)."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        raw = np.asarray(values)
    except ValueError:
        raw = None
    if raw is None or raw.dtype == object:
        raise TargetError(f"{what}: rows of unequal length (ragged); give a 2-D table of numbers, NaN for a gap")
    if np.iscomplexobj(raw):
        raise TargetError(f"{what}: holds complex numbers; values must be real")
    if raw.dtype.kind not in "biuf":
        raise TargetError(f"{what}: holds {raw.dtype} values; values must be numbers")
    array = raw.astype(np.float64)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] == 0:
        raise TargetError(f"{what}: must be a 2-D table of rows, got shape {array.shape}")
    if width is not None and array.shape[1] != width:
        raise TargetError(f"{what}: rows need {width} values, got {array.shape[1]}")
    return array


def _candidates(model: Model, per_axis: int = 16) -> torch.Tensor:
    """Codes to start a samples fit from: the encoder's codes of the family's curves on a lattice over the
    training ranges (logarithmic toward a degenerate end)."""
    from betaae.families.sampling import edge_parameters

    low, high = model.bounds
    edges = edge_parameters(model.family, low)
    axes = []
    for lo, hi, edge in zip(low.tolist(), high.tolist(), edges.tolist()):
        if edge:
            axes.append(torch.tensor(lo + (hi - lo) * np.logspace(-6, 0, per_axis)))
        else:
            axes.append(torch.linspace(lo + 1e-3 * (hi - lo), hi, per_axis, dtype=torch.float64))
    lattice = torch.cartesian_prod(*axes).reshape(-1, len(axes))
    curves = model.family.log_pdf(model.loaded.grid.double(), lattice).float()
    finite = torch.isfinite(curves).all(dim=1)
    with torch.no_grad():
        return model.module.encode(curves[finite])


def invert(
    model: Model,
    curves=None,
    *,
    params=None,
    samples=None,
    x=None,
    noise_sd: float | None = None,
    method: str = "nelder-mead",
    init: str = "encoder",
    fit_params: bool = True,
    **options,
) -> InversionResult:
    """Invert targets given one of three ways, and judge and bound every answer.

    - `curves`: log-pdf rows (n, m), on the model's grid or at `x` (m values inside the grid); NaN marks a
      missing point.
    - `params`: parameter rows (n, k) of the family: their curves on the grid are the targets.
    - `samples`: i.i.d. draws of an unknown member of the family, one array (or row) per target.

    `noise_sd` is the sd of the noise on the log-pdf values, if known; else it is estimated from the
    residual. `method` and its `options` are an inversion method's (betaae.inversion.methods.METHODS). `curves` may
    also be targets already checked by betaae.inversion.observations.observe (invert.py's, named as the user gave them).
    """
    given = sum(v is not None for v in (curves, params, samples))
    if given != 1:
        raise TargetError("give exactly one of curves=, params= or samples=")
    if noise_sd is not None:
        value = float(noise_sd) if isinstance(noise_sd, (int, float, np.integer, np.floating)) else None
        if isinstance(noise_sd, bool) or value is None or not NOISE_SD.check(value):
            raise TargetError(f"noise_sd={noise_sd!r} is not allowed: {NOISE_SD.text}")
        noise_sd = value
    if samples is not None:
        return _invert_samples(model, samples, fit_params)
    true_params = None
    if params is not None:
        true_params = _rows(params, len(model.family.parameters), "params")
        for column, parameter in enumerate(model.family.parameters):
            for row, value in enumerate(true_params[:, column]):
                if not parameter.constraint.check(float(value)):
                    raise TargetError(
                        f"params: row {row}: {parameter.name}={value:g} is not allowed: {parameter.constraint}"
                    )
        curves, x = model.curves(true_params), None
    if isinstance(curves, Observations):
        observations = curves
    else:
        observations = observe(_rows(curves, None, "curves"), model.grid, x, "curves", min_points=model.latent_dims + 2)
    return _invert_curves(model, observations, noise_sd, method, init, fit_params, true_params, options)


def _invert_curves(
    model: Model,
    observations: Observations,
    noise_sd: float | None,
    method: str,
    init: str,
    fit_params: bool,
    true_params: np.ndarray | None,
    options: dict,
) -> InversionResult:
    started = time.perf_counter()
    module, reference = model.module, model.reference
    found = find_codes(module, observations, method, init, **options)
    cov, noise, dof = code_covariance(module, found.codes, observations, found.residual, noise_sd)
    code_se = cov.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt().numpy()
    codes = found.codes.double().numpy()
    with torch.no_grad():
        decoded = module.decode(found.codes)
    mask = observations.mask.double()
    residual = observations.residual(decoded)
    m = mask.sum(dim=1)
    rms = (found.residual / m.sqrt()).numpy()
    misfit = smooth_misfit(residual, mask).numpy()
    pairs = (mask[:, 1:] * mask[:, :-1]).sum(dim=1).numpy()
    # The intervals take the whole residual as noise (the textbook estimate, RSS / (m - d), which a misfit
    # only widens); the verdict's margin takes only its part that is not smooth, the white noise.
    white = noise if noise_sd is not None else np.sqrt(np.maximum(rms**2 - np.maximum(misfit, 0.0), 0.0))
    verdicts = judge_fit(rms, misfit, white, pairs, reference, model.family.label, noise_sd is not None)
    result = InversionResult(
        kind="params" if true_params is not None else "curves",
        method=found.method,
        names=model.family.param_names,
        codes=codes,
        code_se=code_se,
        code_intervals=intervals(codes, code_se, dof),
        noise_sd=noise,
        noise_estimated=noise_sd is None,
        described=np.array([v.described for v in verdicts]),
        verdicts=[v.text for v in verdicts],
        seconds=0.0,
        residual_decoded_vs_target=found.residual.numpy(),
        rms_decoded_vs_target=rms,
        percentile=np.array([v.percentile for v in verdicts]),
        observed_points=m.numpy().astype(int),
        evaluations=found.evaluations.numpy(),
        true_params=true_params,
    )
    if fit_params:
        _fit_parameters(model, result, decoded, found.codes, cov, dof, observations)
    result.seconds = time.perf_counter() - started
    return result


def _fit_parameters(model, result, decoded, codes, cov, dof, observations: Observations | None) -> None:
    """The family parameters nearest each decoded curve, their uncertainty, and whether they fit."""
    low, high = model.bounds
    fitted, to_decoded = fit_family(model.family, model.loaded.grid, decoded, low, high)
    uncertainty = parameter_uncertainty(model.family, model.loaded.grid, fitted, model.module, codes, cov, dof)
    rms_fit = (to_decoded / math.sqrt(decoded.shape[1])).numpy()
    judged = judge_parameters(rms_fit, model.reference, model.family.label)
    result.params, result.param_se = fitted.numpy(), uncertainty.se
    result.param_intervals = {level: uncertainty.interval(level) for level in LEVELS}
    result.parameter_uncertainty = uncertainty
    result.residual_family_vs_decoded = to_decoded.numpy()
    result.fit_ok = np.array([ok for ok, _ in judged])
    result.fit_verdicts = [text for _, text in judged]
    if observations is not None:
        family_curves = model.family.log_pdf(model.loaded.grid.double(), fitted).float()
        difference = observations.residual(family_curves)
        result.residual_family_vs_target = torch.linalg.vector_norm(difference, dim=1).numpy()


def _invert_samples(model: Model, samples, fit_params: bool) -> InversionResult:
    from betaae.inversion.samples import fit_samples

    started = time.perf_counter()
    if isinstance(samples, Samples):
        draws = samples
    else:
        if isinstance(samples, torch.Tensor):
            samples = samples.detach().cpu().numpy()
        one = (isinstance(samples, np.ndarray) and samples.ndim == 1) or all(np.isscalar(v) for v in samples)
        rows = [_rows(r, None, "samples")[0] for r in ([samples] if one else samples)]
        draws = sampled(rows, model.grid, model.family.support, "samples")
    fitted = fit_samples(model.module, draws, model.grid, _candidates(model))
    code_se = fitted.covariance.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt().numpy()
    codes = fitted.codes.double().numpy()
    dof = np.full(len(codes), np.inf)
    described = fitted.ks_p_value >= 0.01
    verdicts = [
        (
            f"described: the draws fit the decoded density (Kolmogorov-Smirnov p = {p:.2g})"
            if ok
            else f"the samples are not well described by this model (Kolmogorov-Smirnov p = {p:.2g} < 0.01)"
        )
        for p, ok in zip(fitted.ks_p_value, described)
    ]
    result = InversionResult(
        kind="samples",
        method="maximum likelihood (L-BFGS)",
        names=model.family.param_names,
        codes=codes,
        code_se=code_se,
        code_intervals=intervals(codes, code_se, dof),
        noise_sd=np.full(len(codes), np.nan),
        noise_estimated=False,
        described=described,
        verdicts=verdicts,
        seconds=0.0,
        evaluations=fitted.evaluations,
        log_likelihood=fitted.log_likelihood,
        ks_p_value=fitted.ks_p_value,
        draws=np.array([len(d) for d in draws.draws]),
        draws_outside=np.array(draws.outside),
    )
    if fit_params:
        with torch.no_grad():
            decoded = model.module.decode(fitted.codes)
        _fit_parameters(model, result, decoded, fitted.codes, fitted.covariance, dof, None)
    result.seconds = time.perf_counter() - started
    return result
