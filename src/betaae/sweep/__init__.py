"""Sweeps (Hydra multiruns): job directories named by what varies, one record per sweep, a summary at the
end, and sweeps that stop and continue. `python -m betaae.sweep SWEEP_DIR` rebuilds a sweep's summary.

- `naming`: job directory names, and the settings a sweep varies;
- `record`: the sweep's record (`sweep.yaml`) and its continue command;
- `summary`: job rows, the per-setting table over seeds, `summary.csv` and `summary.png`;
- `callback`: the Hydra callback that keeps the record and writes the summary.

May import: every subpackage below the command line (`betaae.runs` too, which sits beside it).
"""

from betaae.core.lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {"SweepSummary": "callback", "summarize": "summary"})
