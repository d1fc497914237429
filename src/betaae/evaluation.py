"""How a trained model is scored: the figures every run reports, computed one way for runs and benchmarks."""

from __future__ import annotations

import math

# The notebook's final SSE per curve, and the quality the defaults aim well below: seconds to reach each.
QUALITY_MARKS = (0.038, 0.002)


def late_spikes(vals: list[float]) -> int:
    """Epochs in the last third whose val SSE per curve is above twice the best so far: 0 is a smooth end,
    where the last weights are as good as the best checkpoint's."""
    best, spikes = math.inf, 0
    for epoch, value in enumerate(vals):
        spikes += epoch >= 2 * len(vals) // 3 and value > 2 * best
        best = min(best, value)
    return spikes
