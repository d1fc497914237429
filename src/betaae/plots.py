"""Every figure of the project: functions that take arrays and return a matplotlib Figure.

Curves are learned and scored as log-pdfs (SSE is summed over the grid of log-density values); the
figures show the pdf itself, which is easier to read, and say so.
"""

from __future__ import annotations

import itertools
import re

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files and TensorBoard

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

MAX_DIMS = 4  # latent plots show the first few dimensions (and say so): any latent size draws in well under a second
SSE_NOTE = "SSE is measured on the log-pdf; the curves show the pdf"


def _figure(
    rows: int,
    cols: int,
    panel: tuple[float, float],
    left: float = 0.8,
    right: float = 0.3,
    top: float = 0.6,
    bottom: float = 0.6,
    wspace: float = 0.8,
    hspace: float = 0.9,
    **kwargs,
):
    """A grid of panels with fixed margins in inches: matplotlib's automatic layouts measure every text
    box on each draw, which costs more than the drawing itself here."""
    width = left + right + cols * panel[0] + (cols - 1) * wspace
    height = top + bottom + rows * panel[1] + (rows - 1) * hspace
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False, **kwargs)
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=wspace / panel[0],
        hspace=hspace / panel[1],
    )
    return fig, axes


def _pdf(log_pdf: np.ndarray) -> np.ndarray:
    """exp of a log-pdf, clipped so that a wild reconstruction early in training cannot overflow."""
    return np.exp(np.clip(log_pdf, -80.0, 80.0))


def _label(names: tuple[str, ...] | list[str], values: np.ndarray) -> str:
    return ", ".join(f"{n}={v:.3g}" for n, v in zip(names, values))


def _shown_dims(dims: int) -> tuple[int, str]:
    shown = min(dims, MAX_DIMS)
    return shown, "" if shown == dims else f" (first {shown} of {dims} dimensions)"


def sample_curves(grid: np.ndarray, log_pdfs: np.ndarray, params: np.ndarray, names: list[str], family: str) -> Figure:
    """A few pdfs of the training family, each labelled with its parameters."""
    fig, axes = _figure(1, 1, (5.0, 3.2), right=2.4)
    ax = axes[0, 0]
    for log_pdf, p in zip(log_pdfs, params):
        ax.plot(grid, _pdf(log_pdf), label=_label(names, p))
    ax.set(xlabel="x", ylabel="pdf", title=f"Sample {family} curves from the training ranges")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


def loss_history(rows: list[dict]) -> Figure:
    """Train and val SSE per curve and the learning rate, per epoch, to the last epoch trained."""
    fig, axes = _figure(1, 1, (5.5, 3.2), right=1.0)
    ax = axes[0, 0]
    for key, label in (("train_sse_per_curve", "train"), ("val_sse_per_curve", "val")):
        points = [(r["epoch"], r[key]) for r in rows if r.get(key) not in (None, "")]
        if points:
            ax.plot(*zip(*points), label=label)
    ax.set(xlabel="epoch", ylabel="SSE per curve (log-pdf)", yscale="log", title=f"Loss history, {len(rows)} epochs")
    lr = [(r["epoch"], r["lr"]) for r in rows if r.get("lr") not in (None, "")]
    if lr:
        twin = ax.twinx()
        twin.plot(*zip(*lr), color="0.6", linewidth=1, linestyle=":", label="learning rate")
        twin.set(ylabel="learning rate", yscale="log")
        twin.legend(loc="upper center", fontsize=8)
    ax.legend(loc="upper right")
    return fig


def latent_histograms(latent: np.ndarray, split: str, checkpoint: str) -> Figure:
    """One histogram per latent coordinate (the first few), of the encoder's codes."""
    shown, note = _shown_dims(latent.shape[1])
    fig, axes = _figure(1, shown, (2.6, 2.4))
    for i, ax in enumerate(axes[0]):
        ax.hist(latent[:, i], bins=40, color=f"C{i}")
        ax.set(xlabel=f"z_{i + 1}", ylabel="curves" if i == 0 else None)
    fig.suptitle(f"Latent codes of {len(latent):,} {split} curves{note}, {checkpoint}", fontsize=10)
    return fig


def reconstructions(
    grid: np.ndarray,
    targets: np.ndarray,
    recon: np.ndarray,
    params: np.ndarray,
    names: list[str],
    split: str,
    checkpoint: str,
) -> Figure:
    """Target pdfs (solid) beside their reconstructions (dashed), one panel per curve, with each one's SSE."""
    n = len(targets)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = _figure(rows, cols, (3.3, 2.3), top=0.9)
    for ax, target, rec, p in zip(axes.flat, targets, recon, params):
        ax.plot(grid, _pdf(target), label="target")
        ax.plot(grid, _pdf(rec), "--", label="reconstruction")
        ax.set_title(f"{_label(names, p)}\nSSE {np.sum((rec - target) ** 2):.3g}", fontsize=9)
        ax.set(xlabel="x", ylabel="pdf")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"Reconstructions of {split} curves, {checkpoint}; {SSE_NOTE}", fontsize=10)
    return fig


def latent_scatter(latent: np.ndarray, values: np.ndarray, name: str) -> Figure:
    """Latent codes coloured by one parameter: the code against the parameter for one latent dimension,
    else one panel per pair of the first few dimensions."""
    dims = latent.shape[1]
    shown, note = _shown_dims(dims)
    pairs = list(itertools.combinations(range(shown), 2)) or [(0, None)]
    fig, axes = _figure(1, len(pairs), (3.2, 3.0), right=1.3)
    for ax, (i, j) in zip(axes[0], pairs):
        if j is None:
            points = ax.scatter(values, latent[:, i], c=values, s=4, cmap="viridis")
            ax.set(xlabel=name, ylabel="z_1")
        else:
            points = ax.scatter(latent[:, i], latent[:, j], c=values, s=4, cmap="viridis")
            ax.set(xlabel=f"z_{i + 1}", ylabel=f"z_{j + 1}")
    fig.colorbar(
        points, cax=fig.add_axes((1 - 1.0 / fig.get_figwidth(), 0.2, 0.15 / fig.get_figwidth(), 0.6)), label=name
    )
    fig.suptitle(f"Latent codes coloured by {name}{note}", fontsize=10)
    return fig


def inversion(
    grid: np.ndarray,
    x: np.ndarray,
    target: np.ndarray,
    decoded: np.ndarray,
    family_curve: np.ndarray | None,
    target_label: str,
    checkpoint: str,
    verdict: str,
) -> Figure:
    """The target pdf (points where it was observed), the decoded pdf and the family's best match on the
    left; their log-pdf residuals on the right; the verdict underneath."""
    fig, axes = _figure(1, 2, (4.2, 3.0), top=0.8, left=0.9, wspace=1.3, bottom=1.0)
    ax0, ax1 = axes[0]
    seen = np.isfinite(target)
    on_grid = len(x) == len(grid) and np.allclose(x, grid)
    if on_grid and seen.all():
        ax0.plot(x, _pdf(target), label=target_label)
    else:
        ax0.plot(x[seen], _pdf(target[seen]), "o", markersize=3, label=f"{target_label} ({seen.sum()} points)")
    ax0.plot(grid, _pdf(decoded), "--", label="decoded")
    if family_curve is not None:
        ax0.plot(grid, _pdf(family_curve), ":", label="best-matching family curve")
    ax0.set(xlabel="x", ylabel="pdf", title="Target, decoded and family pdf")
    ax0.legend(fontsize=7)
    decoded_at_x = np.interp(x, grid, decoded)
    ax1.plot(x[seen], target[seen] - decoded_at_x[seen], ".", markersize=3)
    ax1.axhline(0, color="0.6", linewidth=0.8)
    ax1.set(xlabel="x", ylabel="target - decoded (log-pdf)", title="Residual")
    fig.suptitle(f"Inversion with {checkpoint}", fontsize=10)
    fig.text(0.5, 0.02, _wrap(verdict, 110), ha="center", fontsize=8)
    return fig


def inversion_samples(
    grid: np.ndarray, draws: np.ndarray, decoded: np.ndarray, family_curve: np.ndarray | None, checkpoint: str
) -> Figure:
    """A histogram of the draws (density over the grid) with the decoded density and the family's best match."""
    fig, axes = _figure(1, 1, (5.5, 3.2), top=0.6, right=0.4)
    ax = axes[0, 0]
    inside = draws[(draws >= grid[0]) & (draws <= grid[-1])]
    ax.hist(inside, bins=40, range=(grid[0], grid[-1]), density=True, color="0.8", label=f"{len(inside):,} draws")
    for curve, style, label in ((decoded, "-", "decoded"), (family_curve, "--", "best-matching family")):
        if curve is not None:
            pdf = _pdf(curve)
            ax.plot(grid, pdf / np.trapezoid(pdf, grid), style, label=f"{label} density (normalized on the grid)")
    ax.set(xlabel="x", ylabel="density", title=f"Samples and the density found, {checkpoint}")
    ax.legend(fontsize=7)
    return fig


MAX_TARGET_PANELS = 6


def inversion_panels(
    grid: np.ndarray,
    panels: list[dict],
    total: int,
    checkpoint: str,
) -> Figure:
    """One panel per target (at most MAX_TARGET_PANELS: the flagged first): the target's pdf, or its draws, with
    the decoded pdf and the family's best match, titled with the target's name and whether it is described.
    Each panel is {label, x, target (log-pdf at x) or draws, decoded, family (or None), described}."""
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = _figure(rows, cols, (3.3, 2.3), top=0.8, left=0.7, wspace=0.6, hspace=0.8, bottom=0.6)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    for ax, panel in zip(axes.ravel(), panels):
        if panel.get("draws") is not None:
            draws = panel["draws"]
            inside = draws[(draws >= grid[0]) & (draws <= grid[-1])]
            ax.hist(inside, bins=30, range=(grid[0], grid[-1]), density=True, color="0.8", label="draws")
        else:
            x, target = panel["x"], panel["target"]
            seen = np.isfinite(target)
            ax.plot(x[seen], _pdf(target[seen]), "o" if seen.sum() < 40 else "-", markersize=3, label="target")
        ax.plot(grid, _pdf(panel["decoded"]), "--", label="decoded")
        if panel.get("family") is not None:
            ax.plot(grid, _pdf(panel["family"]), ":", label="family's best match")
        status = "described" if panel["described"] else "NOT DESCRIBED by this model"
        ax.set_title(
            _wrap(f"{panel['label']}: {status}", 40), fontsize=8, color="black" if panel["described"] else "C3"
        )
        ax.set(xlabel="x", ylabel="pdf")
        ax.tick_params(labelsize=7)
    axes.ravel()[0].legend(fontsize=6)
    shown = f"{len(panels)} of {total} targets shown (flagged first; every one is in inversion.csv)"
    fig.suptitle(f"Inversion with {checkpoint}: " + (shown if len(panels) < total else f"{total} targets"), fontsize=9)
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def _wrap_setting(label: str, width: int = 36) -> str:
    """A job's name on lines of about `width` characters, broken after its commas (between settings)."""
    import re

    lines, line = [], ""
    for part in re.split(r",(?![^\[]*\])", label):  # the commas between settings, not those inside a [list]
        piece = f"{line},{part}" if line else part
        if line and len(piece) > width:
            lines.append(line + ",")
            line = part
        else:
            line = piece
    return "\n".join([*lines, line])


def sweep_summary(
    labels: list[str], values: list[float], metric: str, points: list[list[float]] | None = None
) -> Figure:
    """The optimized metric of each job (or each setting, over its seeds) of a sweep, best first: a dot per
    job (a mean with its standard deviation as a bar, and each seed as a small dot beneath it), on a log axis,
    its value written in a column of its own to the right, where nothing else is drawn."""
    from matplotlib.transforms import blended_transform_factory

    small = len(labels) > 20  # many rows: smaller type, longer lines
    names = [_wrap_setting(label, 80 if small else 36) for label in labels]
    lines = max(name.count("\n") + 1 for name in names)
    chars = max(len(line) for name in names for line in name.split("\n"))
    spread = [float(np.std(p, ddof=1)) if p and len(p) > 1 else 0.0 for p in points] if points else None
    if points:
        texts = [f"{v:.3g} ± {float(f'{sd:.2g}'):g} ({len(p)} seeds)" for v, sd, p in zip(values, spread, points)]
    else:
        texts = [f"{v:.3g}" for v in values]
    right = max(len(t) for t in texts) * 0.065 + 0.3
    row_height = (0.14 if small else 0.2) * lines + 0.1
    fig, axes = _figure(
        1,
        1,
        (4.2, row_height * max(len(labels), 3)),
        left=chars * (0.048 if small else 0.062) + 0.3,
        right=right,
        top=0.55,
        bottom=0.65,
    )
    ax = axes[0, 0]
    rows = np.arange(len(labels))
    if points:
        ax.errorbar(values, rows, xerr=spread, fmt="o", color="C0", ecolor="C0", capsize=3, markersize=5, zorder=3)
        for row, seeds in enumerate(points):  # just below the mean's marker, so neither hides the other
            ax.scatter(seeds, [row + 0.22] * len(seeds), s=9, color="0.35", zorder=2)
    else:
        ax.scatter(values, rows, s=25, color="C0", zorder=3)
    for row in rows:
        ax.axhline(row, color="0.9", linewidth=0.6, zorder=0)
    place = blended_transform_factory(ax.transAxes, ax.transData)
    for row, text in zip(rows, texts):
        ax.text(1.02, row, text, transform=place, va="center", ha="left", fontsize=8, clip_on=False)
    ax.set_yticks(rows, names, fontsize=8 if not small else 6)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # best at the top, no empty margin
    ax.set_xscale("log")
    everything = [*values, *(v for p in points or [] for v in p)]
    low, high = min(everything), max(everything)
    if points:
        low = min(low, *(max(v - sd, low / 3) for v, sd in zip(values, spread)))
        high = max(high, *(v + sd for v, sd in zip(values, spread)))
    decades = np.log10(high / low) if low > 0 else 0
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,), numticks=30))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(low / 1.3, high * 1.3)
    if points:
        title = f"Sweep of {len(labels)} settings, best first: mean ± sd over seeds (grey: each seed)"
    else:
        title = f"Sweep of {len(labels)} jobs, best first"
    ax.set_xlabel(f"{metric} (lower is better; log scale)")
    ax.set_title(title, fontsize=9)
    return fig


def frontier(
    rows: list[dict], front: list[dict], default: dict | None, time_key: str, val_key: str, test_key: str, shown
) -> Figure:
    """Each setting of a study as mean training time against mean error over its seeds (bars: one standard
    deviation), on val (where the front and the choice are made) beside test (what a user gets)."""
    fig, axes = _figure(1, 2, (5.2, 4.0), right=3.2, top=0.6, wspace=0.9)
    labels = {r["setting"]: f"{i + 1}" for i, r in enumerate(sorted(rows, key=lambda r: r[time_key]))}
    for ax, key, title in ((axes[0, 0], val_key, "val: the choice is made here"), (axes[0, 1], test_key, "test")):
        for row in rows:
            sd = row.get(f"{key}_sd", 0)
            ax.errorbar(
                row[time_key],
                row[key],
                xerr=row.get(f"{time_key}_sd", 0),
                yerr=[[min(sd, 0.9 * row[key])], [sd]],  # on a log axis the lower bar stops above zero
                fmt="o",
                markersize=4,
                capsize=2,
                color="C0" if row in front else "0.6",
                linewidth=0.8,
            )
            ax.annotate(
                labels[row["setting"]], (row[time_key], row[key]), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
        line = sorted(front, key=lambda r: r[time_key])
        ax.plot(
            [r[time_key] for r in line],
            [r[key] for r in line],
            color="C0",
            linewidth=1,
            zorder=0,
            label="Pareto front on val",
        )
        if default is not None:
            ax.scatter(
                [default[time_key]],
                [default[key]],
                s=160,
                facecolors="none",
                edgecolors="k",
                linewidths=1.5,
                label="default",
            )
        ax.set(xlabel="training time (s, mean over seeds)", ylabel=f"{key} (log-pdf)", yscale="log", title=title)
    axes[0, 0].legend(fontsize=8, loc="upper right")
    key_text = "\n".join(
        f"{labels[r['setting']]}: {_short_setting(r['setting'])}"
        for r in sorted(rows, key=lambda r: int(labels[r["setting"]]))
    )
    fig.text(1 - 3.0 / fig.get_figwidth(), 0.9, key_text, fontsize=6.5, va="top", family="monospace")
    seeds = sorted({r["seeds"] for r in rows})
    fig.suptitle(f"Time-quality frontier: {len(rows)} settings, {'/'.join(map(str, seeds))} seeds each", fontsize=10)
    return fig


def _short_setting(label: str) -> str:
    """`optimizer.betas=[0.9,0.99],scheduler.gamma=0.97` -> `betas=[0.9,0.99], gamma=0.97`: each key by its
    last part, so that the key to the chart fits beside it."""
    parts = re.split(r",(?=[\w.]+=)", label)
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, _, value in (p.partition("=") for p in parts))


def _bins(low: float, high: float, edge: bool, count: int, log_scale: bool) -> np.ndarray:
    """Bin edges over a parameter's range: linear, or logarithmic above a degenerate end."""
    if log_scale and edge:
        return low + (high - low) * np.logspace(-9, 0, count + 1)
    return np.linspace(low, high, count + 1)


def error_map(scores, checkpoint: str, bins: int = 20) -> Figure:
    """Log10 of the mean SSE per curve over the parameter space, from the test set's weighted curves: for
    each pair of the first three parameters, the mean over the curves in each cell (the other parameters
    averaged over); pairs with a degenerate range end get a second panel on logarithmic axes, where the
    error is largest. One parameter: the mean error against it."""
    k = len(scores.names)
    pairs = list(itertools.combinations(range(min(k, 3)), 2))
    views = [(pair, False) for pair in pairs] + [(pair, True) for pair in pairs if scores.edges[list(pair)].any()]
    fig, axes = _figure(1, max(1, len(views)), (3.2, 3.0), left=0.9, right=1.0, top=0.8, wspace=1.9)
    if not pairs:
        ax = axes[0, 0]
        edges = _bins(scores.low[0], scores.high[0], scores.edges[0], bins, False)
        which = np.clip(np.digitize(scores.params[:, 0], edges) - 1, 0, bins - 1)
        ax.plot(0.5 * (edges[1:] + edges[:-1]), np.log10([scores.mean(which == b) for b in range(bins)]), marker="o")
        ax.set(xlabel=scores.names[0], ylabel="log10 mean SSE per curve")
    for ax, ((i, j), log_scale) in zip(axes[0], views if pairs else []):
        edges_i = _bins(scores.low[i], scores.high[i], scores.edges[i], bins, log_scale)
        edges_j = _bins(scores.low[j], scores.high[j], scores.edges[j], bins, log_scale)
        where, w = (scores.params[:, i], scores.params[:, j]), scores.weights
        total, _, _ = np.histogram2d(*where, [edges_i, edges_j], weights=w * scores.errors)
        mass, _, _ = np.histogram2d(*where, [edges_i, edges_j], weights=w)
        with np.errstate(divide="ignore", invalid="ignore"):
            cells = np.log10(total / mass)
        mesh = ax.pcolormesh(edges_i, edges_j, cells.T, cmap="magma", shading="flat")
        if log_scale:
            ax.set_xscale("log" if scores.edges[i] else "linear")
            ax.set_yscale("log" if scores.edges[j] else "linear")
        ax.set(xlabel=scores.names[i], ylabel=scores.names[j], title="near 0, log axes" if log_scale else "whole range")
        fig.colorbar(mesh, ax=ax, fraction=0.08, pad=0.04).set_label("log10 mean SSE per curve", fontsize=8)
    fig.suptitle(f"Where the model is wrong: {len(scores.errors):,} test curves, {checkpoint}", fontsize=10)
    return fig


def coverage(nominal: np.ndarray, calibration: dict) -> Figure:
    """Nominal against empirical coverage of the parameters' intervals, one line per noise setting: on the
    diagonal, an interval of level p holds the true value p of the time."""
    fig, axes = _figure(1, 1, (4.2, 4.0), right=3.0, top=0.6)
    ax = axes[0, 0]
    ax.plot([0, 1], [0, 1], color="0.6", linewidth=1, label="nominal")
    for i, (name, entry) in enumerate(calibration.items()):
        ax.plot(nominal, entry["curve"], marker="o", markersize=3, color=f"C{i}", label=name)
    ax.set(xlabel="nominal level of the intervals", ylabel="share of true parameters inside", xlim=(0, 1), ylim=(0, 1))
    ax.set_title("Coverage of the parameters' intervals", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    count = next(iter(calibration.values()))["targets"]
    fig.suptitle(f"{count} noisy targets per setting, parameters from the training ranges", fontsize=9)
    return fig


def recovery(true: np.ndarray, result, names: tuple[str, ...], noise_sd: float, shown: int = 150) -> Figure:
    """True against recovered parameters with their 95% intervals, one panel per parameter."""
    fig, axes = _figure(1, len(names), (3.4, 3.2), wspace=0.9, top=0.7)
    box = result.param_intervals[0.95]
    pick = np.arange(min(shown, len(true)))
    for j, (ax, name) in enumerate(zip(axes[0], names)):
        low, high = box[pick, j, 0], box[pick, j, 1]
        value = result.params[pick, j]
        ax.errorbar(
            true[pick, j], value, yerr=[value - low, high - value], fmt="o", markersize=2.5, capsize=0, linewidth=0.6
        )
        span = [min(true[:, j].min(), 0), true[:, j].max()]
        ax.plot(span, span, color="0.6", linewidth=1)
        ax.set(xlabel=f"true {name}", ylabel=f"recovered {name}", title=name)
    fig.suptitle(f"Recovery with 95% intervals: {len(pick)} targets, noise sd {noise_sd} on the log-pdf", fontsize=9)
    return fig


def inversion_score(score, checkpoint: str) -> Figure:
    """A run's inversion score in one figure: true against fitted per parameter (clean and noisy targets,
    one colour per noise level), and the coverage curve of the intervals (nominal against empirical)."""
    k = len(score.names)
    fig, axes = _figure(1, k + 1, (3.0, 3.0), wspace=0.9, top=0.8, right=0.3)
    for j, (ax, name) in enumerate(zip(axes[0], score.names)):
        levels = sorted(set(score.noise_of.tolist()))
        for i, sd in reversed(list(enumerate(levels))):  # the noisiest first, so that the clean targets show on top
            rows = score.noise_of == sd
            label = "clean" if sd == 0 else f"noise sd {sd:g}"
            ax.plot(
                score.true[rows, j], score.fitted[rows, j], "o", markersize=1.5, alpha=0.5, color=f"C{i}", label=label
            )
        span = [score.true[:, j].min(), score.true[:, j].max()]
        ax.plot(span, span, color="0.4", linewidth=0.8)
        ax.set(xlabel=f"true {name}", ylabel=f"fitted {name}")
        ax.set_title(f"{name}: median error {100 * score.error_median[name]:.2g}% of the range", fontsize=8)
    axes[0, 0].legend(fontsize=6, loc="upper left", markerscale=3)
    ax = axes[0, k]
    ax.plot([0, 1], [0, 1], color="0.6", linewidth=1)
    ax.plot(score.levels, score.coverage_curve, marker="o", markersize=2.5, color="C3")
    ax.set(xlabel="nominal level", ylabel="share of true values inside", xlim=(0, 1), ylim=(0, 1))
    ax.set_title(f"coverage, largest gap {score.calibration_gap:.2f}", fontsize=8)
    fig.suptitle(
        f"Inversion of {score.targets:,} targets of the family x {1 + len(score.noise)} (clean, noisy), {checkpoint}",
        fontsize=9,
    )
    return fig
