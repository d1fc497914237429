"""Every figure of the project: functions that take arrays and return a matplotlib Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files and TensorBoard

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def _pdf(log_pdf: np.ndarray) -> np.ndarray:
    """exp of a log-pdf, clipped so that a wild reconstruction early in training cannot overflow."""
    return np.exp(np.clip(log_pdf, -80.0, 80.0))


def _label(names: tuple[str, ...] | list[str], values: np.ndarray) -> str:
    return ", ".join(f"{n}={v:.3f}" for n, v in zip(names, values))


def sample_curves(grid: np.ndarray, log_pdfs: np.ndarray, params: np.ndarray, names: list[str]) -> Figure:
    """A few pdfs of the training family, each labelled with its parameters."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for log_pdf, p in zip(log_pdfs, params):
        ax.plot(grid, _pdf(log_pdf), label=_label(names, p))
    ax.set(xlabel="x", ylabel="pdf", title="Sample curves")
    ax.legend(fontsize=8)
    return fig


def loss_history(rows: list[dict]) -> Figure:
    """Mean per-curve squared error of train and val, per epoch, on a log scale."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ("train/sse_per_curve", "val/sse_per_curve"):
        points = [(r["epoch"], r[key]) for r in rows if key in r]
        if points:
            ax.plot(*zip(*points), label=key)
    ax.set(xlabel="epoch", ylabel="SSE per curve", yscale="log", title="Loss history")
    ax.legend()
    return fig


def latent_histograms(latent: np.ndarray) -> Figure:
    """One histogram per latent coordinate."""
    dims = latent.shape[1]
    fig, axes = plt.subplots(ncols=dims, figsize=(4 * dims, 3.5), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.hist(latent[:, i], bins=50, color=f"C{i}")
        ax.set(xlabel=f"z_{i + 1}", ylabel="count")
    fig.tight_layout()
    return fig


def reconstructions(
    grid: np.ndarray, targets: np.ndarray, recon: np.ndarray, params: np.ndarray, names: list[str]
) -> Figure:
    """Target pdfs (solid) beside their reconstructions (dashed), one panel per curve."""
    n = len(targets)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, target, rec, p in zip(axes.flat, targets, recon, params):
        ax.plot(grid, _pdf(target), label="target")
        ax.plot(grid, _pdf(rec), "--", label="reconstruction")
        ax.set_title(_label(names, p), fontsize=9)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def latent_scatter(latent: np.ndarray, values: np.ndarray, name: str) -> Figure:
    """Latent codes coloured by one parameter (for one latent dimension, code against the parameter)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    if latent.shape[1] == 1:
        points = ax.scatter(values, latent[:, 0], c=values, s=4, cmap="viridis")
        ax.set(xlabel=name, ylabel="z_1")
    else:
        points = ax.scatter(latent[:, 0], latent[:, 1], c=values, s=4, cmap="viridis")
        ax.set(xlabel="z_1", ylabel="z_2")
    fig.colorbar(points, ax=ax, label=name)
    ax.set_title(f"Latent codes coloured by {name}")
    return fig


def inversion(
    grid: np.ndarray, target: np.ndarray, decoded: np.ndarray, target_label: str, decoded_label: str
) -> Figure:
    """Target pdf and decoded pdf on the left, their difference on the right."""
    fig, (ax0, ax1) = plt.subplots(ncols=2, figsize=(10, 4))
    ax0.plot(grid, _pdf(target), label=target_label)
    ax0.plot(grid, _pdf(decoded), "--", label=decoded_label)
    ax0.set(xlabel="x", ylabel="pdf", title="Target and decoded pdf")
    ax0.legend(fontsize=8)
    ax1.plot(grid, _pdf(target) - _pdf(decoded))
    ax1.set(xlabel="x", ylabel="error", title="target pdf - decoded pdf")
    fig.tight_layout()
    return fig


def sweep_summary(labels: list[str], values: list[float], metric: str) -> Figure:
    """The optimized metric of each job of a sweep, best first (failed jobs are left out)."""
    fig, ax = plt.subplots(figsize=(7, 0.4 * max(len(labels), 3) + 1))
    ax.barh(range(len(labels)), values, color="C0")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel=metric, xscale="log", title="Sweep summary")
    fig.tight_layout()
    return fig
