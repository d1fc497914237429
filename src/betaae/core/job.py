"""What this process knows about the Hydra job it runs: single run or sweep, its number, its overrides."""

from __future__ import annotations

import os

from omegaconf import ListConfig

# A folder the sweep's own process makes for its jobs' warnings (and removes when it ends): one file per
# warning said, so that a warning every job would give is said once per sweep.
SWEEP_NOTES = "BETAAE_SWEEP_NOTES"


def warn(text: str) -> None:
    """`warning: text` on stderr; in a sweep, once for the whole sweep, naming the first job that said it."""
    import hashlib
    import sys

    notes = os.environ.get(SWEEP_NOTES)
    if notes and in_multirun() and os.path.isdir(notes):
        from hydra.core.hydra_config import HydraConfig

        mark = os.path.join(notes, hashlib.sha256(text.encode()).hexdigest()[:16])
        try:
            os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return
        except OSError:
            pass  # no note to be made: say it, as a single run would
        else:
            job = os.path.basename(HydraConfig.get().runtime.output_dir)
            text += f" (said once for the sweep; job {job} is the first it applies to)"
    print(f"warning: {text}", file=sys.stderr, flush=True)


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def task_overrides() -> list[str]:
    """The command-line overrides of this job (empty outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    overrides = HydraConfig.get().overrides.task
    return list(overrides) if isinstance(overrides, (list, ListConfig)) else []


def job_number() -> int | None:
    from hydra.core.hydra_config import HydraConfig

    return int(HydraConfig.get().job.num) if in_multirun() else None


def choices() -> dict | None:
    """The option chosen in each config group (e.g. {"model": "vae"}), or None outside Hydra."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    return OmegaConf.to_container(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else None


# Process-wide: the run this process is working on, so that an error or an interruption can say what was kept
# (one per process: a Hydra job runs in its own process, or one after another in a sweep's). reset() clears it.
_current: dict = {"out": None, "kind": None, "training": False}


def reset() -> None:
    """Forget the run (tests that run several jobs in one process call it between them)."""
    _current.update(out=None, kind=None, training=False)


def set_run(out, kind: str) -> None:
    """Record the directory this process writes into, and what for ("train" or "invert")."""
    from pathlib import Path

    _current.update(out=Path(out), kind=kind, training=False)


def mark_worth_keeping(worth: bool = True) -> None:
    """From here on the run has something worth keeping (a checkpoint, an inversion's files), even if it fails;
    False: it turned out to have nothing (stopped before its first checkpoint)."""
    _current["training"] = worth


def current_run():
    return _current["out"]


def kind() -> str | None:
    return _current["kind"]


def worth_keeping() -> bool:
    return bool(_current["training"])


def is_ddp_child() -> bool:
    """Whether this process is a DDP rank that Lightning started for a run whose rank 0 owns the directory."""
    return os.environ.get("LOCAL_RANK", "0") not in ("", "0") or os.environ.get("NODE_RANK", "0") not in ("", "0")


def process_started_at() -> float | None:
    """When this process started (seconds since the epoch, as time.time()), or None where /proc cannot say."""
    import os
    import time

    try:
        with open("/proc/self/stat") as stat:
            ticks = int(stat.read().rpartition(")")[2].split()[19])  # field 22, starttime, after the comm field
        with open("/proc/uptime") as uptime:
            up = float(uptime.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - up + ticks / os.sysconf("SC_CLK_TCK")
