"""Multiruns: jobs named by what varies, one record per sweep, and a summary at the end.

- At the start (a Hydra callback), the sweep's overrides are split into swept and constant ones and
  written to sweep.yaml, with TensorBoard's experiment summary (betaae.compare).
- Each job's directory, and so its TensorBoard run, is named by its values of the swept settings
  (`latent_dims=1,model.lr=0.003`); Optuna trials by their sampled values, rounded.
- At the end: summary.csv (one row per job, one column per swept setting), summary.png, and a short
  table on the console, best first, with the best job's directory and checkpoint. If jobs failed,
  the process exits 1 (raising SystemExit: Hydra's callback runner catches every Exception).
"""

from __future__ import annotations

import json
import logging
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from betaae.compare import override_key, run_settings, write_experiment
from betaae.outputs import atomic_write_bytes, save_figure, write_csv
from betaae.runs import unique_dir

log = logging.getLogger("betaae")
RECORD = "sweep.yaml"


def short_value(value: str) -> str:
    """An override's value, with long floats rounded to 4 significant digits and no path separators."""
    value = re.sub(r"-?\d+\.\d*(?:[eE]-?\d+)?|-?\d+[eE]-?\d+", lambda m: f"{float(m.group()):.4g}", value)
    return value.replace("/", "_").replace(" ", "")


def split_overrides(overrides: list[str], sweeper_params: list[str]) -> tuple[list[str], list[str]]:
    """(keys that vary across the sweep, overrides that stay constant)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    varying = [o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()]
    varying += [k for k in sweeper_params if k not in varying]
    constant = [text for o, text in zip(parsed, overrides) if not o.is_sweep_override()]
    return varying, constant


@cache
def swept_settings(sweep_dir: str) -> tuple[str, ...] | None:
    """The settings a sweep varies, from its record (None if it has none: not one of betaae's sweeps)."""
    record = Path(sweep_dir) / RECORD
    return tuple(yaml.safe_load(record.read_text())["varying"]) if record.is_file() else None


def job_dirname(sweep_dir: str, num: int, overrides: list[str]) -> str:
    """A job's directory name: its values of the swept settings, unique inside the sweep."""
    varying = swept_settings(str(sweep_dir))
    chosen = [o for o in overrides if varying is None or override_key(o) in varying]
    name = ",".join(f"{override_key(o)}={short_value(o.split('=', 1)[1])}" for o in chosen) or f"job{num}"
    if len(name) > 150:  # file systems refuse names over 255 bytes
        name = f"{name[:140]}...#{num}"
    return Path(unique_dir(str(Path(sweep_dir) / name))).name


def job_row(job_dir: Path, varying: list[str], metric: str) -> dict[str, Any]:
    """Status, swept settings and metrics of one job, read from what the job left in its directory."""
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
    values = {override_key(o): o.split("=", 1)[1] for o in overrides or [] if "=" in o}
    row: dict[str, Any] = {"job": job_dir.name, **{k: values.get(k, "") for k in varying}}
    if (job_dir / "error.txt").exists():
        row["status"] = "failed"
        row["error"] = (job_dir / "error.txt").read_text().strip().splitlines()[-1][:300]
    elif (job_dir / "metrics.json").exists():
        row["status"] = "ok"
        row.update(json.loads((job_dir / "metrics.json").read_text()))
    else:
        row["status"] = "incomplete"
    row.setdefault(metric, None)
    return row


def _ok(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: float(f"{v:.4g}") if _ok(v) and isinstance(v, float) else v for k, v in row.items()}


def summarize(sweep_dir: Path, metric: str) -> list[dict[str, Any]]:
    """Write summary.csv and summary.png into the sweep directory; returns the rows, best first."""
    varying = list(swept_settings(str(sweep_dir)) or [])
    rows = [job_row(d, varying, metric) for d in sorted(sweep_dir.iterdir()) if (d / ".hydra").is_dir()]
    rows.sort(key=lambda r: (not _ok(r.get(metric)), r[metric] if _ok(r.get(metric)) else 0.0))
    first = ["job", "status", *varying, metric, "test/sse_per_curve", "train_time_s", "wall_time_s", "error"]
    columns = list(dict.fromkeys(first + [k for row in rows for k in row if k != "best_checkpoint"]))
    write_csv(sweep_dir / "summary.csv", [_rounded(r) for r in rows], columns)
    done = [r for r in rows if r["status"] == "ok" and _ok(r.get(metric))]
    if done:
        from betaae import plots

        labels = [",".join(f"{k}={short_value(str(r[k]))}" for k in varying) or r["job"] for r in done]
        save_figure(sweep_dir / "summary.png", plots.sweep_summary(labels, [r[metric] for r in done], metric))
    return rows


def table(rows: list[dict[str, Any]], varying: list[str], metric: str, limit: int = 20) -> str:
    """The sweep's jobs, best first, as aligned columns of the swept settings and the key figures."""
    formats = {metric: "{:.4g}", "test/sse_per_curve": "{:.4g}", "train_time_s": "{:.1f}"}
    figures = list(formats.items())  # the optimized metric first, once
    header = [*varying, *(name for name, _ in figures), "status"]
    lines = []
    for row in rows[:limit]:
        cells = [short_value(str(row.get(k, ""))) for k in varying]
        cells += [fmt.format(row[name]) if _ok(row.get(name)) else "-" for name, fmt in figures]
        lines.append([*cells, row["status"]])
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines)]
    text = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *lines]]
    if len(rows) > limit:
        text.append(f"... and {len(rows) - limit} more in summary.csv")
    return "\n".join(text)


class SweepSummary(Callback):
    """Hydra callback: records each multirun at its start and summarizes it at its end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)  # resolving it creates it (runs.unique_dir)
        params = list((config.hydra.sweeper.get("params") or {}).keys())
        varying, constant = split_overrides(list(config.hydra.overrides.task), params)
        atomic_write_bytes(sweep_dir / RECORD, yaml.safe_dump({"varying": varying, "constant": constant}).encode())
        choices = OmegaConf.to_container(config.hydra.runtime.choices)
        write_experiment(sweep_dir, varying, run_settings(config, varying, choices))
        print(f"sweep:      {sweep_dir} (one line per job as it ends)", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        metric = config.get("optimized_metric", "val/sse_per_curve_best")
        rows = summarize(sweep_dir, metric)
        varying = list(swept_settings(str(sweep_dir)) or [])
        failed = sum(r["status"] != "ok" for r in rows)
        lines = [f"sweep: {len(rows)} jobs, {failed} failed; best first by {metric}", table(rows, varying, metric)]
        best = next((r for r in rows if r["status"] == "ok"), None)
        if best is not None:
            lines.append(f"best job:   {sweep_dir / best['job']}")
            if best.get("best_checkpoint"):
                lines.append(f"checkpoint: {best['best_checkpoint']}")
        lines += [
            f"summary:    {sweep_dir / 'summary.csv'}, summary.png",
            f"compare:    tensorboard --logdir {sweep_dir}",
        ]
        print("\n".join(lines), flush=True)
        if failed:
            raise SystemExit(f"error: {failed} job(s) of the sweep failed; see {sweep_dir / 'summary.csv'}")
