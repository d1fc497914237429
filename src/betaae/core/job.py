"""What this process knows about the Hydra job it runs: single run or sweep, its number, its overrides."""

from __future__ import annotations

from omegaconf import ListConfig


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


# The run this process is working on, so that an error or an interruption can say what was kept.
_current: dict = {"out": None, "kind": None, "training": False}


def set_run(out, kind: str) -> None:
    """Record the directory this process writes into, and what for ("train" or "invert")."""
    from pathlib import Path

    _current.update(out=Path(out), kind=kind, training=False)


def began_training() -> None:
    """From here on the run has something worth keeping (a checkpoint), even if it fails."""
    _current["training"] = True


def current_run():
    return _current["out"]


def kind() -> str | None:
    return _current["kind"]


def training_began() -> bool:
    return bool(_current["training"])
