"""After a multirun: one CSV row per job (overrides, status, metrics), best first, and a chart of it."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from betaae.outputs import save_figure, write_csv

log = logging.getLogger("betaae")


def job_row(job_dir: Path, metric: str) -> dict[str, Any]:
    """Status, overrides and metrics of one job, read from what the job left in its directory."""
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
    row: dict[str, Any] = {"job": job_dir.name, "overrides": " ".join(overrides or [])}
    if (job_dir / "error.txt").exists():
        row["status"] = "failed"
        row["error"] = (job_dir / "error.txt").read_text().strip().splitlines()[-1][:300]
    elif (job_dir / "metrics.json").exists():
        row["status"] = "ok"
        row.update(
            {k: v for k, v in json.loads((job_dir / "metrics.json").read_text()).items() if k != "best_checkpoint"}
        )
    else:
        row["status"] = "incomplete"
    row.setdefault(metric, None)
    return row


def summarize(sweep_dir: Path, metric: str) -> list[dict[str, Any]]:
    """Write summary.csv and summary.png into the sweep directory; returns the rows, best first."""
    rows = [job_row(d, metric) for d in sorted(sweep_dir.iterdir()) if (d / ".hydra").is_dir()]

    def key(row: dict[str, Any]) -> tuple[bool, float]:
        value = row.get(metric)
        ok = isinstance(value, (int, float)) and math.isfinite(value)
        return (not ok, value if ok else 0.0)

    rows.sort(key=key)
    first = ["job", "status", metric, "test/sse_per_curve", "train_time_s", "overrides", "error"]
    columns = list(dict.fromkeys(first + [k for row in rows for k in row]))
    write_csv(sweep_dir / "summary.csv", rows, columns)
    done = [r for r in rows if r["status"] == "ok" and r.get(metric) is not None]
    if done:
        from betaae import plots

        labels = [r["overrides"] or r["job"] for r in done]
        save_figure(sweep_dir / "summary.png", plots.sweep_summary(labels, [r[metric] for r in done], metric))
    return rows


class SweepSummary(Callback):
    """Hydra callback: summarizes every multirun, and remembers failures for the exit code."""

    failed_jobs = 0
    last_summary: Path | None = None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows = summarize(sweep_dir, config.get("optimized_metric", "val/sse_per_curve_best"))
        SweepSummary.failed_jobs = sum(r["status"] != "ok" for r in rows)
        SweepSummary.last_summary = sweep_dir / "summary.csv"
        log.info(
            "sweep summary: %s (%d jobs, %d failed)", SweepSummary.last_summary, len(rows), SweepSummary.failed_jobs
        )
