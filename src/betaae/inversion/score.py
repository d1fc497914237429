"""How well a trained model inverts its own family: the score every run reports at its end.

The targets are `targets` parameter rows drawn uniformly from the model's training ranges, from a seed of
their own (the data's test_seed, one stream for a val-like set and one for a test-like set), so every run of
a family is scored on the same targets whatever its seed. Each row is inverted clean, and with Gaussian noise
of each sd in `noise` added to its log-pdf (the sd given to the inversion, as a user who knows it would),
with the batched method and its Laplace intervals (betaae.inversion.uncertainty).

The figures, each as `val_inversion/<name>` (for choosing) and `test_inversion/<name>` (for reporting):
- `error_median`, `error_p90`: |fitted - true| as a share of the parameter's training range, over the
  targets whose fit succeeded (clean and noisy), per parameter and (unsuffixed) the worst parameter's;
- `coverage_68`, `coverage_95`: the share of true parameters inside their 68% and 95% intervals, noisy
  targets, pooled over the parameters;
- `calibration_gap`: the largest gap between nominal and empirical coverage over the levels 5%..95%.
  The Laplace posterior is a (Student's t) distribution in closed form, so the rank of the truth in it is
  its CDF at the truth: the probability integral transform, which is what SBC's rank histogram estimates
  with draws, here without sampling noise. A calibrated posterior puts it uniform, and every central
  interval then holds the truth as often as its level says; TARP's coverage test needs draws from a joint
  posterior and adds nothing for one known in closed form;
- `flagged`: the share of these in-family targets that the verdicts call not described (false alarms);
- `failed`: the share whose parameter fit failed (the decoded curve is far from every member of the family:
  no answer). The errors and coverages are over the others, so read them beside it: a model that fails
  often can look precise on the few it answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from betaae.families.sampling import split_seed
from betaae.inversion.api import Model, invert
from betaae.inversion.uncertainty import cdf

LEVELS = np.round(np.arange(0.05, 0.951, 0.05), 2)  # the nominal levels of the coverage curve
# The figures of a set that are not per parameter (the errors' worst parameter for the errors).
HEADLINE = ("error_median", "error_p90", "coverage_68", "coverage_95", "calibration_gap", "flagged", "failed")


@dataclass
class InversionScore:
    """The score of one target set (see the module docstring); `figures(prefix)` flattens it."""

    names: tuple[str, ...]
    targets: int  # parameter rows; each is inverted clean and at every noise level
    noise: tuple[float, ...]
    error_median: dict[str, float]
    error_p90: dict[str, float]
    coverage_68: float
    coverage_95: float
    coverage_curve: list[float]  # empirical coverage at each of `levels`
    levels: list[float]
    calibration_gap: float
    flagged: float
    failed: float
    seconds: float
    true: np.ndarray = field(repr=False)  # (targets x conditions, k), for the recovery figure
    fitted: np.ndarray = field(repr=False)
    noise_of: np.ndarray = field(repr=False)  # the noise sd of each row (0: clean)

    def figures(self, split: str) -> dict[str, float]:
        """Flat metrics `<split>_inversion/<figure>` (the errors' worst parameter, then each parameter's).

        Their own stage name keeps them apart from the SSE figures: TensorBoard groups scalars by it, and
        sorts HPARAMS columns by name (`test_inversion/` after every `test/`), so the SSE columns it ticks
        stay ticked."""
        stage = f"{split}_inversion/"
        out = {
            f"{stage}error_median": max(self.error_median.values()),
            f"{stage}error_p90": max(self.error_p90.values()),
            f"{stage}coverage_68": self.coverage_68,
            f"{stage}coverage_95": self.coverage_95,
            f"{stage}calibration_gap": self.calibration_gap,
            f"{stage}flagged": self.flagged,
            f"{stage}failed": self.failed,
        }
        for name in self.names:
            out[f"{stage}error_median_{name}"] = self.error_median[name]
            out[f"{stage}error_p90_{name}"] = self.error_p90[name]
        return out

    def line(self) -> str:
        """The console's one line."""
        errors = ", ".join(f"{n} {100 * self.error_median[n]:.2g}%/{100 * self.error_p90[n]:.2g}%" for n in self.names)
        return (
            f"error median/p90 of the range {errors}; 68% intervals hold {100 * self.coverage_68:.1f}%, 95% hold "
            f"{100 * self.coverage_95:.1f}% (largest gap {self.calibration_gap:.2f}); {100 * self.flagged:.1f}% "
            f"flagged, {100 * self.failed:.1f}% of fits failed ({self.targets:,} targets x {1 + len(self.noise)}, "
            f"{self.seconds:.1f} s)"
        )


def score_targets(model: Model, count: int, seed: int, split: str) -> np.ndarray:
    """`count` parameter rows drawn uniformly from the model's training ranges, from (seed, split) alone."""
    low, high = (b.numpy() for b in model.bounds)
    rng = np.random.default_rng(split_seed(seed, f"inversion_{split}"))
    return low + (high - low) * (1 - rng.random((count, len(low))))  # (low, high]: no row on an open edge


def pit(result, true: np.ndarray) -> np.ndarray:
    """(n, k): the CDF of each parameter's posterior (its Laplace t-distribution, unconstrained) at the truth."""
    unc = result.parameter_uncertainty
    constraints = [p.constraint for p in unc.family.parameters]
    free_true = np.stack(
        [c.to_unconstrained(torch.from_numpy(true[:, j]).double()).numpy() for j, c in enumerate(constraints)], axis=1
    )
    return cdf((free_true - unc.free) / unc.free_se, unc.dof[:, None])


def coverage_curve(u: np.ndarray, levels=LEVELS) -> np.ndarray:
    """Empirical coverage of the central interval at each level, from PIT values (any shape, NaN left out)."""
    u = u[np.isfinite(u)]
    distance = np.abs(2 * u - 1)
    return np.array([(distance <= level).mean() for level in levels])


def score(model: Model, count: int, noise: tuple[float, ...], seed: int, split: str) -> InversionScore:
    """The inversion score of `model` on its `split` ("val" or "test") target set."""
    started = time.perf_counter()
    names = tuple(model.family.param_names)
    rows = score_targets(model, count, seed, split)
    clean = model.curves(rows)
    rng = np.random.default_rng(split_seed(seed, f"inversion_{split}", epoch=1))
    true, fitted, ok, described, sds, pits = [], [], [], [], [], []
    for sd in (0.0, *noise):
        curves = clean + rng.normal(0.0, sd, clean.shape) if sd else clean
        result = invert(model, curves, noise_sd=sd if sd else None, method="adam")
        true.append(rows)
        fitted.append(result.params)
        ok.append(result.fit_ok)
        described.append(result.described)
        sds.append(np.full(count, sd))
        if sd:  # coverage is judged where the noise is known: clean targets have none to be uncertain about
            u = pit(result, rows)
            pits.append(np.where(result.fit_ok[:, None], u, np.nan))
    true, fitted, ok = np.concatenate(true), np.concatenate(fitted), np.concatenate(ok)
    described, sds = np.concatenate(described), np.concatenate(sds)
    low, high = (b.numpy() for b in model.bounds)
    error = np.abs(fitted - true)[ok] / (high - low)
    ranks = np.concatenate(pits)
    curve = coverage_curve(ranks)
    at = {level: coverage_curve(ranks, (level,))[0] for level in (0.68, 0.95)}
    return InversionScore(
        names=names,
        targets=count,
        noise=tuple(noise),
        error_median={n: _quantile(error[:, j], 0.5) for j, n in enumerate(names)},
        error_p90={n: _quantile(error[:, j], 0.9) for j, n in enumerate(names)},
        coverage_68=float(at[0.68]),
        coverage_95=float(at[0.95]),
        coverage_curve=curve.tolist(),
        levels=LEVELS.tolist(),
        calibration_gap=float(np.max(np.abs(curve - LEVELS))),
        flagged=float((~described).mean()),
        failed=float((~ok).mean()),
        seconds=time.perf_counter() - started,
        true=true,
        fitted=fitted,
        noise_of=sds,
    )


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if len(values) else float("nan")
