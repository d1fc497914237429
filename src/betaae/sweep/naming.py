"""Job directories named by what varies (`latent_dims=1,optimizer.lr=0.003`), unique inside their sweep; when a
sweep is continued, each job gets back the directory its earlier attempt had."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from betaae.runs.directories import unique_dir
from betaae.runs.hparams import override_key, round_numbers
from betaae.sweep.record import swept_settings


def short_value(value: str) -> str:
    """An override's value, with long floats rounded to 4 significant digits and no path separators."""
    return round_numbers(value).replace("/", "_").replace(" ", "")


def _job_num(job_dir: Path) -> int | None:
    try:
        return int(yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["num"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return None


def job_overrides(job_dir: Path) -> list[str] | None:
    try:
        overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return list(overrides) if isinstance(overrides, list) else None


# Process-wide: the job directories of an earlier attempt that this process carries on (Hydra resolves each
# job's directory name through `job_dirname`, so this is where a continued job is recognised).
_continued: set[Path] = set()


def reset() -> None:
    """Forget the continued jobs (between sweeps run in one process)."""
    _continued.clear()


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
        if _job_num(earlier) == num and job_overrides(earlier) == list(overrides):
            _continued.add(earlier.resolve())
            return earlier.name
    return Path(unique_dir(str(Path(sweep_dir) / name))).name


def continued(job_dir: str | os.PathLike) -> bool:
    return Path(job_dir).resolve() in _continued
