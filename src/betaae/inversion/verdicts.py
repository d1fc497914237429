"""Whether an inversion's answer can be trusted: how a target's misfit compares with the model's own family.

At the end of training, the model's own family is inverted: REFERENCE_CURVES held-out curves from the
training ranges (importance-sampled like the test set, so the quantiles are those of the uniform draw),
each by the batched method. The quantiles of three figures are stored in the checkpoint (`reference`):
- rms: the root-mean-square residual per observed point, decoded against target;
- misfit: the residual's smooth part per point, sum(r_i r_{i+1}) / (m - 1). White noise adds nothing to it
  on average, while a target the model cannot describe leaves a smooth, strongly correlated residual, so it
  tells a noisy in-family target from a clean out-of-family one without knowing the noise;
- fit: the rms distance per point from the decoded curve to the nearest curve of the family.
A target is described by the model when its misfit is no more than the reference's 99th percentile, plus
three standard errors of the noise's share of it; a parameter fit is good when its fit figure is no more
than the reference's 99th percentile (so about 1% of in-family targets are flagged, by construction), and
no limit is below FLOOR per point, where a difference is rounding.
A checkpoint without a reference (made by an earlier betaae) gets one computed when it is first inverted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from betaae.models.scoring import weighted_quantile

REFERENCE_CURVES = 1_000
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999)
FLAG_AT = 0.99
MARGIN_SE = 3.0
# No limit is set below this, per point: differences of float32 curves this small are rounding, not misfit.
FLOOR = 1e-4


def ordinal(value: float) -> str:
    """53 -> '53rd', 11 -> '11th', 0.4 -> '0th'."""
    n = round(value)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def smooth_misfit(residual: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum(r_i r_{i+1}) / (pairs) over adjacent observed points, per target: the residual's smooth part
    per point (white noise contributes nothing to it on average). (n, m) residuals -> (n,)."""
    both = mask[:, 1:] * mask[:, :-1]
    pairs = both.sum(dim=1).clamp_min(1.0)
    return (residual[:, 1:] * residual[:, :-1] * both).sum(dim=1) / pairs


@dataclass
class Reference:
    """Quantiles of the inversion figures of a model's own, clean, held-out curves."""

    rms: dict[float, float]
    misfit: dict[float, float]
    fit: dict[float, float]
    curves: int
    method: str

    def to_dict(self) -> dict:
        def plain(quantiles: dict[float, float]) -> dict[str, float]:
            return {f"{q:g}": float(v) for q, v in quantiles.items()}

        return {
            "rms": plain(self.rms),
            "misfit": plain(self.misfit),
            "fit": plain(self.fit),
            "curves": self.curves,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Reference:
        def read(quantiles: dict) -> dict[float, float]:
            return {float(q): float(v) for q, v in quantiles.items()}

        return cls(read(data["rms"]), read(data["misfit"]), read(data["fit"]), int(data["curves"]), data["method"])

    def percentile(self, value: float, figure: str = "rms") -> float:
        """Where `value` falls among the reference's, in percent (0-100, interpolated between quantiles)."""
        quantiles = getattr(self, figure)
        qs = sorted(quantiles)
        values = [quantiles[q] for q in qs]
        return float(100 * np.interp(value, values, qs, left=0.0, right=1.0))


def compute_reference(
    model, family, grid: torch.Tensor, low: torch.Tensor, high: torch.Tensor, seed: int = 0
) -> Reference:
    """Invert REFERENCE_CURVES of the family's own held-out curves and keep the quantiles of their figures."""
    from betaae.families.sampling import edge_parameters, sample_scoring_params, split_seed
    from betaae.inversion.methods import find_codes, fit_family

    generator = torch.Generator().manual_seed(split_seed(seed, "reference"))
    params, weights = sample_scoring_params(low, high, edge_parameters(family, low), REFERENCE_CURVES, generator)
    curves = family.log_pdf(grid.double(), params).float()
    found = find_codes(model, curves, "adam", grid=grid)
    with torch.no_grad():
        decoded = model.decode(found.codes)
    residual = (decoded - curves).double()
    m = curves.shape[1]
    rms = torch.linalg.vector_norm(residual, dim=1) / math.sqrt(m)
    misfit = smooth_misfit(residual, torch.ones_like(residual))
    _, fit_residual = fit_family(family, grid, decoded, low, high)
    fit = fit_residual / math.sqrt(m)
    w = weights.numpy()

    def quantiles(values: torch.Tensor) -> dict[float, float]:
        return {q: weighted_quantile(values.numpy(), w, q) for q in QUANTILES}

    return Reference(quantiles(rms), quantiles(misfit), quantiles(fit), REFERENCE_CURVES, "adam")


@dataclass
class Verdict:
    """Whether one target is described by the model, and what to tell the user."""

    described: bool
    percentile: float  # of its rms residual among the reference's
    ratio: float  # its rms residual over the reference's median
    text: str


def judge_fit(
    rms: np.ndarray,
    misfit: np.ndarray,
    noise: np.ndarray,
    pairs: np.ndarray,
    reference: Reference,
    family: str,
    noise_given: bool,
) -> list[Verdict]:
    """A verdict for each target from its rms residual per point, its smooth misfit per point, its noise sd
    (given or estimated) and its number of adjacent observed pairs."""
    limit = max(reference.misfit[FLAG_AT], FLOOR**2)
    typical = max(reference.rms[0.5], FLOOR)
    verdicts = []
    for r, s, sd, k in zip(rms, misfit, noise, pairs):
        margin = MARGIN_SE * sd**2 / math.sqrt(max(k, 1.0))
        described = bool(s <= limit + margin)
        ratio = float(r / typical) if typical > 0 else math.inf
        percentile = reference.percentile(float(r))
        if not described:
            text = (
                f"the target is not well described by this model; its residual, {r:.3g} per point, is "
                f"{ratio:,.0f}x the typical {typical:.2g} of the {family} family's own curves, and smooth "
                f"(not noise)"
            )
        elif r > reference.rms[FLAG_AT]:
            how = "the given" if noise_given else "an estimated"
            text = f"described up to noise: residual {r:.3g} per point, {how} noise sd of {sd:.3g}"
        else:
            text = (
                f"described: residual {r:.3g} per point, at the {ordinal(percentile)} percentile of the family's curves"
            )
        verdicts.append(Verdict(described, percentile, ratio, text))
    return verdicts


def judge_parameters(fit_rms: np.ndarray, reference: Reference, family: str) -> list[tuple[bool, str]]:
    """For each target, whether its best-matching parameters are a good fit of the decoded curve."""
    limit = max(reference.fit[FLAG_AT], FLOOR)
    out = []
    for value in fit_rms:
        if value <= limit:
            out.append((True, f"the {family} curve of these parameters is {value:.2g} per point from the decoded one"))
        else:
            out.append(
                (
                    False,
                    f"failed: the nearest {family} curve is {value:.2g} per point from the decoded one (the "
                    f"family's own curves: 99% within {limit:.2g}); these parameters are not an answer",
                )
            )
    return out
