"""The time-quality frontier of finished sweeps: `python benchmarks/frontier.py SWEEP_DIR [...] [--out FILE]`.

Reads each sweep's job directories (sweeps of the same settings, such as a study run in parts), groups the
jobs of each setting over their seeds, and finds the settings that no other beats on both mean training
time and mean val SSE per curve (the Pareto front, chosen on val: test figures are reported, never used
to choose). The chart shows every setting's mean and spread over seeds, on val (what the choice is made
on) beside test (what a user gets), with the front joined and the current default ringed; the front is
printed as a table. Made for `python train.py hparams_search=frontier`; works on any sweep over seeds.
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

from betaae.core.files import save_figure
from betaae.runs.hparams import setting

TIME, VAL, TEST = "train_time_s", "val/sse_per_curve_best", "test/sse_per_curve"
ROOT = Path(__file__).resolve().parents[1]


def pareto_front(rows: list[dict], time_key: str = TIME, error_key: str = VAL) -> list[dict]:
    """The rows no other row beats on both time and error, fastest first."""
    front, best = [], math.inf
    for row in sorted(rows, key=lambda r: (r[time_key], r[error_key])):
        if row[error_key] < best:
            front.append(row)
            best = row[error_key]
    return front


def is_default(row: dict, varying: list[str], defaults) -> bool:
    """Whether a setting's swept values are those of `python train.py` with no overrides."""
    for key in varying:
        value = setting(defaults, key)
        shown = str(row[key])
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isclose(float(shown), float(value), rel_tol=1e-9):
                return False
        elif str(value).replace(" ", "") != shown.replace(" ", ""):
            return False
    return True


def settings_over_seeds(sweep_dirs: list[Path]) -> tuple[list[dict], list[str]]:
    """One row per setting (its swept values other than the seed): mean and sd over seeds of time, val, test."""
    from betaae.sweep.record import swept_settings
    from betaae.sweep.summary import SEED, job_row, setting_label

    varying = list(dict.fromkeys(k for d in sweep_dirs for k in swept_settings(str(d)) or []))
    shown = [k for k in varying if k != SEED]
    groups: dict[str, list[dict]] = {}
    for sweep_dir in sweep_dirs:
        for job in sorted(p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()):
            row = job_row(job, varying, VAL)
            if row["status"] == "ok":
                groups.setdefault(setting_label(row, varying), []).append(row)
    rows = []
    for label, jobs in groups.items():
        row = {"setting": label, "seeds": len(jobs), **{k: jobs[0][k] for k in shown}}
        for key in (TIME, VAL, TEST, "test/sse_per_curve_edge", "late_val_spikes", "wall_time_s"):
            values = [float(j[key]) for j in jobs if j.get(key) is not None]
            if values:
                row[key] = statistics.fmean(values)
                row[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(row)
    return rows, shown


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dirs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, help="the chart (default: frontier.png in the first SWEEP_DIR)")
    args = parser.parse_args(argv)
    from hydra import compose, initialize_config_dir

    from betaae import plots
    from betaae.cli.main import register_resolvers

    rows, shown = settings_over_seeds(args.sweep_dirs)
    register_resolvers()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        defaults = compose(config_name="train")
    default = next((r for r in rows if is_default(r, shown, defaults)), None)
    front = pareto_front(rows)
    out = args.out or args.sweep_dirs[0] / "frontier.png"
    save_figure(out, plots.frontier(rows, front, default, TIME, VAL, TEST, shown))
    columns = [*shown, "seeds", TIME, VAL, TEST, "test/sse_per_curve_edge", "late_val_spikes"]
    print("Pareto front on val, fastest first (mean ± sd over seeds):")
    print("  ".join(columns))
    for row in front:
        print("  ".join(_cell(row, c) for c in columns) + ("   <- default" if row is default else ""))
    if default is not None and default not in front:
        print("default (not on the front):", "  ".join(_cell(default, c) for c in columns))
    print(f"written: {out}")
    return front


def _cell(row: dict, column: str) -> str:
    value = row.get(column, "")
    if isinstance(value, float):
        text = f"{value:.4g}"
        return f"{text}±{row[column + '_sd']:.2g}" if f"{column}_sd" in row else text
    return str(value)


if __name__ == "__main__":
    main()
