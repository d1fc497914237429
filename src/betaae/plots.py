"""Every figure of the project: functions that take arrays and return a matplotlib Figure.

Curves are learned and scored as log-pdfs (SSE is summed over the grid of log-density values); the
figures show the pdf itself, which is easier to read, and say so.
"""

from __future__ import annotations

import itertools

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
    ax.set(xlabel="x", ylabel="pdf", title=f"Sample {family} curves (val split)")
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
    grid: np.ndarray, target: np.ndarray, decoded: np.ndarray, target_label: str, decoded_label: str, checkpoint: str
) -> Figure:
    """Target pdf and decoded pdf on the left, their difference on the right."""
    fig, axes = _figure(1, 2, (4.2, 3.0), top=0.8, left=0.9, wspace=1.3)  # room for long tick labels
    ax0, ax1 = axes[0]
    ax0.plot(grid, _pdf(target), label=target_label)
    ax0.plot(grid, _pdf(decoded), "--", label=decoded_label)
    ax0.set(xlabel="x", ylabel="pdf", title="Target and decoded pdf")
    ax0.legend(fontsize=8)
    ax1.plot(grid, _pdf(target) - _pdf(decoded))
    ax1.set(xlabel="x", ylabel="target pdf - decoded pdf", title="Difference")
    fig.suptitle(f"Inversion with {checkpoint}; the residual is measured on the log-pdf", fontsize=10)
    return fig


def sweep_summary(labels: list[str], values: list[float], metric: str) -> Figure:
    """The optimized metric of each job of a sweep, best first, each bar labelled with its value."""
    width = max(len(label) for label in labels) * (0.068 if len(labels) <= 20 else 0.052) + 0.3
    fig, axes = _figure(1, 1, (5.0, 0.24 * max(len(labels), 4)), left=width, right=0.2, top=0.5, bottom=0.7)
    ax = axes[0, 0]
    bars = ax.barh(range(len(labels)), values, color="C0")
    ax.bar_label(bars, labels=[f"{v:.3g}" for v in values], padding=3, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8 if len(labels) <= 20 else 6)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # best at the top, no empty margin
    ax.set_xscale("log")
    decades = np.log10(max(values) / min(values)) if min(values) > 0 else 0
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,), numticks=30))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    low, high = min(values), max(values)
    ax.set_xlim(low / 1.5, high * 2.5)  # room for the value labels
    ax.set(xlabel=f"{metric} (lower is better)", title=f"Sweep of {len(labels)} jobs, best first")
    return fig


def frontier(rows: list[dict], front: list[dict], default: dict | None, time_key: str, error_key: str) -> Figure:
    """Every job of a sweep as training time against test error, coloured by activation, the Pareto front
    joined by a line, and the default ringed."""
    fig, axes = _figure(1, 1, (6.5, 4.2), right=2.6, top=0.5)
    ax = axes[0, 0]
    groups = sorted({(r.get("model.activation", ""), r.get("model.hidden", "")) for r in rows})
    markers = {hidden: m for hidden, m in zip(sorted({g[1] for g in groups}), "os^Dv")}
    colours = {act: f"C{i}" for i, act in enumerate(sorted({g[0] for g in groups}))}
    for activation, hidden in groups:
        mine = [r for r in rows if (r.get("model.activation", ""), r.get("model.hidden", "")) == (activation, hidden)]
        ax.scatter(
            [r[time_key] for r in mine],
            [r[error_key] for r in mine],
            s=22,
            alpha=0.8,
            color=colours[activation],
            marker=markers[hidden],
            label=f"{activation} {hidden}".strip(),
        )
    ax.plot(
        [r[time_key] for r in front],
        [r[error_key] for r in front],
        color="0.3",
        linewidth=1,
        zorder=0,
        label="Pareto front",
    )
    if default is not None:
        ax.scatter(
            [default[time_key]],
            [default[error_key]],
            s=160,
            facecolors="none",
            edgecolors="k",
            linewidths=1.5,
            label="default",
        )
    ax.set(
        xlabel="training time (s, train_time_s)",
        ylabel="test SSE per curve (log-pdf)",
        yscale="log",
        title=f"Time-quality frontier of {len(rows)} runs",
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig
