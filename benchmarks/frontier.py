"""The time-quality frontier of finished sweeps: `python benchmarks/frontier.py SWEEP_DIR [SWEEP_DIR ...] [--out FILE]`.

Reads each sweep's summary.csv (sweeps of the same settings, such as a study run in parts), finds the jobs
that no other job beats on both training time and test SSE per curve (the Pareto front), draws all jobs
with the front and the current default marked, and prints the front as a table. Made for
`python train.py hparams_search=frontier`; works on any sweep.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

from betaae.hparams import setting
from betaae.outputs import save_figure

TIME, ERROR = "train_time_s", "test/sse_per_curve"


def pareto_front(rows: list[dict]) -> list[dict]:
    """The rows no other row beats on both time and error, fastest first."""
    front, best = [], math.inf
    for row in sorted(rows, key=lambda r: (r[TIME], r[ERROR])):
        if row[ERROR] < best:
            front.append(row)
            best = row[ERROR]
    return front


def is_default(row: dict, varying: list[str], defaults) -> bool:
    """Whether a job's swept settings are those of `python train.py` with no overrides."""
    for key in varying:
        value = setting(defaults, key)
        shown = row[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isclose(float(shown), float(value), rel_tol=1e-9):
                return False
        elif str(value).replace(" ", "") != shown.replace(" ", ""):
            return False
    return True


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dirs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, help="the chart (default: frontier.png in the first SWEEP_DIR)")
    args = parser.parse_args(argv)
    from hydra import compose, initialize_config_dir

    import betaae.plots as plots
    from betaae.sweep import swept_settings

    rows = []
    for sweep_dir in args.sweep_dirs:
        with open(sweep_dir / "summary.csv") as f:
            rows += [r for r in csv.DictReader(f) if r["status"] == "ok"]
    for row in rows:
        row[TIME], row[ERROR] = float(row[TIME]), float(row[ERROR])
    varying = list(dict.fromkeys(k for d in args.sweep_dirs for k in swept_settings(str(d)) or []))
    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        defaults = compose(config_name="train")
    default = next((r for r in rows if is_default(r, varying, defaults)), None)
    front = pareto_front(rows)
    out = args.out or args.sweep_dirs[0] / "frontier.png"
    save_figure(out, plots.frontier(rows, front, default, TIME, ERROR))
    columns = [*varying, TIME, ERROR, "late_val_spikes"]
    print("Pareto front (fastest first):")
    print("  ".join(columns))
    for row in front:
        print("  ".join(str(row.get(c, "")) for c in columns) + ("   <- default" if row is default else ""))
    if default is not None and default not in front:
        print("default (not on the front):", "  ".join(str(default.get(c, "")) for c in columns))
    print(f"written: {out}")
    return front


if __name__ == "__main__":
    main()
