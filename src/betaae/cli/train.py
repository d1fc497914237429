"""What `python train.py` does: check everything that can be checked before Lightning loads, then train.

Checks run cheapest first: the config's own rules (no torch), then the model's and the optimizer's options
and the device (torch), so that a bad option is refused in well under two seconds and a run that is
refused leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from betaae.config.checks import (
    check_accelerator,
    check_builtin_model,
    check_classes,
    check_launcher,
    fail,
    validate_train,
    warn_small_latent,
)
from betaae.core import job
from betaae.core.registry import import_extensions
from betaae.runs.directories import claim
from betaae.runs.resume import Resume, finished_message, prepare_resume, take_over
from betaae.sweep.callback import kept_result
from betaae.sweep.naming import continued


def main(cfg: DictConfig) -> Any:
    """Returns the optimized metric, so that Hydra sweepers (Optuna) can minimize it, or a pruned trial's `Pruned`."""
    kept = kept_result(cfg)  # a job that had finished before its sweep was stopped and continued
    if kept is not None:
        return kept
    prepared = prepare(cfg)
    if prepared is None:
        return None
    cfg, resume = prepared
    from betaae.runs.training import train  # Lightning loads only for a run that passed every check

    metrics = train(cfg, resume)
    if metrics.get("status") == "pruned":
        from betaae.search.trials import Pruned

        return Pruned(int(metrics["pruned_at_epoch"]), metrics["val/sse_per_curve_best"])
    return metrics.get(cfg.optimized_metric)


def prepare(cfg: DictConfig) -> tuple[DictConfig, Resume | None] | None:
    """The checked config and, for a resume, what it continues from; None when there is nothing to do
    (a finished run resumed without more epochs)."""
    from hydra.core.hydra_config import HydraConfig

    out = HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else cfg.paths.output_dir
    job.set_run(out, "train")
    import_extensions(cfg.get("extensions") or [])
    resume, overrides = None, job.task_overrides()
    if continued(out) and not cfg.get("resume"):
        # A job of a continued sweep: carry on from its last checkpoint, or start again without its old error.
        Path(out, "error.txt").unlink(missing_ok=True)
        if Path(out, "checkpoints", "last.ckpt").is_file():
            with open_dict(cfg):
                cfg.resume = str(out)
            overrides = []  # the job's own overrides are already in its saved config
    if cfg.get("resume"):
        cfg, resume = prepare_resume(cfg, overrides)
        done = finished_message(resume)
        if done is not None:
            print(done, flush=True)
            return None
        take_over(resume)
    else:
        if str(cfg.paths.output_dir) != str(out):
            fail(
                "paths.output_dir",
                cfg.paths.output_dir,
                "a run writes into its own Hydra run directory; choose that one with hydra.run.dir=..., "
                "or the root of every run with paths.log_dir=...",
            )
        claim(job.current_run(), "hydra.run.dir")
    family = validate_train(cfg)
    check_builtin_model(cfg.model)
    check_launcher(cfg)
    check_classes(cfg)
    check_accelerator(cfg.trainer.get("accelerator", "auto"), cfg.trainer.get("devices", "auto"))
    warn_small_latent(cfg.model.get("latent_dims", cfg.latent_dims), family)
    return cfg, resume
