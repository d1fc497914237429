"""Run directories: unique names, relocatable resumes that check everything before writing anything.

- A run or sweep directory is created with an exclusive mkdir by the `unique_dir` resolver, so two
  runs started in the same second never share one: the second gets `<time>-1`.
- `resume=RUN` is checked while Hydra resolves its run directory, before anything is created; the
  run then continues in RUN itself, and everything is re-rooted there (a moved run resumes where it is).
- A resume first checks its config, its checkpoint, the model and the overrides; only then does it
  write a record of itself under RUN/resumes/, never touching the run's original config.yaml.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from betaae.errors import ResourceError, ResumeError

# Overrides a resume accepts: how long and where it trains, not what it trains.
RESUMABLE = (
    "trainer.max_epochs",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.enable_progress_bar",
    "num_threads",
    "verbose",
    "callbacks.latent_images.every_n_epochs",
    "paths.log_dir",
)


def unique_dir(base: str) -> str:
    """Create and return `base`, or `base-1`, `base-2`, ... if taken: exclusive, so concurrent runs never share."""
    parent = Path(base).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(10_000):
            candidate = base if attempt == 0 else f"{base}-{attempt}"
            try:
                os.mkdir(candidate)
            except FileExistsError:
                continue
            return candidate
    except OSError as err:
        raise ResourceError(
            f"paths.log_dir: cannot create the run directory {base}: {err.strerror or err}; "
            "choose a writable place with paths.log_dir=..."
        ) from None
    raise ResourceError(f"paths.log_dir: {base} and 10,000 numbered variants already exist")


def check_run_dir(path: str) -> Path:
    """The run directory `resume=` names, if it is one: it must hold config.yaml and checkpoints/last.ckpt."""
    run = Path(path).expanduser()
    if not run.is_dir():
        raise ResumeError(f"resume={path}: no such run directory")
    if not (run / "config.yaml").is_file():
        raise ResumeError(f"resume={path}: not a betaae run directory (it has no config.yaml)")
    if not (run / "checkpoints" / "last.ckpt").is_file():
        raise ResumeError(f"resume={path}: the run has no checkpoints/last.ckpt to resume from")
    return run


def run_dir(resume: str | None, fresh: str) -> str:
    """Hydra's run directory: the run to resume (checked first), or a new unique one."""
    return str(check_run_dir(resume).resolve()) if resume else unique_dir(fresh)


def hydra_subdir(resume: str | None) -> str | None:
    """Where Hydra records the composition: .hydra for a new run; nothing for a resume, which writes its
    own record under resumes/ once its checks pass."""
    return None if resume else ".hydra"


@dataclass
class Resume:
    """What a checked resume continues from."""

    run: Path
    checkpoint: Path
    overrides: list[str]
    epochs_done: int  # epochs the checkpoint has completed


def _load_saved(run: Path) -> DictConfig:
    try:
        saved = yaml.safe_load((run / "config.yaml").read_text())
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        reason = str(err).splitlines()[0]
        raise ResumeError(f"resume={run}: config.yaml is not valid YAML text ({reason})") from None
    if not isinstance(saved, dict) or "paths" not in saved or "model" not in saved:
        raise ResumeError(f"resume={run}: config.yaml does not hold a betaae training config")
    return OmegaConf.create(saved)


def _rerooted(node: Any, old: str, new: str) -> Any:
    """Every string that pointed inside the old run directory now points inside the new one."""
    if isinstance(node, str) and (node == old or node.startswith(old + os.sep)):
        return new + node[len(old) :]
    if isinstance(node, dict):
        return {k: _rerooted(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_rerooted(v, old, new) for v in node]
    return node


def _checked_overrides(run: Path, overrides: list[str]) -> list[str]:
    """The resume's own overrides, each one a change a resume may make."""
    extra = [o for o in overrides if o.split("=")[0].lstrip("+~") != "resume"]
    for override in extra:
        key = override.split("=")[0].lstrip("+~")
        if key not in RESUMABLE:
            raise ResumeError(
                f"resume={run}: {override} cannot change on resume (the checkpoint fixes the data, model and "
                f"training settings); a resume accepts only {', '.join(RESUMABLE)}"
            )
    return extra


def prepare_resume(cfg: DictConfig, overrides: list[str]) -> tuple[DictConfig, Resume]:
    """The saved config of the run to resume, re-rooted where the run now is, with the resume's overrides.

    Checks everything a resume needs, and writes nothing.
    """
    from betaae.checkpoints import load_model, read_checkpoint
    from betaae.errors import CheckpointError
    from betaae.model import split_model_config

    run = check_run_dir(cfg.resume).resolve()
    saved = _load_saved(run)
    old = str(saved.paths.get("output_dir") or run)
    container = _rerooted(OmegaConf.to_container(saved), old.rstrip(os.sep), str(run))
    extra = _checked_overrides(run, overrides)
    resumed = OmegaConf.merge(OmegaConf.create(container), OmegaConf.from_dotlist([o.lstrip("+") for o in extra]))
    with open_dict(resumed):
        resumed.resume = str(run)
        resumed.paths.output_dir = str(run)
    last = run / "checkpoints" / "last.ckpt"
    checkpoint = read_checkpoint(last, "resume")
    if checkpoint["hyper_parameters"].get("betaae_format", 1) < 2:
        raise ResumeError(f"resume={run}: made by an earlier betaae; invert.py still reads it, but it cannot resume")
    try:
        load_model(last, "resume")  # the weights must fit the model its hyperparameters describe
    except CheckpointError as err:
        raise ResumeError(str(err)) from None
    spec, _ = split_model_config(OmegaConf.to_container(resumed.model, resolve=True))
    stored = checkpoint["hyper_parameters"]["model"]
    differ = sorted(k for k in set(spec) | set(stored) if spec.get(k) != stored.get(k))
    if differ:
        shown = ", ".join(f"model.{k}={spec.get(k)} (checkpoint: {stored.get(k)})" for k in differ)
        raise ResumeError(f"resume={run}: config.yaml does not match checkpoints/last.ckpt: {shown}")
    return resumed, Resume(run, last, extra, int(checkpoint.get("epoch", -1)) + 1)


def finished_message(resume: Resume, max_epochs: int | None) -> str | None:
    """Why a resume has nothing to do (the run finished and max_epochs was not raised), or None."""
    metrics = resume.run / "metrics.json"
    if metrics.is_file() and max_epochs is not None and resume.epochs_done >= max_epochs:
        return (
            f"{resume.run} is complete ({resume.epochs_done} of {max_epochs} epochs) and was left as it is; "
            f"to train longer, resume with trainer.max_epochs=N (N > {max_epochs})"
        )
    return None


def write_resume_record(resume: Resume, cfg: DictConfig) -> Path:
    """RUN/resumes/<time>/: this resume's overrides and effective config, beside the run's own record."""
    from betaae.outputs import atomic_write_bytes

    record = Path(unique_dir(str(resume.run / "resumes" / time.strftime("%Y-%m-%d_%H-%M-%S"))))
    atomic_write_bytes(record / "overrides.yaml", yaml.safe_dump(list(resume.overrides)).encode())
    atomic_write_bytes(record / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True).encode())
    return record


def task_overrides() -> list[str]:
    """The command-line overrides of this job (empty outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    overrides = HydraConfig.get().overrides.task
    return list(overrides) if isinstance(overrides, (list, ListConfig)) else []


def prepare_training(cfg: DictConfig) -> tuple[DictConfig, Resume | None] | None:
    """Prepare a resume and check the whole config, before torch and Lightning load (so a bad option is
    refused at once). None when there is nothing to do: a finished run resumed without more epochs."""
    from betaae.config import validate_train

    resume = None
    if cfg.get("resume"):
        cfg, resume = prepare_resume(cfg, task_overrides())
        done = finished_message(resume, cfg.trainer.get("max_epochs"))
        if done is not None:
            print(done, flush=True)
            return None
    validate_train(cfg)
    return cfg, resume
