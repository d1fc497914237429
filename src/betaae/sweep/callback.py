"""The Hydra callback that runs every sweep: at its start it records the sweep (or checks that it continues
one) and locks its directory; at its end, or when stopped, it writes the summary. Ctrl-C or SIGTERM stops
the whole sweep (exit 130 or 143) with the command that continues it; continued, a sweep keeps its finished
jobs, resumes interrupted ones from their last.ckpt and runs the ones it had not reached.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

from betaae.config.checks import check_sweep_keys
from betaae.core.commands import override
from betaae.core.errors import Abort, BetaaeError, ConfigError, ResourceError, ResumeError, ours_in
from betaae.core.files import DISK_ERRORS, atomic_write_bytes
from betaae.core.job import SWEEP_NOTES
from betaae.runs.directories import (
    check_path_length,
    expand,
    holds_files,
    lock_run,
    note_new,
    release_locks,
    remove_created,
)
from betaae.runs.hparams import override_key
from betaae.sweep.naming import continued
from betaae.sweep.record import (
    DEFAULT_METRIC,
    RECORD,
    SWEEP_AT_ONCE,
    SWEEP_JOBS,
    SWEEP_PID,
    SWEEP_STARTED,
    continue_command,
    read_record,
    split_overrides,
    swept_settings,
)
from betaae.sweep.summary import finite, job_status, report, summarize

log = logging.getLogger("betaae")

# Process-wide: the sweep this process runs (its directory, record and metric), from its start to its end;
# on_multirun_end clears it.
_active: dict[str, Any] = {}


def reset() -> None:
    """Forget the sweep this process ran, and the settings read from sweep records (between sweeps in one
    process)."""
    _active.clear()
    swept_settings.cache_clear()


def interrupted(error: BetaaeError) -> str:
    """The one line for a sweep stopped by Ctrl-C or SIGTERM (summary written), or the error's own line."""
    if not _active:
        return str(error)
    if _active.get("children_stop"):
        from betaae.core import signals

        signals.stop_children()
    sweep_dir, record = _active["dir"], _active["record"]
    every, _ = summarize(sweep_dir, _active["metric"])
    rows = [r for r in every if "worker" not in r]  # this worker's jobs, not the trials of others on its study
    done = sum(r["status"] in ("ok", "pruned") for r in rows)
    stopped = sum(r["status"] in ("interrupted", "incomplete") for r in rows)
    failed = sum(r["status"] == "failed" for r in rows)
    planned = _active.get("planned") or planned_jobs(record.get("overrides", []))
    if "study" in record:  # a search: the trials still owed by the study, whoever runs them
        planned = (_active.get("planned") or 0) - (len(every) - len(rows)) or None
    waiting = f", {planned - len(rows)} not started" if planned is not None and planned > len(rows) else ""
    what = "Ctrl-C" if error.exit_code == 130 else "SIGTERM"
    return (
        f"sweep stopped by {what}: {done} job(s) finished, {stopped} interrupted (each resumes from its last "
        f"checkpoint){f', {failed} failed' if failed else ''}{waiting}; summary in {sweep_dir / 'summary.csv'}; "
        f"continue with: {continue_command(record, sweep_dir)}"
    )


def quiet_optuna() -> None:
    """Optuna's own INFO lines (a coloured "study created" line per search) at WARNING: Optuna sets its level
    when it first logs, after Hydra's logging config, so the config alone cannot."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def is_search(config: DictConfig) -> bool:
    """Whether this sweep is betaae's Optuna search (its sweeper chooses the jobs)."""
    return str(config.hydra.sweeper.get("_target_", "")).startswith("hydra_plugins.betaae_optuna_sweeper.")


def check_launcher_here(config: DictConfig) -> None:
    """A SLURM launcher needs SLURM's sbatch on this machine: say so before anything is made."""
    target = str(config.hydra.launcher.get("_target_", ""))
    if target.endswith("SlurmLauncher") and shutil.which("sbatch") is None:
        raise ConfigError(
            "hydra/launcher=slurm: sbatch is not on this machine's PATH; run the sweep on a SLURM login node, "
            "or try it here with hydra/launcher=submitit_local"
        )


def sweep_size(config: DictConfig, overrides: list[str]) -> tuple[int | None, int | None, bool]:
    """(jobs in all, how many run at once, whether Optuna chooses them); None where it is not known."""
    sweeper = config.hydra.sweeper
    if sweeper.get("n_trials") is not None:
        return int(sweeper.n_trials), int(sweeper.get("n_jobs") or 1), True
    at_once = config.hydra.launcher.get("n_jobs")
    return planned_jobs(overrides), at_once if isinstance(at_once, int) else None, False


def plan(config: DictConfig, overrides: list[str]) -> str:
    """What a new sweep runs, in words: `20 trials of Optuna's TPESampler, 200 epochs each, 1 at a time`."""
    sweeper = config.hydra.sweeper
    jobs, at_once, optuna = sweep_size(config, overrides)
    epochs = config.get("trainer", {}).get("max_epochs")
    each = f", {epochs} epochs each" if isinstance(epochs, int) else ""
    if optuna:
        sampler = str((sweeper.get("sampler") or {}).get("_target_", "")).rsplit(".", 1)[-1] or "its sampler"
        pruner = str((sweeper.get("pruner") or {}).get("_target_", "")).rsplit(".", 1)[-1]
        pruned = f", {pruner}" if pruner else ", no pruning"
        return f"{jobs} trials of Optuna's {sampler}{each}{pruned}"
    side = f", {at_once} side by side" if at_once and jobs and jobs > 1 else ""
    return f"{jobs} job{'s' if jobs != 1 else ''}{each}{side}" if jobs else f"its jobs{each}"


def planned_jobs(overrides: list[str]) -> int | None:
    """How many jobs a grid sweep of these overrides runs (None where a sweeper decides: Optuna)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # Hydra's parser raises its own errors; the count is only shown when it is known
        return None
    count = 1
    for override_ in parsed:
        if override_.is_sweep_override():
            if not override_.is_discrete_sweep():
                return None
            count *= len(list(override_.sweep_string_iterator()))
    return count


def finished_metrics(job_dir: Path) -> dict | None:
    """The metrics of a job that finished and whose metrics.json is whole; None for any other job."""
    if job_status(job_dir) != "ok":
        return None
    try:
        metrics = json.loads((job_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return metrics if isinstance(metrics, dict) else None


def kept_result(cfg: DictConfig) -> float | None:
    """For a job of a continued sweep that had finished: its recorded optimized metric (it is kept as it is)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    job_dir = Path(HydraConfig.get().runtime.output_dir)
    if not continued(job_dir):
        return None
    metrics = finished_metrics(job_dir)
    if metrics is None:  # not finished, or damaged since it ended: the job carries on from its checkpoint instead
        return None
    value = metrics.get(cfg.get("optimized_metric", DEFAULT_METRIC))
    test = metrics.get("test/sse_per_curve")
    best = metrics.get(DEFAULT_METRIC)
    print(f"#{HydraConfig.get().job.num} {job_dir.name}: kept (finished before): val best {best:.4g}, test {test:.4g}")
    return float(value) if finite(value) else float("nan")


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
        check_sweep_keys(config, overrides)
        check_launcher_here(config)
        if is_search(config):
            from betaae.search.sweeper import preflight

            record["study"] = preflight(config, sweep_dir, overrides)
        earlier = read_record(sweep_dir)
        if not sweep_dir.exists():
            note_new(sweep_dir)
        try:
            sweep_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            reason = DISK_ERRORS.get(err.errno, err.strerror or type(err).__name__)
            raise ResourceError(
                f"hydra.sweep.dir: cannot create {err.filename or sweep_dir}: {reason}; choose a writable place "
                "with hydra.sweep.dir=... or paths.log_dir=..."
            ) from None
        if earlier is not None:
            if earlier.get("overrides") != overrides:
                raise ResumeError(
                    f"hydra.sweep.dir={sweep_dir} holds another sweep, which is left as it is; continue that one "
                    f"with: {continue_command(earlier, sweep_dir)}, or choose a new directory"
                )
            lock_run(sweep_dir, "hydra.sweep.dir")
            done = sum(finished_metrics(d) is not None for d in sweep_dir.iterdir() if (d / ".hydra").is_dir())
            print(f"sweep:      {sweep_dir} continued: {done} job(s) finished before are kept", flush=True)
        else:
            if holds_files(sweep_dir):
                raise ResumeError(f"hydra.sweep.dir={sweep_dir} is not empty; a sweep needs a new or empty directory")
            lock_run(sweep_dir, "hydra.sweep.dir")
            atomic_write_bytes(sweep_dir / RECORD, yaml.safe_dump(record, sort_keys=False).encode())
            swept_settings.cache_clear()
            print(f"sweep:      {sweep_dir}: {plan(config, overrides)}; one line per job as it ends", flush=True)
        os.environ[SWEEP_PID] = str(os.getpid())
        notes = tempfile.mkdtemp(prefix="betaae-sweep-notes-")
        atexit.register(shutil.rmtree, notes, True)  # however the sweep ends
        os.environ[SWEEP_NOTES] = notes
        os.environ[SWEEP_STARTED] = str(time.time())
        jobs, at_once, optuna = sweep_size(config, overrides)
        if optuna:
            quiet_optuna()
        os.environ[SWEEP_AT_ONCE] = str(at_once or 1)
        if jobs:
            os.environ[SWEEP_JOBS] = str(jobs)
        else:
            os.environ.pop(SWEEP_JOBS, None)
        # Submitit's local jobs outlive a stopped sweep unless it passes the stop on to them.
        local = "submitit" in str(config.hydra.launcher.get("_target_", "")).lower()
        _active.update(dir=sweep_dir, record=earlier or record, metric=metric, children_stop=local, planned=jobs)

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
