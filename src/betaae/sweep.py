"""Sweeps (multiruns): jobs named by what varies, one record per sweep, a summary at the end, and sweeps that
stop cleanly and continue where they stopped.

- At the start (a Hydra callback), the sweep's overrides are split into swept and constant ones and
  written to sweep.yaml, with the command that runs it; the sweep's directory is locked while it runs.
- Each job's directory, and so its TensorBoard run, is named by its values of the swept settings
  (`latent_dims=1,optimizer.lr=0.003`); Optuna trials by their sampled values, rounded.
- Ctrl-C or SIGTERM stops the whole sweep (exit 130 or 143) and prints the command that continues it:
  the same command with `hydra.sweep.dir=<the sweep>`. Continued, a sweep keeps its finished jobs as they
  are, resumes interrupted ones from their last.ckpt, and runs the ones it had not reached.
- At the end (or when stopped): summary.csv (one row per job, one column per swept setting, and one row
  per setting with the mean and standard deviation over seeds when a sweep repeats settings over seeds),
  summary.png, and a short table on the console, best first by the validation metric. If jobs failed,
  the process exits 1 (raising SystemExit: Hydra's callback runner catches every Exception).
  `python -m betaae.sweep SWEEP_DIR` rebuilds the summary from the job directories at any time.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import statistics
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from betaae.commands import override, script, shell
from betaae.errors import Abort, BetaaeError, ConfigError, ResumeError, ours_in
from betaae.hparams import override_key
from betaae.outputs import atomic_write_bytes, available_memory_host, save_figure, write_csv
from betaae.rundirs import (
    check_path_length,
    expand,
    holds_files,
    lock_run,
    note_new,
    release_locks,
    remove_created,
    unique_dir,
)

log = logging.getLogger("betaae")
RECORD = "sweep.yaml"
SEED = "seed"
SWEEP_PID = "BETAAE_SWEEP_PID"  # set by the sweep's own process, so that its workers know they are workers
DEFAULT_METRIC = "val/sse_per_curve_best"
FIGURES = ("val/sse_per_curve_best", "test/sse_per_curve", "test/sse_per_curve_median", "train_time_s")
_active: dict[str, Any] = {}  # the sweep this process runs: its directory, record and metric


def sweep_jobs() -> int:
    """How many jobs a sweep runs at once by default: one per core (as joblib counts them, cgroup limits and
    CPU affinity included), and no more than the memory holds at about 1 GiB per job."""
    from joblib import cpu_count

    free = available_memory_host()
    by_memory = max(1, int(free // 2**30)) if free is not None else cpu_count()
    return max(1, min(cpu_count(), by_memory))


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


def read_record(sweep_dir: str | os.PathLike) -> dict | None:
    path = Path(sweep_dir) / RECORD
    try:
        record = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return None
    return record if isinstance(record, dict) else None


@cache
def swept_settings(sweep_dir: str) -> tuple[str, ...] | None:
    """The settings a sweep varies, from its record (None if it has none: not one of betaae's sweeps)."""
    record = read_record(sweep_dir)
    return tuple(record["varying"]) if record is not None else None


def _job_num(job_dir: Path) -> int | None:
    try:
        return int(yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["num"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return None


def _job_overrides(job_dir: Path) -> list[str] | None:
    try:
        overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return list(overrides) if isinstance(overrides, list) else None


_continued: set[Path] = set()  # job directories of an earlier attempt that this process carries on


def job_dirname(sweep_dir: str, num: int, overrides: list[str]) -> str:
    """A job's directory name: its values of the swept settings, unique inside the sweep. When a sweep is
    continued, a job gets back the directory its earlier attempt had (same number, same overrides)."""
    varying = swept_settings(str(sweep_dir))
    chosen = [o for o in overrides if varying is None or override_key(o) in varying]
    name = ",".join(f"{override_key(o)}={short_value(o.split('=', 1)[1])}" for o in chosen) or f"job{num}"
    if len(name) > 150:  # file systems refuse names over 255 bytes
        name = f"{name[:140]}...#{num}"
    for attempt in range(100):
        earlier = Path(sweep_dir) / (name if attempt == 0 else f"{name}-{attempt}")
        if not earlier.is_dir():
            break
        if _job_num(earlier) == num and _job_overrides(earlier) == list(overrides):
            _continued.add(earlier.resolve())
            return earlier.name
    return Path(unique_dir(str(Path(sweep_dir) / name))).name


def continued(job_dir: str | os.PathLike) -> bool:
    return Path(job_dir).resolve() in _continued


def in_worker() -> bool:
    """Whether this process runs jobs for a sweep started by another process (the joblib launcher's)."""
    pid = os.environ.get(SWEEP_PID)
    return bool(pid) and pid != str(os.getpid())


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
    values = {override_key(o): o.split("=", 1)[1] for o in _job_overrides(job_dir) or [] if "=" in o}
    row: dict[str, Any] = {
        "job": job_dir.name,
        "status": job_status(job_dir),
        **{k: values.get(k, "") for k in varying},
    }
    if row["status"] == "failed":
        row["error"] = (job_dir / "error.txt").read_text(errors="replace").strip().splitlines()[-1:][0][:300]
    elif row["status"] == "ok":
        row.update(json.loads((job_dir / "metrics.json").read_text()))
    row.setdefault(metric, None)
    return row


def _ok(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: float(f"{v:.4g}") if _ok(v) and isinstance(v, float) else v for k, v in row.items()}


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
        numeric = sorted({k for r in done for k, v in r.items() if _ok(v)} - set(varying) - {"seeds"})
        for key in numeric:
            values = [float(r[key]) for r in done if _ok(r.get(key))]
            if values:
                aggregate[key] = statistics.fmean(values)
                aggregate[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        summary.append(aggregate)
    summary.sort(key=lambda r: (not _ok(r.get(metric)), r[metric] if _ok(r.get(metric)) else 0.0))
    return summary


def summarize(sweep_dir: Path, metric: str = DEFAULT_METRIC) -> tuple[list[dict], list[dict]]:
    """Write summary.csv and summary.png into the sweep directory from its job directories; returns the job
    rows and the per-setting rows (empty without repeated settings), each best first."""
    varying = list(swept_settings(str(sweep_dir)) or [])
    jobs = [d for d in sorted(sweep_dir.iterdir()) if d.is_dir() and (d / ".hydra").is_dir()]
    rows = [job_row(d, varying, metric) for d in jobs]
    for row in rows:
        row["setting"] = setting_label(row, varying)
    rows.sort(key=lambda r: (not _ok(r.get(metric)), r[metric] if _ok(r.get(metric)) else 0.0))
    settings = over_seeds(rows, varying, metric)
    first = ["job", "status", *varying, "setting", "seeds", metric, f"{metric}_sd", *FIGURES, "error"]
    every = [*rows, *settings]
    columns = list(dict.fromkeys(first + [k for row in every for k in row if k != "best_checkpoint"]))
    columns = [c for c in columns if any(c in row for row in every)]
    write_csv(sweep_dir / "summary.csv", [_rounded(r) for r in every], columns)
    from betaae import plots

    if settings and any(_ok(r.get(metric)) for r in settings):
        shown = [r for r in settings if _ok(r.get(metric))]
        points = [
            [float(j[metric]) for j in rows if j["setting"] == r["setting"] and _ok(j.get(metric))] for r in shown
        ]
        figure = plots.sweep_summary([r["setting"] for r in shown], [r[metric] for r in shown], metric, points)
        save_figure(sweep_dir / "summary.png", figure)
    elif any(r["status"] == "ok" and _ok(r.get(metric)) for r in rows):
        done = [r for r in rows if r["status"] == "ok" and _ok(r.get(metric))]
        labels = [",".join(f"{k}={short_value(str(r[k]))}" for k in varying) or r["job"] for r in done]
        save_figure(sweep_dir / "summary.png", plots.sweep_summary(labels, [r[metric] for r in done], metric))
    return rows, settings


def _cell(row: dict[str, Any], name: str, fmt: str) -> str:
    if not _ok(row.get(name)):
        return "-"
    text = fmt.format(row[name])
    return f"{text} ± {fmt.format(row[f'{name}_sd'])}" if _ok(row.get(f"{name}_sd")) else text


def table(rows: list[dict[str, Any]], varying: list[str], metric: str, limit: int = 20) -> str:
    """The sweep's jobs (or settings), best first, as aligned columns of the swept settings and key figures."""
    formats = {metric: "{:.4g}", "test/sse_per_curve": "{:.4g}", "train_time_s": "{:.1f}"}
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


def report(sweep_dir: Path, metric: str = DEFAULT_METRIC) -> tuple[str, int]:
    """The end-of-sweep text (summary written first) and the number of jobs that did not end well."""
    rows, settings = summarize(sweep_dir, metric)
    varying = list(swept_settings(str(sweep_dir)) or [])
    failed = sum(r["status"] == "failed" for r in rows)
    unfinished = sum(r["status"] in ("interrupted", "incomplete") for r in rows)
    counts = f"{len(rows)} jobs, {failed} failed" + (f", {unfinished} unfinished" if unfinished else "")
    lines = [f"sweep: {counts}; best first by {metric}"]
    if settings:
        shown = [k for k in varying if k != SEED]
        lines += ["mean ± sd over seeds, per setting:", table(settings, shown, metric), "", "jobs:"]
    lines.append(table(rows, varying, metric))
    best = next((r for r in rows if r["status"] == "ok"), None)
    if settings and _ok(settings[0].get(metric)):
        lines.append(f"best setting: {settings[0]['setting']} ({settings[0]['seeds']} seeds)")
    if best is not None:
        lines.append(f"best job:   {sweep_dir / best['job']}")
        if best.get("best_checkpoint"):
            lines.append(f"checkpoint: {best['best_checkpoint']}")
    lines += [
        f"summary:    {sweep_dir / 'summary.csv'}, summary.png",
        f"compare:    tensorboard --logdir {shell(str(sweep_dir))}",
    ]
    return "\n".join(lines), failed


def continue_command(record: dict, sweep_dir: Path) -> str:
    """The command that continues a sweep: its own overrides, its directory."""
    hydra = [o for o in record.get("hydra_overrides", []) if override_key(o) != "hydra.sweep.dir"]
    return script("train.py", "-m", *hydra, *record.get("overrides", []), override("hydra.sweep.dir", sweep_dir))


def interrupted(error: BetaaeError) -> str:
    """The one line for a sweep stopped by Ctrl-C or SIGTERM (summary written), or the error's own line."""
    if not _active:
        return str(error)
    sweep_dir, record = _active["dir"], _active["record"]
    rows, _ = summarize(sweep_dir, _active["metric"])
    done = sum(r["status"] == "ok" for r in rows)
    stopped = sum(r["status"] in ("interrupted", "incomplete") for r in rows)
    what = "Ctrl-C" if error.exit_code == 130 else "SIGTERM"
    return (
        f"sweep stopped by {what}: {done} job(s) finished, {stopped} interrupted (each resumes from its last "
        f"checkpoint); summary in {sweep_dir / 'summary.csv'}; continue with: {continue_command(record, sweep_dir)}"
    )


def kept_result(cfg: DictConfig) -> float | None:
    """For a job of a continued sweep that had finished: its recorded optimized metric (it is kept as it is)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    job_dir = Path(HydraConfig.get().runtime.output_dir)
    if not continued(job_dir) or job_status(job_dir) != "ok":
        return None
    metrics = json.loads((job_dir / "metrics.json").read_text())
    value = metrics.get(cfg.get("optimized_metric", DEFAULT_METRIC))
    test = metrics.get("test/sse_per_curve")
    best = metrics.get(DEFAULT_METRIC)
    print(f"#{HydraConfig.get().job.num} {job_dir.name}: kept (finished before): val best {best:.4g}, test {test:.4g}")
    return float(value) if _ok(value) else float("nan")


def check_keys(config: DictConfig, overrides: list[str]) -> None:
    """Refuse, before any job starts, an override of a key the config does not have (each job would fail)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    groups = set(config.hydra.runtime.choices)
    missing = object()
    for parsed in OverridesParser.create().parse_overrides(overrides):
        key = parsed.get_key_element()
        if key.startswith(("+", "~")) or key.split("@")[0] in groups:
            continue
        if OmegaConf.select(config, key, default=missing) is missing:
            raise ConfigError(
                f"unknown option {key}: it is not in the config (check the spelling, or add a new key with +{key}=...)"
            )


class SweepSummary(Callback):
    """Hydra callback: records each multirun at its start (or checks that it continues one), summarizes it
    at its end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            self._start(config)
        except Exception as error:  # Hydra's callback runner would turn any Exception into a warning
            ours = ours_in(error)
            if ours is None:
                raise
            remove_created(str(config.hydra.sweep.dir))  # a refused sweep leaves nothing behind
            raise Abort(ours) from None

    def _start(self, config: DictConfig) -> None:
        given = str(config.hydra.sweep.dir)  # resolving it makes a new unique directory, unless one is given
        sweep_dir = Path(expand(given))
        if str(sweep_dir) != given:
            with read_write(config.hydra), open_dict(config.hydra):
                config.hydra.sweep.dir = str(sweep_dir)
                config.hydra.overrides.hydra.append(override("hydra.sweep.dir", sweep_dir))
        check_path_length(str(sweep_dir), "hydra.sweep.dir")
        overrides = list(config.hydra.overrides.task)
        hydra_overrides = [o for o in config.hydra.overrides.hydra if override_key(o) != "hydra.sweep.dir"]
        params = list((config.hydra.sweeper.get("params") or {}).keys())
        varying, constant = split_overrides(overrides, params)
        metric = config.get("optimized_metric", DEFAULT_METRIC)
        record = {
            "varying": varying,
            "constant": constant,
            "metric": metric,
            "overrides": overrides,
            "hydra_overrides": hydra_overrides,
        }
        check_keys(config, overrides)
        earlier = read_record(sweep_dir)
        if not sweep_dir.exists():
            note_new(sweep_dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if earlier is not None:
            if earlier.get("overrides") != overrides:
                raise ResumeError(
                    f"hydra.sweep.dir={sweep_dir} holds another sweep, which is left as it is; continue that one "
                    f"with: {continue_command(earlier, sweep_dir)}, or choose a new directory"
                )
            lock_run(sweep_dir, "hydra.sweep.dir")
            done = sum(job_status(d) == "ok" for d in sweep_dir.iterdir() if (d / ".hydra").is_dir())
            print(f"sweep:      {sweep_dir} continued: {done} job(s) finished before are kept", flush=True)
        else:
            if holds_files(sweep_dir):
                raise ResumeError(f"hydra.sweep.dir={sweep_dir} is not empty; a sweep needs a new or empty directory")
            lock_run(sweep_dir, "hydra.sweep.dir")
            atomic_write_bytes(sweep_dir / RECORD, yaml.safe_dump(record, sort_keys=False).encode())
            swept_settings.cache_clear()
            print(f"sweep:      {sweep_dir} (one line per job as it ends)", flush=True)
        os.environ[SWEEP_PID] = str(os.getpid())
        _active.update(dir=sweep_dir, record=earlier or record, metric=metric)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = _active.get("dir")
        if sweep_dir is None or not sweep_dir.is_dir():
            return
        text, failed = report(sweep_dir, _active["metric"])
        _active.clear()
        release_locks()
        print(text, flush=True)
        if failed:
            raise SystemExit(f"error: {failed} job(s) of the sweep failed; see {sweep_dir / 'summary.csv'}")


def main(argv: list[str] | None = None) -> None:
    """`python -m betaae.sweep SWEEP_DIR`: rebuild a sweep's summary from its job directories and show it."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument(
        "--metric", default=None, help=f"the figure to rank by (default: the sweep's, or {DEFAULT_METRIC})"
    )
    args = parser.parse_args(argv)
    if read_record(args.sweep_dir) is None:
        print(f"error: {args.sweep_dir} is not a betaae sweep directory (it has no {RECORD})", file=sys.stderr)
        sys.exit(2)
    metric = args.metric or read_record(args.sweep_dir).get("metric", DEFAULT_METRIC)
    text, _ = report(args.sweep_dir, metric)
    print(text)


if __name__ == "__main__":
    main()
