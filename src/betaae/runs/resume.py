"""Resuming a run: relocatable, locked, and checked completely before anything is written.

- `resume=RUN` is checked while Hydra resolves its run directory, before anything is created; the run
  then continues in RUN itself, and every path in its saved config is re-rooted there (a moved run
  resumes where it is).
- A resume takes the run's lock first (rundirs.lock_run), then checks its config, its checkpoint, the
  model and the overrides; only then does it write a record of itself under RUN/resumes/, never touching
  the run's original config.yaml or .hydra/.
- A plain `resume=RUN` trains to the last number of epochs asked for (by the run or a later resume);
  `trainer.max_epochs=N` raises it, and can never lower it below the epochs already done.
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf, open_dict

from betaae.config.checks import require
from betaae.config.moved import MOVED
from betaae.core.constraints import integer
from betaae.core.errors import CheckpointError, ResumeError
from betaae.core.job import is_ddp_child
from betaae.core.registry import KNOWN_MODULES, current_path, untrusted
from betaae.runs.directories import check_run_dir, holder, lock_run, unique_dir

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
    "extensions",
)


# Top-level options added since runs were first saved, with their defaults in conf/train.yaml (a test keeps
# them equal): a run saved without them resumes with these.
ADDED_OPTIONS = {"compile": "auto", "inversion_score": {"targets": 200, "noise": [0.05, 0.2]}}


@dataclass
class Resume:
    """What a checked resume continues from."""

    run: Path
    checkpoint: Path
    overrides: list[str]
    epochs_done: int  # epochs the checkpoint has completed
    max_epochs: int  # what this resume trains to


def parse_overrides(overrides: list[str]) -> list[tuple[str, str]]:
    """(key, override text) for each command-line override, as Hydra's own parser reads it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return [(o.get_key_element().lstrip("+~"), text) for o, text in zip(parsed, overrides)]


def _load_saved(run: Path) -> DictConfig:
    try:
        saved = yaml.safe_load((run / "config.yaml").read_text())
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        reason = str(err).splitlines()[0]
        raise ResumeError(f"resume={run}: config.yaml is not valid YAML text ({reason})") from None
    if not isinstance(saved, dict) or "paths" not in saved or "model" not in saved:
        raise ResumeError(f"resume={run}: config.yaml does not hold a betaae training config")
    return _migrated(saved)


def _migrated(saved: dict) -> DictConfig:
    """A saved config in this version's layout: format-2 runs kept lr, gamma and weight_decay under model."""
    from betaae.models.optimizers import ADAM, EXPONENTIAL

    if "optimizer" not in saved:
        saved["optimizer"] = dict(ADAM)
        saved["scheduler"] = dict(EXPONENTIAL)
        for old, new in MOVED.items():
            node, key = new.split(".")
            if old.split(".")[1] in saved["model"]:
                saved[node][key] = saved["model"].pop(old.split(".")[1])
    saved.setdefault("extensions", [])
    for key, value in ADDED_OPTIONS.items():
        saved.setdefault(key, copy.deepcopy(value))
    return OmegaConf.create(_current_targets(saved))


def _current_targets(node: Any) -> Any:
    """Every `_target_` import path as this version names it (release 0.3's modules have moved)."""
    if isinstance(node, dict):
        return {
            k: current_path(v) if k == "_target_" and isinstance(v, str) else _current_targets(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_current_targets(v) for v in node]
    return node


def check_stored_names(saved: DictConfig, source: Path, extensions: list[str]) -> None:
    """A saved config names classes for Hydra to build (`_target_`) and a family: each must be betaae's, one
    of torch's or Lightning's known modules, or in a module the user named on this command line with
    extensions=[...]. A run directory from someone else never makes a resume import or call anything else."""
    from betaae.families import FAMILIES

    def allowed(module: str) -> bool:
        return module == "betaae" or module.startswith("betaae.") or module in KNOWN_MODULES or module in extensions

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{key}[{i}]")
        elif key.endswith("_target_") and not allowed(str(node).rpartition(".")[0]):
            raise ResumeError(untrusted(str(source), key, str(node)))

    plain = OmegaConf.to_container(saved)
    walk({k: v for k, v in plain.items() if k != "hydra"}, "")
    family = str(plain.get("data", {}).get("family"))
    if family not in FAMILIES and not allowed(current_path(family).rpartition(".")[0]):
        raise ResumeError(untrusted(str(source), "data.family", family))


def _rerooted(node: Any, old: str, new: str) -> Any:
    """Every string that pointed inside the old run directory now points inside the new one."""
    if isinstance(node, str) and (node == old or node.startswith(old + os.sep)):
        return new + node[len(old) :]
    if isinstance(node, dict):
        return {k: _rerooted(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_rerooted(v, old, new) for v in node]
    return node


def checked_overrides(run: Path, overrides: list[str]) -> list[str]:
    """The resume's own overrides, each one a change a resume may make."""
    extra = [(key, text) for key, text in parse_overrides(overrides) if key != "resume"]
    for key, text in extra:
        if key not in RESUMABLE:
            raise ResumeError(
                f"resume={run}: {text} cannot change on resume (the checkpoint fixes the data, model and "
                f"training settings); a resume accepts only {', '.join(RESUMABLE)}"
            )
    return [text for _, text in extra]


def epochs_done(checkpoint: dict) -> int:
    """Epochs a Lightning checkpoint has completed: one written before the first step has done none."""
    return int(checkpoint.get("epoch", -1)) + 1 if int(checkpoint.get("global_step", 0)) > 0 else 0


def last_target(run: Path, saved: DictConfig) -> int | None:
    """The number of epochs last asked of the run: by its latest resume that set one, else by the run."""
    for record in sorted((run / "resumes").glob("*/config.yaml"), reverse=True):
        try:
            epochs = (yaml.safe_load(record.read_text()) or {}).get("trainer", {}).get("max_epochs")
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        if epochs is not None:
            return epochs
    return saved.trainer.get("max_epochs")


def remove_stale_temporaries(run: Path) -> None:
    """Temporary files a killed writer left (.name.XXXX.tmp): with the run's lock held, none is being written."""
    for stale in run.rglob(".*.tmp"):
        stale.unlink(missing_ok=True)


def _finished_epochs(run: Path) -> int:
    """The epochs of the run's last finished part, from metrics.json (no more than it has done), or 0."""
    try:
        return int(json.loads((run / "metrics.json").read_text()).get("epochs") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def _refuse_fewer(run: Path, target: int, done: int) -> None:
    if target < done:
        raise ResumeError(
            f"resume={run}: trainer.max_epochs={target} is fewer than the {done} epochs the run has done; "
            f"a resume trains longer (trainer.max_epochs > {done}), or finishes the run as it is without it"
        )


def prepare_resume(cfg: DictConfig, overrides: list[str]) -> tuple[DictConfig, Resume]:
    """The saved config of the run to resume, re-rooted where the run now is, with the resume's overrides.

    Checks everything a resume needs, and writes nothing: take_over() then makes the run this process's.
    """
    run = check_run_dir(cfg.resume).resolve()
    if not os.access(run, os.W_OK) or not os.access(run / "checkpoints", os.W_OK):
        raise ResumeError(f"resume={run}: the run directory is not writable (read-only?); copy it somewhere writable")
    busy = None if is_ddp_child() else holder(run)  # a DDP rank's directory is rank 0's
    if busy is not None:
        raise ResumeError(f"resume={run}: the run is in use by {busy}; wait for it to end (or stop it), then try again")
    saved = _load_saved(run)
    check_stored_names(saved, run / "config.yaml", [str(m) for m in cfg.get("extensions") or []])
    old = str(saved.paths.get("output_dir") or run)
    container = _rerooted(OmegaConf.to_container(saved), old.rstrip(os.sep), str(run))
    extra = checked_overrides(run, overrides)
    resumed = OmegaConf.merge(OmegaConf.create(container), OmegaConf.from_dotlist([o.lstrip("+") for o in extra]))
    asked = any(o.split("=")[0].lstrip("+") == "trainer.max_epochs" for o in extra)
    if asked:  # before torch loads the checkpoint: a bad value is refused at once
        require("trainer.max_epochs", resumed.trainer.max_epochs, integer(1))
        _refuse_fewer(run, int(resumed.trainer.max_epochs), _finished_epochs(run))
    from betaae.models.checkpoints import model_spec, read_checkpoint, rebuild  # torch loads from here on

    last = run / "checkpoints" / "last.ckpt"
    checkpoint = read_checkpoint(last, "resume")
    if checkpoint["hyper_parameters"].get("betaae_format", 1) < 2:
        raise ResumeError(f"resume={run}: made by an earlier betaae; invert.py still reads it, but it cannot resume")
    try:
        rebuild(last, "resume")  # the weights must fit the model its hyperparameters describe
    except CheckpointError as err:
        raise ResumeError(str(err)) from None
    spec = OmegaConf.to_container(resumed.model, resolve=True)
    stored = model_spec(checkpoint["hyper_parameters"])
    differ = sorted(k for k in set(spec) | set(stored) if spec.get(k) != stored.get(k))
    if differ:
        shown = ", ".join(f"model.{k}={spec.get(k)} (checkpoint: {stored.get(k)})" for k in differ)
        raise ResumeError(f"resume={run}: config.yaml does not match checkpoints/last.ckpt: {shown}")
    done = epochs_done(checkpoint)
    target = resumed.trainer.max_epochs if asked else last_target(run, saved)
    with open_dict(resumed):
        resumed.resume = str(run)
        resumed.paths.output_dir = str(run)
        resumed.trainer.max_epochs = target
    require("trainer.max_epochs", target, integer(1))
    if asked:
        _refuse_fewer(run, int(target), done)
    return resumed, Resume(run, last, extra, done, int(target))


def take_over(resume: Resume) -> None:
    """Lock the run for this process (a DDP rank's is rank 0's), and clear what a killed writer left."""
    if not is_ddp_child():
        lock_run(resume.run, "resume")
        remove_stale_temporaries(resume.run)


def finished_message(resume: Resume) -> str | None:
    """Why a resume has nothing to do (the run has its epochs and its results), or None."""
    try:
        metrics = json.loads((resume.run / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    if resume.epochs_done >= resume.max_epochs and metrics.get("epochs") == resume.epochs_done:
        return (
            f"{resume.run} is complete ({resume.epochs_done} of {resume.max_epochs} epochs) and was left as it "
            f"is; to train longer, resume with trainer.max_epochs=N (N > {resume.epochs_done})"
        )
    return None


def write_resume_record(resume: Resume, cfg: DictConfig) -> Path:
    """RUN/resumes/<time>/: this resume's overrides and effective config, beside the run's own record."""
    from betaae.core.files import atomic_write_bytes

    record = Path(unique_dir(str(resume.run / "resumes" / time.strftime("%Y-%m-%d_%H-%M-%S"))))
    atomic_write_bytes(record / "overrides.yaml", yaml.safe_dump(list(resume.overrides)).encode())
    atomic_write_bytes(record / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True).encode())
    return record
