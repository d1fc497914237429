"""What an inversion shows and leaves behind: the console lines, inversion.json, inversion.csv and
inversion.png, every verdict in each of them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from betaae.core.files import save_figure, write_csv, write_json


def inversion_summary(result, model, options: dict, init: str, source: str) -> dict[str, Any]:
    """The figures of a whole inversion, for inversion.json and the console."""
    summary: dict[str, Any] = {
        "checkpoint": model.path,
        "family": model.family.name,
        "kind": result.kind,
        "method": result.method,
        "method_options": options,
        "init": init,
        "targets": source,
        "count": len(result),
        "seconds": result.seconds,
        "seconds_per_target": result.seconds / len(result),
        "not_described": int((~result.described).sum()),
        "reference": {
            "curves": model.reference.curves,
            "rms_median": model.reference.rms[0.5],
            "rms_p99": model.reference.rms[0.99],
        },
    }
    if result.residual_decoded_vs_target is not None:
        summary["median_residual_decoded_vs_target"] = float(np.median(result.residual_decoded_vs_target))
        summary["max_residual_decoded_vs_target"] = float(np.max(result.residual_decoded_vs_target))
    if result.fit_ok is not None:
        summary["failed_fits"] = int((~result.fit_ok).sum())
    if result.true_params is not None and result.params is not None:
        good = result.fit_ok
        error = np.abs(result.params - result.true_params)
        for j, name in enumerate(result.names):
            summary[f"median_abs_error_{name}"] = float(np.median(error[good, j])) if good.any() else None
            for level, box in result.param_intervals.items():
                inside = (box[:, j, 0] <= result.true_params[:, j]) & (result.true_params[:, j] <= box[:, j, 1])
                summary[f"coverage_{level:.0%}_{name}"] = float(inside.mean())
    return summary


def write_inversion(out: Path, result, summary: dict, model, targets: dict) -> None:
    """inversion.json (the summary, and the target's own figures for one target), inversion.csv (one row per
    target, for several) and inversion.png (the first target)."""
    from betaae import plots

    rows = result.rows()
    if len(rows) == 1:
        write_json(out / "inversion.json", {**summary, **rows[0]})
    else:
        write_csv(out / "inversion.csv", rows)
        write_json(out / "inversion.json", summary)
    decoded = model.decode(result.codes[:1])[0]
    family_curve = model.curves(result.params[:1])[0] if result.params is not None else None
    checkpoint = Path(model.path).name
    if result.kind == "samples":
        figure = plots.inversion_samples(model.grid, targets["samples"][0], decoded, family_curve, checkpoint)
    else:
        values = targets.get("curves")
        values = model.curves(targets["params"][:1])[0] if values is None else np.asarray(values, dtype=float)[0]
        x = targets.get("x")
        x = model.grid if x is None else np.asarray(x, dtype=float)
        label = "target"
        if result.true_params is not None:
            label = ", ".join(f"{n}={v:.3g}" for n, v in zip(result.names, result.true_params[0]))
        figure = plots.inversion(model.grid, x, values, decoded, family_curve, label, checkpoint, result.verdicts[0])
    save_figure(out / "inversion.png", figure)


def _interval(center: float, box: np.ndarray) -> str:
    """center [low, high] with as many decimals as the interval's width needs (two significant digits)."""
    width = abs(box[1] - box[0])
    decimals = max(0, min(12, 1 - int(np.floor(np.log10(width))))) if width > 0 else 4
    return f"{center:.{decimals}f} [{box[0]:.{decimals}f}, {box[1]:.{decimals}f}]"


def print_inversion(out: Path, result, summary: dict) -> None:
    """The few lines a user reads: one target in full, or the figures of many."""
    if len(result) == 1:
        lines = _one_target(result)
    else:
        lines = [
            f"inverted {len(result)} targets ({result.kind}) with {result.method} in {result.seconds:.2f} s "
            f"({1000 * summary['seconds_per_target']:.2f} ms per target)",
        ]
        if result.residual_decoded_vs_target is not None:
            lines.append(
                f"residual decoded vs target: median {summary['median_residual_decoded_vs_target']:.4g}, "
                f"max {summary['max_residual_decoded_vs_target']:.4g}"
            )
        flagged = summary["not_described"]
        lines.append(
            f"verdicts:   {len(result) - flagged} described, {flagged} not well described by this model"
            + (f", {summary['failed_fits']} failed parameter fits" if summary.get("failed_fits") else "")
            + " (the verdict column of inversion.csv says why)"
        )
        names = result.names
        if f"median_abs_error_{names[0]}" in summary:
            lines.append(
                "parameter recovery, median |error|: "
                + ", ".join(f"{n} {summary[f'median_abs_error_{n}']:.3g}" for n in names)
                + "; inside the 95% intervals: "
                + ", ".join(f"{n} {summary[f'coverage_95%_{n}']:.0%}" for n in names)
            )
    files = "inversion.json" + (", inversion.csv" if len(result) > 1 else "") + ", inversion.png"
    lines.append(f"outputs:    {out}/ ({files})")
    print("\n".join(lines), flush=True)
    for i, (ok, text) in enumerate(zip(result.described, result.verdicts)):
        if not ok:
            where = "" if len(result) == 1 else f"target {i}: "
            print(f"warning: {where}{text}", file=sys.stderr, flush=True)


def _one_target(result) -> list[str]:
    i, level = 0, 0.95
    code = ", ".join(f"{c:.4f} ± {se:.2g}" for c, se in zip(result.codes[i], result.code_se[i]))
    lines = [f"latent code: ({code})  (± one standard error)"]
    if result.residual_decoded_vs_target is not None:
        lines.append(
            f"residual, decoded vs target: {result.residual_decoded_vs_target[i]:.4g} over "
            f"{result.observed_points[i]} points ({result.rms_decoded_vs_target[i]:.3g} per point)"
        )
    if result.ks_p_value is not None:
        outside = f", {result.draws_outside[i]} outside the grid set aside" if result.draws_outside[i] else ""
        lines.append(
            f"samples:    {result.draws[i]} draws{outside}; log-likelihood {result.log_likelihood[i]:.4g} per draw"
        )
    lines.append(f"verdict:    {result.verdicts[i]}")
    if result.noise_estimated:
        lines.append(
            f"noise:      sd {result.noise_sd[i]:.3g} per point, estimated from the residual (noise_sd=... if known)"
        )
    elif np.isfinite(result.noise_sd[i]):
        lines.append(f"noise:      sd {result.noise_sd[i]:.3g} per point, as given")
    if result.params is not None:
        if result.fit_ok[i]:
            shown = ", ".join(
                f"{n}={_interval(p, box)}"
                for n, p, box in zip(result.names, result.params[i], result.param_intervals[level][i])
            )
            lines.append(f"best-matching parameters: {shown} (95% intervals)")
            if result.described[i]:
                lines.append(f"            {result.fit_verdicts[i]}")
            else:
                lines.append(
                    "            the nearest member of the family to a target it does not describe: not an estimate"
                )
        else:
            lines.append(f"best-matching parameters: {result.fit_verdicts[i]}")
    if result.evaluations is not None:
        lines.append(f"evaluations: {int(result.evaluations[i])}   time: {result.seconds:.3f} s")
    return lines
