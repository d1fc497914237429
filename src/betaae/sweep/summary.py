"""A sweep's summary, rebuilt from its job directories at any time: one row per job (status, swept settings,
figures), one row per setting over seeds when a sweep repeats settings, `summary.csv`, `summary.png` and the
table printed at the end, best first by the sweep's validation metric."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from betaae.core.commands import shell, tool
from betaae.core.files import save_figure, write_csv
from betaae.runs.hparams import override_key
from betaae.sweep.naming import job_overrides, short_value
from betaae.sweep.record import DEFAULT_METRIC, swept_settings

SEED = "seed"

FIGURES = (
    "val/sse_per_curve_best",
    "test/sse_per_curve",
    "test/sse_per_curve_median",
    "test/sse_relative",
    "test_inversion/error_p90",
    "test_inversion/failed",
    "test_inversion/coverage_95",
    "train_time_s",
)


def job_status(job_dir: Path) -> str:
    """ok, failed, interrupted (it has a checkpoint to resume from) or incomplete, from what the job left."""
    if (job_dir / "metrics.json").is_file() and not (job_dir / "error.txt").is_file():
        return "ok"
    if (job_dir / "error.txt").is_file():
        return "failed"
    if (job_dir / "checkpoints" / "last.ckpt").is_file():
        return "interrupted"
    return "incomplete"


def job_row(job_dir: Path, varying: list[str], metric: str) -> dict[str, Any]:
    """Status, swept settings and metrics of one job, read from what the job left in its directory."""
    values = {override_key(o): o.split("=", 1)[1] for o in job_overrides(job_dir) or [] if "=" in o}
    row: dict[str, Any] = {
        "job": job_dir.name,
        "status": job_status(job_dir),
        **{k: values.get(k, "") for k in varying},
    }
    if row["status"] == "failed":
        lines = _read(job_dir / "error.txt").strip().splitlines()
        row["error"] = lines[-1][:300] if lines else "failed (its error.txt is empty)"
    elif row["status"] == "ok":
        try:
            metrics = json.loads(_read(job_dir / "metrics.json"))
        except ValueError:
            metrics = None
        if isinstance(metrics, dict):
            row.update(metrics)
        else:  # a job's file damaged after it ended: say so in its row, and go on with the others
            row.update(status="failed", error="its metrics.json cannot be read (truncated, or not a JSON object)")
    row.setdefault(metric, None)
    return row


def study_rows(sweep_dir: Path, rows: list[dict[str, Any]], varying: list[str], metric: str) -> list[dict]:
    """For a search: each job's trial number, and one row for every trial of the study that another worker
    ran (its state, settings and value, read from the study), so that every worker's summary lists them all."""
    from betaae.sweep.record import read_record

    study = (read_record(sweep_dir) or {}).get("study")
    if not isinstance(study, dict) or not study.get("storage"):
        return []
    from betaae.core.errors import BetaaeError
    from betaae.search.study import trial_rows

    try:
        trials = trial_rows(study["storage"], study["name"], metric)
    except BetaaeError:  # the server is gone since: this worker's own jobs are still listed
        return []
    here = {str((sweep_dir / r["job"]).resolve()): r for r in rows}
    states = {"complete": "ok", "fail": "failed", "pruned": "pruned"}
    others = []
    for trial in trials:
        own = here.get(str(Path(trial["job_dir"]).resolve())) if trial["job_dir"] else None
        if own is not None:
            own["trial"] = trial["trial"]
            continue
        where = Path(trial["job_dir"]) if trial["job_dir"] else None
        others.append(
            {
                "job": f"{where.parent.name}/{where.name}" if where else f"trial {trial['trial']}",
                "status": states.get(trial["state"], trial["state"]),
                "trial": trial["trial"],
                "worker": str(where.parent) if where else "",
                **{k: trial["params"].get(k, "") for k in varying},
                metric: trial[metric],
                **({"epochs": trial["epochs"]} if trial["epochs"] is not None else {}),
            }
        )
    return others


def _read(path: Path) -> str:
    """A job's text file, or "" where it cannot be read (another user's, with no read permission)."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: float(f"{v:.4g}") if finite(v) and isinstance(v, float) else v for k, v in row.items()}


def setting_label(row: dict[str, Any], varying: list[str]) -> str:
    """A job's swept settings other than the seed: the jobs of one setting differ only by their seed."""
    return ",".join(f"{k}={short_value(str(row.get(k, '')))}" for k in varying if k != SEED) or "all jobs"


def over_seeds(rows: list[dict[str, Any]], varying: list[str], metric: str) -> list[dict[str, Any]]:
    """One row per setting: the mean and standard deviation over its seeds of every metric, best first.

    Empty unless the sweep repeats a setting (over seeds): then each setting is what is compared."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["setting"], []).append(row)
    if SEED not in varying and all(len(g) == 1 for g in groups.values()):
        return []
    summary = []
    for label, members in groups.items():
        done = [r for r in members if r["status"] == "ok"]
        aggregate: dict[str, Any] = {
            "job": f"{label} (over seeds)",
            "status": "over seeds",
            "setting": label,
            **{k: members[0].get(k, "") for k in varying if k != SEED},
            SEED: ",".join(str(r.get(SEED, "")) for r in done),
            "seeds": len(done),
        }
        numeric = sorted({k for r in done for k, v in r.items() if finite(v)} - set(varying) - {"seeds", "trial"})
        for key in numeric:
            values = [float(r[key]) for r in done if finite(r.get(key))]
            if values:
                aggregate[key] = statistics.fmean(values)
                aggregate[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        summary.append(aggregate)
    summary.sort(key=lambda r: (not finite(r.get(metric)), r[metric] if finite(r.get(metric)) else 0.0))
    return summary


def summarize(sweep_dir: Path, metric: str = DEFAULT_METRIC, write: bool = True) -> tuple[list[dict], list[dict]]:
    """Write summary.csv and summary.png into the sweep directory from its job directories (unless `write` is
    False: someone else's sweep); returns the job rows and the per-setting rows (empty without repeated
    settings), each best first."""
    varying = list(swept_settings(str(sweep_dir)) or [])
    jobs = [d for d in sorted(sweep_dir.iterdir()) if d.is_dir() and (d / ".hydra").is_dir()]
    rows = [job_row(d, varying, metric) for d in jobs]
    rows += study_rows(sweep_dir, rows, varying, metric)
    for row in rows:
        row["setting"] = setting_label(row, varying)
    rows.sort(key=lambda r: (not finite(r.get(metric)), r[metric] if finite(r.get(metric)) else 0.0))
    settings = over_seeds(rows, varying, metric)
    first = ["job", "status", "trial", *varying, "setting", "seeds", metric, f"{metric}_sd", *FIGURES, "error"]
    every = [*rows, *settings]
    columns = list(dict.fromkeys(first + [k for row in every for k in row if k != "best_checkpoint"]))
    columns = [c for c in columns if any(c in row for row in every)]
    if not write:
        return rows, settings
    write_csv(sweep_dir / "summary.csv", [_rounded(r) for r in every], columns)
    from betaae import plots

    if settings and any(finite(r.get(metric)) for r in settings):
        shown = [r for r in settings if finite(r.get(metric))]
        points = [
            [float(j[metric]) for j in rows if j["setting"] == r["setting"] and finite(j.get(metric))] for r in shown
        ]
        figure = plots.sweep_summary([r["setting"] for r in shown], [r[metric] for r in shown], metric, points)
        save_figure(sweep_dir / "summary.png", figure)
    elif any(r["status"] == "ok" and finite(r.get(metric)) for r in rows):
        done = [r for r in rows if r["status"] == "ok" and finite(r.get(metric))]
        labels = [",".join(f"{k}={short_value(str(r[k]))}" for k in varying) or r["job"] for r in done]
        save_figure(sweep_dir / "summary.png", plots.sweep_summary(labels, [r[metric] for r in done], metric))
    return rows, settings


def _cell(row: dict[str, Any], name: str, fmt: str) -> str:
    if not finite(row.get(name)):
        return "-"
    text = fmt.format(row[name])
    return f"{text} ± {fmt.format(row[f'{name}_sd'])}" if finite(row.get(f"{name}_sd")) else text


def table(rows: list[dict[str, Any]], varying: list[str], metric: str, limit: int = 20) -> str:
    """The sweep's jobs (or settings), best first, as aligned columns of the swept settings and key figures."""
    formats = {
        metric: "{:.4g}",
        "test/sse_per_curve": "{:.4g}",
        "test/sse_relative": "{:.3g}",
        "test_inversion/error_p90": "{:.3g}",
        "test_inversion/failed": "{:.3f}",
        "train_time_s": "{:.1f}",
    }
    header = [*varying, *formats, "status"]
    lines = []
    for row in rows[:limit]:
        cells = [short_value(str(row.get(k, ""))) for k in varying]
        cells += [_cell(row, name, fmt) for name, fmt in formats.items()]
        lines.append([*cells, row["status"] if row["status"] != "over seeds" else f"{row['seeds']} seeds"])
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines)]
    text = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *lines]]
    if len(rows) > limit:
        text.append(f"... and {len(rows) - limit} more in summary.csv")
    return "\n".join(text)


def report(sweep_dir: Path, metric: str = DEFAULT_METRIC, write: bool = True) -> tuple[str, int]:
    """The end-of-sweep text (summary written first, if `write`) and the number of jobs that did not end well."""
    rows, settings = summarize(sweep_dir, metric, write)
    varying = list(swept_settings(str(sweep_dir)) or [])
    failed = sum(r["status"] == "failed" for r in rows if "worker" not in r)  # this worker's own jobs
    pruned = sum(r["status"] == "pruned" for r in rows)
    unfinished = sum(r["status"] in ("interrupted", "incomplete") for r in rows)
    others = sum("worker" in r for r in rows)
    counts = (
        f"{len(rows)} jobs, {failed} failed"
        + (f", {pruned} pruned" if pruned else "")
        + (f", {unfinished} unfinished" if unfinished else "")
        + (f" ({others} run by other workers on the study)" if others else "")
    )
    lines = [f"sweep: {counts}; best first by {metric}"]
    if settings:
        shown = [k for k in varying if k != SEED]
        lines += ["mean ± sd over seeds, per setting:", table(settings, shown, metric), "", "jobs:"]
    lines.append(table(rows, varying, metric))
    best = next((r for r in rows if r["status"] == "ok"), None)
    if settings and finite(settings[0].get(metric)):
        lines.append(f"best setting: {settings[0]['setting']} ({settings[0]['seeds']} seeds)")
    if best is not None:
        place = Path(best["worker"]) / Path(best["job"]).name if "worker" in best else sweep_dir / best["job"]
        lines.append(f"best job:   {place}")
        # The path metrics.json recorded is where the sweep ran; a sweep since moved has it under its job.
        moved = place / "checkpoints" / "best.ckpt"
        checkpoint = moved if moved.is_file() else best.get("best_checkpoint")
        if checkpoint:
            lines.append(f"checkpoint: {checkpoint}")
    lines += [
        f"summary:    {sweep_dir / 'summary.csv'}, summary.png"
        + ("" if write else " (not rewritten: the sweep directory is not writable by you)"),
        f"compare:    {shell(tool('tensorboard'))} --logdir {shell(str(sweep_dir))}",
    ]
    return "\n".join(lines), failed
