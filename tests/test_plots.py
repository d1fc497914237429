"""The figures a person looks at: no text drawn over another, or over the data it labels."""

import itertools

import matplotlib
import numpy as np
import pytest

from betaae import plots

matplotlib.use("Agg")

OPTUNA = "optimizer.lr={:.4g},scheduler.gamma={:.4g},data.batch_size={},model.hidden=[256,128]"


def texts_overlap(figure) -> list[tuple[str, str]]:
    """Pairs of visible texts (tick labels, value labels, title, axis label) whose drawn boxes intersect."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    texts = [t for t in figure.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


def marker_boxes(figure):
    """The drawn boxes of every data point (means, seeds, error bars' ends) on the figure."""
    ax = figure.axes[0]
    points = np.concatenate([c.get_offsets() for c in ax.collections if len(c.get_offsets())] or [np.zeros((0, 2))])
    lines = [line.get_xydata() for line in ax.lines if len(line.get_xydata())]
    return ax.transData.transform(np.concatenate([points, *lines])) if lines or len(points) else np.zeros((0, 2))


@pytest.mark.parametrize(
    "case",
    ["seeds", "optuna", "many"],
)
def test_sweep_summary_draws_no_text_over_another_or_over_a_point(case):
    rng = np.random.default_rng(0)
    if case == "seeds":
        points = [list(v * np.exp(rng.normal(0, 0.4, 5))) for v in (2e-4, 4e-4, 9e-4, 2e-3)]
        labels, values = [f"latent_dims={i}" for i in range(4)], [float(np.mean(p)) for p in points]
    else:
        n = 3 if case == "optuna" else 25
        labels = [OPTUNA.format(10 ** rng.uniform(-4, -1.5), rng.uniform(0.9, 1), 64) for _ in range(n)]
        values, points = sorted(10 ** rng.uniform(-4, -1, n)), None
    figure = plots.sweep_summary(labels, values, "val/sse_per_curve_best", points)
    assert texts_overlap(figure) == []
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    labels_drawn = [t for t in figure.axes[0].texts]  # the value labels
    assert len(labels_drawn) == len(labels)
    for text in labels_drawn:
        box = text.get_window_extent(renderer)
        inside = [(x, y) for x, y in marker_boxes(figure) if box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1]
        assert inside == [], text.get_text()
    assert all(text.get_window_extent(renderer).x1 <= figure.bbox.x1 for text in labels_drawn)  # none cut off
