"""What `python train.py` does: check everything that can be checked before Lightning loads, then train.

Checks run cheapest first: the config's own rules (no torch), then the model's and the optimizer's options
and the device (torch), so that a bad option is refused in well under two seconds and a run that is
refused leaves nothing behind.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig, open_dict

from betaae import job, sweep
from betaae.checks import (
    MPS_MISSING,
    check_builtin_model,
    check_options,
    fail,
    require_known_keys,
    signature_keys,
    validate_train,
)
from betaae.errors import ConfigError
from betaae.families import Family
from betaae.registry import import_extensions, import_path
from betaae.resume import Resume, finished_message, prepare_resume, take_over
from betaae.rundirs import claim


def main(cfg: DictConfig) -> float | None:
    """Returns the optimized metric, so that Hydra sweepers (Optuna) can minimize it."""
    kept = sweep.kept_result(cfg)  # a job that had finished before its sweep was stopped and continued
    if kept is not None:
        return kept
    prepared = prepare(cfg)
    if prepared is None:
        return None
    cfg, resume = prepared
    from betaae.training import train  # Lightning loads only for a run that passed every check

    return train(cfg, resume).get(cfg.optimized_metric)


def check_launcher(cfg: DictConfig) -> None:
    """DDP starts processes of its own, which a joblib worker (the default sweep launcher's) cannot host."""
    from hydra.core.hydra_config import HydraConfig

    if not (job.in_multirun() and HydraConfig.initialized()):
        return
    launcher = str(HydraConfig.get().launcher.get("_target_", ""))
    strategy = str(cfg.trainer.get("strategy", "auto"))
    if "joblib" in launcher.lower() and strategy.startswith("ddp"):
        fail(
            "trainer.strategy",
            strategy,
            "a DDP job in a sweep needs its own processes; run the sweep with hydra/launcher=basic",
        )


def prepare(cfg: DictConfig) -> tuple[DictConfig, Resume | None] | None:
    """The checked config and, for a resume, what it continues from; None when there is nothing to do
    (a finished run resumed without more epochs)."""
    from hydra.core.hydra_config import HydraConfig

    out = HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else cfg.paths.output_dir
    job.set_run(out, "train")
    import_extensions(cfg.get("extensions") or [])
    resume, overrides = None, job.task_overrides()
    if sweep.continued(out) and not cfg.get("resume"):
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


def check_classes(cfg: DictConfig) -> None:
    """The model's options by the rules its class declares, and the optimizer's and scheduler's by their
    signatures (this imports them, and so torch)."""
    from betaae.model import model_class

    target = cfg.model.get("_target_")
    try:
        cls = model_class(str(target))
    except (ImportError, AttributeError, TypeError, ValueError) as err:
        raise ConfigError(f"model._target_={target}: not a betaae model ({err})") from None
    check_options("model.", cfg.model, cls.options, f"of {cls.__name__}")
    for section in ("optimizer", "scheduler"):
        node = cfg.get(section)
        target = node.get("_target_") if node is not None else None
        try:
            cls = import_path(str(target))
        except (ImportError, AttributeError) as err:
            raise ConfigError(f"{section}._target_={target}: cannot import it ({err})") from None
        allowed = signature_keys(cls)
        if allowed is not None:
            known = allowed - {"params", "optimizer"}
            require_known_keys(f"{section}.", [k for k in node if k != "_target_"], known, f"of {target}")


def check_accelerator(accelerator, devices) -> None:
    """Refuse a GPU or MPS request on a machine without one, before anything is built (imports torch)."""
    import torch

    if accelerator in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ConfigError(
                f"trainer.accelerator={accelerator}: no CUDA GPU is visible on this machine "
                f"(torch {torch.__version__}, {build}); run on the CPU with trainer.accelerator=cpu"
            )
        if isinstance(devices, int) and devices > torch.cuda.device_count():
            fail("trainer.devices", devices, f"this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"trainer.accelerator=mps: {MPS_MISSING}")


def warn_small_latent(latent_dims: int, family: Family) -> None:
    """A code smaller than the family's parameter count cannot hold them: say so before training."""
    count = len(family.parameters)
    if latent_dims < count:
        print(
            f"warning: latent_dims={latent_dims} is smaller than the {family.name} family's {count} parameters "
            f"({', '.join(family.param_names)}): {latent_dims} number(s) cannot hold {count}, so reconstructions "
            f"and inversions will be poor; use latent_dims={count} or more",
            file=sys.stderr,
            flush=True,
        )
