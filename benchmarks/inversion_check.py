"""How far an inversion's answers can be trusted, measured on a trained checkpoint:
`python benchmarks/inversion_check.py CKPT [--out docs] [--targets 500]`.

(a) calibration: noisy targets with known parameters (noise sd 0.05 and 0.2 on the log-pdf), drawn from
    the checkpoint's training ranges; the share of true parameters inside the 68% and 95% intervals, at
    every nominal level (docs/coverage.png), and true against recovered parameters (docs/recovery.png);
(b) verdicts: targets outside the family (a mixture of two Betas, a truncated normal, a uniform on part
    of the grid, a triangular density) against in-family targets from the training ranges;
(c) samples: 1,000 draws per target, parameter errors against scipy.stats.<family>.fit on the same draws;
(d) speed: 1,000 targets with intervals, batched method.
Writes inversion_check.json beside the figures and prints a table.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
from scipy import stats

from betaae.core.files import save_figure, write_json
from betaae.inversion.api import invert, load_model
from betaae.inversion.score import coverage_curve, pit

NOISE = (0.05, 0.2)
NOMINAL = np.linspace(0.05, 0.99, 20)


def in_family(model, count: int, seed: int) -> np.ndarray:
    """Parameter rows drawn uniformly from the checkpoint's training ranges."""
    rng = np.random.default_rng(seed)
    names = model.family.param_names
    low = np.array([model.ranges[n][0] for n in names])
    high = np.array([model.ranges[n][1] for n in names])
    return low + (high - low) * (1 - rng.random((count, len(names))))


def coverage(result, true: np.ndarray, level: float) -> np.ndarray:
    """Share of true parameters inside their intervals at a level, per parameter (good fits only), from the
    ranks of the truth in the posterior, as every run's inversion score computes it (betaae.inversion.score)."""
    ranks = pit(result, true)[result.fit_ok]
    return np.array([coverage_curve(ranks[:, j], (level,))[0] for j in range(ranks.shape[1])])


def calibration(model, count: int) -> dict:
    out = {}
    for sd in NOISE:
        true = in_family(model, count, seed=int(sd * 1000))
        curves = model.curves(true)
        noisy = curves + np.random.default_rng(7).normal(0, sd, curves.shape)
        for given in (True, False):
            result = invert(model, noisy, noise_sd=sd if given else None, method="adam")
            key = f"sd={sd}, noise {'given' if given else 'estimated'}"
            out[key] = {
                "targets": count,
                "failed_fits": int((~result.fit_ok).sum()),
                "coverage_68": coverage(result, true, 0.68).tolist(),
                "coverage_95": coverage(result, true, 0.95).tolist(),
                "curve": [coverage(result, true, float(level)).mean() for level in NOMINAL],
                "median_abs_error": np.median(np.abs(result.params - true)[result.fit_ok], axis=0).tolist(),
                "_result": result,
                "_true": true,
            }
    return out


def out_of_family(grid: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """log-pdfs of densities the Beta family cannot take, each with the x-values where it is positive."""
    mixture = np.log(0.5 * stats.beta(2, 10).pdf(grid) + 0.5 * stats.beta(10, 2).pdf(grid))
    a, b = (0 - 0.5) / 0.15, (1 - 0.5) / 0.15
    truncated = stats.truncnorm(a, b, loc=0.5, scale=0.15).logpdf(grid)
    inner = grid[(grid >= 0.2) & (grid <= 0.8)]
    uniform = np.full(len(inner), np.log(1 / 0.6))
    triangular = stats.triang(0.5).logpdf(grid)
    keep = np.isfinite(triangular)
    return {
        "mixture of Beta(2,10) and Beta(10,2)": (mixture, grid),
        "normal(0.5, 0.15) truncated to (0, 1)": (truncated, grid),
        "uniform on [0.2, 0.8]": (uniform, inner),
        "triangular on (0, 1), mode 0.5": (triangular[keep], grid[keep]),
    }


def verdicts(model, count: int) -> dict:
    found = {}
    for name, (curve, x) in out_of_family(model.grid).items():
        result = invert(model, curve[None], x=x if len(x) != len(model.grid) else None)
        found[name] = {"described": bool(result.described[0]), "verdict": result.verdicts[0]}
    true = in_family(model, count, seed=11)
    result = invert(model, params=true, method="adam")
    found["in-family, clean"] = {"targets": count, "flagged_share": float((~result.described).mean())}
    for sd in NOISE:
        noisy = model.curves(true) + np.random.default_rng(3).normal(0, sd, (count, len(model.grid)))
        result = invert(model, noisy, method="adam")
        found[f"in-family, noise sd {sd}"] = {"targets": count, "flagged_share": float((~result.described).mean())}
    return found


def samples_against_scipy(model, count: int, draws: int) -> dict:
    true = in_family(model, count, seed=21)
    rng = np.random.default_rng(5)
    ours, theirs = [], []
    started = time.perf_counter()
    for row in true:
        sample = stats.beta(*row).rvs(size=draws, random_state=rng)
        sample = np.clip(sample, 1e-300, 1 - 1e-16)
        result = invert(model, samples=sample)
        ours.append(np.abs(result.params[0] - row))
        a, b, _, _ = stats.beta.fit(sample, floc=0, fscale=1)
        theirs.append(np.abs(np.array([a, b]) - row))
    ours, theirs = np.array(ours), np.array(theirs)
    return {
        "targets": count,
        "draws": draws,
        "median_abs_error_ours": np.median(ours, axis=0).tolist(),
        "median_abs_error_scipy": np.median(theirs, axis=0).tolist(),
        "ratio": (np.median(ours, axis=0) / np.median(theirs, axis=0)).tolist(),
        "seconds_per_target": (time.perf_counter() - started) / count,
    }


def speed(model) -> dict:
    true = in_family(model, 1000, seed=31)
    curves = model.curves(true) + np.random.default_rng(1).normal(0, 0.05, (1000, len(model.grid)))
    invert(model, curves[:10], method="adam")  # warm-up
    started = time.perf_counter()
    invert(model, curves, method="adam")
    return {"targets": 1000, "seconds": time.perf_counter() - started}


def figures_table(results: dict) -> str:
    """The figures of a check as the markdown docs/inversion.md shows (a test renders it again and compares)."""

    def pct(values) -> str:
        return " / ".join(f"{100 * v:.1f}%" for v in values)

    lines = [
        f"Calibration on {next(iter(results['calibration'].values()))['targets']} noisy targets per row, with "
        "known parameters from the training ranges (coverage per parameter, α / β):",
        "",
        "| noise on the log-pdf | 68% intervals hold the truth | 95% intervals hold the truth "
        "| median abs error | failed fits |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, entry in results["calibration"].items():
        errors = " / ".join(f"{v:.3g}" for v in entry["median_abs_error"])
        lines.append(
            f"| {key} | {pct(entry['coverage_68'])} | {pct(entry['coverage_95'])} | {errors} | {entry['failed_fits']} |"
        )
    lines += ["", "Verdicts:", "", "| target | verdict |", "| --- | --- |"]
    for name, entry in results["verdicts"].items():
        if "flagged_share" in entry:
            lines.append(f"| {name} ({entry['targets']} targets) | {100 * entry['flagged_share']:.1f}% flagged |")
        else:
            lines.append(f"| {name} | {'described' if entry['described'] else 'flagged'}: {entry['verdict']} |")
    sam = results["samples"]
    ours = " / ".join(f"{v:.3g}" for v in sam["median_abs_error_ours"])
    theirs = " / ".join(f"{v:.3g}" for v in sam["median_abs_error_scipy"])
    ratio = " / ".join(f"{v:.2f}×" for v in sam["ratio"])
    lines += [
        "",
        f"Samples ({sam['targets']} targets of {sam['draws']:,} draws each): median abs error of α / β "
        f"{ours}, against {theirs} for `scipy.stats.beta.fit` on the same draws ({ratio}); "
        f"{1000 * sam['seconds_per_target']:.0f} ms per target.",
        "",
        f"Speed: {results['speed']['targets']:,} targets with intervals, batched method, in "
        f"{results['speed']['seconds']:.2f} s.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ckpt", type=Path)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--samples-targets", type=int, default=400)  # the ratio to scipy moved 0.06 between 100 and 400
    parser.add_argument("--write", type=Path, help="a page whose inversion:figures block to fill (docs/inversion.md)")
    args = parser.parse_args(argv)
    from betaae import plots

    model = load_model(args.ckpt)
    results = {"checkpoint": str(args.ckpt), "calibration": calibration(model, args.targets)}
    save_figure(args.out / "coverage.png", plots.coverage(NOMINAL, results["calibration"]))
    first = results["calibration"][f"sd={NOISE[0]}, noise given"]
    save_figure(
        args.out / "recovery.png",
        plots.recovery(first["_true"], first["_result"], model.family.param_names, NOISE[0]),
    )
    results["verdicts"] = verdicts(model, args.targets)
    results["samples"] = samples_against_scipy(model, args.samples_targets, 1000)
    results["speed"] = speed(model)
    for entry in results["calibration"].values():
        entry.pop("_result"), entry.pop("_true")
    write_json(args.out / "inversion_check.json", results)
    results = json.loads((args.out / "inversion_check.json").read_text())  # as the docs' test reads it
    print(figures_table(results))
    if args.write is not None:
        text = args.write.read_text()
        block = f"<!-- inversion:figures -->\n{figures_table(results)}\n<!-- /inversion:figures -->"
        args.write.write_text(
            re.sub(r"<!-- inversion:figures -->.*?<!-- /inversion:figures -->", lambda m: block, text, flags=re.S)
        )
        print(f"written: {args.write}")
    return results


if __name__ == "__main__":
    main()
