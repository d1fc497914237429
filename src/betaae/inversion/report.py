"""What an inversion shows and leaves behind: the console lines, inversion.json, inversion.csv and
inversion.png, every verdict in each of them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from betaae.core.files import save_figure, write_csv, write_json
from betaae.inversion.api import NOT_AN_ESTIMATE


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


def labels_of(result, names: list[str] | None) -> list[str]:
    """Each target's name: the user's own (a CSV's column headers), else `target i` as in inversion.csv."""
    if names is not None and len(names) == len(result):
        return [str(n) for n in names]
    return [f"target {i}" for i in range(len(result))]


def _named(labels: list[str], which: np.ndarray, bound: int = 10) -> str:
    chosen = [labels[i] for i in np.flatnonzero(which)]
    more = f" and {len(chosen) - bound} more" if len(chosen) > bound else ""
    return ", ".join(chosen[:bound]) + more


def write_inversion(out: Path, result, summary: dict, model, targets: dict, labels: list[str]) -> None:
    """inversion.json (the summary, and the target's own figures for one target), inversion.csv (one row per
    target, named as the user named it) and inversion.png (one panel per target, the flagged first)."""
    from betaae import plots

    rows = [{"name": label, **row} for label, row in zip(labels, result.rows())]
    write_csv(out / "inversion.csv", rows)
    write_json(out / "inversion.json", {**summary, **rows[0]} if len(rows) == 1 else summary)
    checkpoint = Path(model.path).name
    if len(result) == 1:
        figure = _one_figure(result, model, targets, checkpoint)
    else:
        flagged_first = sorted(range(len(result)), key=lambda i: (bool(result.described[i]), i))
        shown = flagged_first[: plots.MAX_TARGET_PANELS]
        decoded = model.decode(result.codes[shown])
        family = model.curves(result.params[shown]) if result.params is not None else None
        panels = []
        for k, i in enumerate(shown):
            label = labels[i]
            if result.true_params is not None:
                label += " (" + ", ".join(f"{n}={v:.3g}" for n, v in zip(result.names, result.true_params[i])) + ")"
            panel = {
                "label": label,
                "decoded": decoded[k],
                "family": family[k] if family is not None and result.fit_ok[i] and result.described[i] else None,
                "described": bool(result.described[i]),
            }
            if result.kind == "samples":
                panel["draws"] = np.asarray(targets["samples"][i], dtype=float)
            else:
                panel["x"], panel["target"] = _target_curve(model, targets, i)
            panels.append(panel)
        figure = plots.inversion_panels(model.grid, panels, len(result), checkpoint)
    save_figure(out / "inversion.png", figure)


def _target_curve(model, targets: dict, i: int) -> tuple[np.ndarray, np.ndarray]:
    """The x-values and log-pdf values of target i, as given (curves) or made from its parameters."""
    values = targets.get("curves")
    values = model.curves(targets["params"][i : i + 1])[0] if values is None else np.asarray(values, dtype=float)[i]
    x = targets.get("x")
    return (model.grid if x is None else np.asarray(x, dtype=float)), values


def _one_figure(result, model, targets: dict, checkpoint: str):
    from betaae import plots

    decoded = model.decode(result.codes[:1])[0]
    family_curve = model.curves(result.params[:1])[0] if result.params is not None else None
    if result.kind == "samples":
        return plots.inversion_samples(model.grid, targets["samples"][0], decoded, family_curve, checkpoint)
    x, values = _target_curve(model, targets, 0)
    label = "target"
    if result.true_params is not None:
        label = ", ".join(f"{n}={v:.3g}" for n, v in zip(result.names, result.true_params[0]))
    return plots.inversion(model.grid, x, values, decoded, family_curve, label, checkpoint, result.verdicts[0])


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _interval(center: float, box: np.ndarray) -> str:
    """center [low, high] with as many decimals as the interval's width needs (two significant digits)."""
    width = abs(box[1] - box[0])
    decimals = max(0, min(12, 1 - int(np.floor(np.log10(width))))) if width > 0 else 4
    return f"{center:.{decimals}f} [{box[0]:.{decimals}f}, {box[1]:.{decimals}f}]"


def print_inversion(out: Path, result, summary: dict, labels: list[str]) -> None:
    """The few lines a user reads: one target in full, or the figures of many with every flagged one named."""
    if len(result) == 1:
        lines = _one_target(result)
    else:
        lines = [
            f"inverted {len(result)} targets ({result.kind}) with {result.method} in {_duration(result.seconds)} "
            f"({_duration(summary['seconds_per_target'])} per target)",
        ]
        if result.rms_decoded_vs_target is not None:
            rms = result.rms_decoded_vs_target
            lines.append(
                f"residual decoded vs target, RMS per point (log-pdf): median {np.median(rms):.3g}, "
                f"max {np.max(rms):.3g}"
            )
        flagged = ~result.described
        line = f"verdicts:   {len(result) - int(flagged.sum())} described, {int(flagged.sum())} not described"
        if flagged.any():
            line += f": {_named(labels, flagged)}"
        lines.append(line)
        if summary.get("failed_fits"):
            lines.append(f"failed parameter fits: {_named(labels, ~result.fit_ok)}")
        names = result.names
        if f"median_abs_error_{names[0]}" in summary:
            lines.append(
                "parameter recovery, median |error|: "
                + ", ".join(f"{n} {summary[f'median_abs_error_{n}']:.3g}" for n in names)
                + "; inside the 95% intervals: "
                + ", ".join(f"{n} {summary[f'coverage_95%_{n}']:.0%}" for n in names)
            )
    lines.append(f"outputs:    {out}/ (inversion.json, inversion.csv, inversion.png)")
    print("\n".join(lines), flush=True)
    for i, (ok, text) in enumerate(zip(result.described, result.verdicts)):
        if not ok:
            where = "" if len(result) == 1 else f"{labels[i]}: "
            print(f"warning: {where}{text}", file=sys.stderr, flush=True)


def _one_target(result) -> list[str]:
    i, level = 0, 0.95
    code = ", ".join(f"{c:.4f} ± {se:.2g}" for c, se in zip(result.codes[i], result.code_se[i]))
    lines = [f"latent code: ({code})  (± one standard error)"]
    if result.residual_decoded_vs_target is not None:
        lines.append(
            f"residual, decoded vs target (log-pdf): RMS {result.rms_decoded_vs_target[i]:.3g} per point over "
            f"{result.observed_points[i]} points (root-sum-square {result.residual_decoded_vs_target[i]:.4g})"
        )
    if result.ks_p_value is not None:
        outside = (
            f", {result.draws_outside[i]} outside the grid (counted as outside)" if result.draws_outside[i] else ""
        )
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
        if not result.described[i]:  # whether or not the fit succeeded, its parameters are no answer
            nearest = ", ".join(f"{n}={p:.3g}" for n, p in zip(result.names, result.params[i]))
            lines.append(f"no parameters: {NOT_AN_ESTIMATE} ({nearest})")
        elif result.fit_ok[i]:
            shown = ", ".join(
                f"{n}={_interval(p, box)}"
                for n, p, box in zip(result.names, result.params[i], result.param_intervals[level][i])
            )
            lines.append(f"best-matching parameters: {shown} (95% intervals)")
            lines.append(f"            {result.fit_verdicts[i]}")
        else:
            lines.append(f"best-matching parameters: {result.fit_verdicts[i]}")
    if result.evaluations is not None:
        lines.append(f"evaluations: {int(result.evaluations[i])}   time: {_duration(result.seconds)}")
    return lines
