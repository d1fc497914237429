"""A sweep's record, `sweep.yaml`: the settings it varies and keeps, its metric and its own overrides, written
once at its start; what a continued sweep is checked against, and the command that continues it. Also how
many jobs run side by side, and whether this process is a sweep's worker."""

from __future__ import annotations

import math
import os
import time
from functools import cache
from pathlib import Path

import yaml

from betaae.core.commands import override, script
from betaae.core.files import available_memory_host
from betaae.runs.hparams import override_key

RECORD = "sweep.yaml"

DEFAULT_METRIC = "val/sse_per_curve_best"

SWEEP_PID = "BETAAE_SWEEP_PID"  # set by the sweep's own process, so that its workers know they are workers
# Set by the sweep's process for its jobs: when this launch began, and how many jobs the sweep has in all.
SWEEP_STARTED = "BETAAE_SWEEP_STARTED"
SWEEP_JOBS = "BETAAE_SWEEP_JOBS"
SWEEP_AT_ONCE = "BETAAE_SWEEP_AT_ONCE"  # how many jobs run side by side


def sweep_jobs() -> int:
    """How many jobs a sweep runs at once by default: one per core (as joblib counts them, cgroup limits and
    CPU affinity included), and no more than the memory holds at about 1 GiB per job."""
    from joblib import cpu_count

    free = available_memory_host()
    by_memory = max(1, int(free // 2**30)) if free is not None else cpu_count()
    return max(1, min(cpu_count(), by_memory))


def in_worker() -> bool:
    """Whether this process runs jobs for a sweep started by another process (the joblib launcher's)."""
    pid = os.environ.get(SWEEP_PID)
    return bool(pid) and pid != str(os.getpid())


def progress(sweep_dir: Path) -> str:
    """For a job's line as it ends: how many of the sweep's jobs have ended and, from this launch's pace so
    far, about how long the rest take (`3 of 20 ended, about 4 min left`); empty where the count is unknown."""
    try:
        total, started = int(os.environ[SWEEP_JOBS]), float(os.environ[SWEEP_STARTED])
    except (KeyError, ValueError):
        return ""
    ended = ended_now = 0
    for job in (d for d in sweep_dir.iterdir() if (d / ".hydra").is_dir()):
        marks = [m for m in (job / "metrics.json", job / "error.txt") if m.is_file()]
        if marks:
            ended += 1
            ended_now += any(m.stat().st_mtime >= started for m in marks)
    left = max(0, total - ended)
    text = f"{min(ended, total)} of {total} ended"
    if left and ended_now:
        at_once = max(1, int(os.environ.get(SWEEP_AT_ONCE) or 1))
        job_seconds = (time.time() - started) / math.ceil(ended_now / at_once)  # jobs end in rounds of at_once
        seconds = job_seconds * math.ceil(left / at_once)
        text += f", about {seconds / 60:.0f} min left" if seconds >= 90 else f", about {seconds:.0f} s left"
    return text


def split_overrides(overrides: list[str], sweeper_params: list[str]) -> tuple[list[str], list[str]]:
    """(keys that vary across the sweep, overrides that stay constant)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    varying = [o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()]
    constant = [text for o, text in zip(parsed, overrides) if not o.is_sweep_override()]
    fixed = {o.get_key_element().lstrip("+~") for o in parsed if not o.is_sweep_override()}
    varying += [k for k in sweeper_params if k not in varying and k not in fixed]  # a value given holds for all
    return varying, constant


def read_record(sweep_dir: str | os.PathLike) -> dict | None:
    path = Path(sweep_dir) / RECORD
    try:
        record = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return None
    return record if isinstance(record, dict) else None


# Process-wide: read once per sweep directory; cleared when a sweep writes its record.
@cache
def swept_settings(sweep_dir: str) -> tuple[str, ...] | None:
    """The settings a sweep varies, from its record (None if it has none: not one of betaae's sweeps)."""
    record = read_record(sweep_dir)
    return tuple(record["varying"]) if record is not None else None


def continue_command(record: dict, sweep_dir: Path) -> str:
    """The command that continues a sweep: its own overrides, its directory."""
    hydra = [o for o in record.get("hydra_overrides", []) if override_key(o) != "hydra.sweep.dir"]
    return script("train.py", "-m", *hydra, *record.get("overrides", []), override("hydra.sweep.dir", sweep_dir))
