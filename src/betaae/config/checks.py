"""Checks on a composed config, before any work starts; each problem is one line naming the option, its
value and what is allowed.

The rules live with what they check: a family declares its parameters' constraints (betaae.families), a
model its options (betaae.models.options), an inversion method its options (betaae.inversion.methods). This module holds
the generic checks and the rules of the fixed parts (top-level options, data sizes, the trainer's loop
options, common optimizer and scheduler settings), and imports neither torch nor Lightning: what it
refuses is refused in well under a second. Lightning itself decides which accelerators, precisions and
strategies it accepts (betaae.runs.training turns its refusal into one line).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from betaae.core import job
from betaae.core.constraints import (
    Constraint,
    boolean,
    integer,
    interval,
    is_int,
    is_number,
    nonnegative,
    number_pair,
    positive,
)
from betaae.core.errors import ConfigError
from betaae.core.registry import import_path
from betaae.families import Family, get_family
from betaae.models import options


def check_builtin_model(model: Mapping[str, Any]) -> None:
    """A built-in model's options, by its rules, without importing it."""
    known = options.BUILTIN.get(str(model.get("_target_")))
    if known is not None:
        check_options("model.", model, known[1], f"of {known[0]}")


TOP_LEVEL = {
    "task_name",
    "latent_dims",
    "seed",
    "resume",
    "num_threads",
    "compile",
    "inversion_score",
    "optimized_metric",
    "verbose",
    "extensions",
    "paths",
    "data",
    "model",
    "optimizer",
    "scheduler",
    "trainer",
    "callbacks",
    "logger",
    "hydra",
}
MAX_SEED = 2**32 - 1  # what numpy and Lightning's seed_everything accept
DATA_RULES: dict[str, Constraint] = {
    "num_points": integer(2),
    "num_train": integer(1),
    "num_val": integer(1),
    "num_test": integer(1),
    "test_seed": integer(0, MAX_SEED),
    "batch_size": integer(1),
    "batches_per_step": integer(1),
    "eval_batch_size": integer(1),
    "chunk_size": integer(1),
    "seed": integer(0, MAX_SEED),
    "shuffle": boolean,
    "online": boolean,
}
# Settings many torch optimizers and schedulers share, checked by name before torch loads; every other key
# is checked against the class's own signature once it is imported.
OPTIMIZER_RULES: dict[str, Constraint] = {
    "lr": positive,
    "weight_decay": nonnegative,
    "eps": positive,
    "momentum": nonnegative,
    "betas": number_pair(0.0, 1.0),
}
SCHEDULER_RULES: dict[str, Constraint] = {
    "gamma": interval(0.0, 1.0, high_open=False),
    "T_max": integer(1),
    "eta_min": nonnegative,
}
MPS_MISSING = "MPS (Apple's GPU) is not available on this machine; use trainer.accelerator=cpu"
# Figures a run may be chosen by: validation (or training) figures, never test figures.
CHOOSABLE_STAGES = ("val/", "train/")
# ...and, for what a sweep returns (computed once, at the end of a run), the val-like inversion score.
SCORED_AT_END = "val_inversion/"


def show(value: Any) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value)
    return repr(value) if isinstance(value, str) else str(value)


def fail(option: str, value: Any, allowed: str | Constraint) -> None:
    raise ConfigError(f"{option}={show(value)} is not allowed: {allowed}")


def require(option: str, value: Any, rule: Constraint) -> None:
    if not rule.check(value):
        fail(option, value, rule)


def require_known_keys(section: str, keys: Iterable[str], allowed: Iterable[str], where: str = "here") -> None:
    allowed = set(allowed)
    for key in keys:
        if key not in allowed:
            known = ", ".join(sorted(k for k in allowed if not k.startswith("_")))
            raise ConfigError(f"unknown option {section}{key}; known options {where}: {known}")


def plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value


def check_values(section: str, values: Mapping[str, Any], rules: Mapping[str, Constraint]) -> None:
    """Every value that has a rule allowed by it (unknown keys are left to check_options)."""
    for key, rule in rules.items():
        if key in values:
            require(f"{section}{key}", plain(values[key]), rule)


def check_options(section: str, values: Mapping[str, Any], rules: Mapping[str, Constraint], where: str) -> None:
    """Every key known and every value allowed, by the rules the checked thing declares."""
    require_known_keys(section, [k for k in values if k not in ("_target_", "_convert_")], rules, where)
    check_values(section, values, rules)


def signature_keys(cls: type) -> set[str] | None:
    """The keyword arguments a class accepts, or None if it takes any (it has **kwargs)."""
    parameters = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return {p for p in parameters if p != "self"}


def check_ranges(family: Family, params: Mapping[str, Any] | None, section: str = "data.params") -> None:
    """Each given [low, high] range names one of the family's parameters and stays inside its constraint."""
    params = params or {}
    require_known_keys(f"{section}.", params, family.param_names, f"of the {family.label} family")
    for parameter in family.parameters:
        bounds = plain(params.get(parameter.name))
        if bounds is None:
            continue  # the family's default range
        ok = (
            isinstance(bounds, list)
            and len(bounds) == 2
            and all(is_number(b) for b in bounds)
            and bounds[0] < bounds[1]
            and parameter.constraint.contains_range(*bounds)
        )
        if not ok:
            fail(f"{section}.{parameter.name}", bounds, parameter.constraint.range_text())


def validate_data(data: DictConfig) -> Family:
    family = get_family(data.get("family"))
    check_ranges(family, data.get("params"))
    support = family.support
    grid_low = family.default_grid[0] if data.get("grid_low") is None else data.grid_low
    grid_high = family.default_grid[1] if data.get("grid_high") is None else data.grid_high
    if not support.check(grid_low):
        fail("data.grid_low", grid_low, f"must lie inside the {family.label} support {support.notation}")
    if not (support.check(grid_high) and is_number(grid_low) and grid_high > grid_low):
        fail("data.grid_high", grid_high, f"must be > data.grid_low ({grid_low}) and inside {support.notation}")
    check_values("data.", data, DATA_RULES)
    if data.get("steps_per_epoch") is not None:
        require("data.steps_per_epoch", data.steps_per_epoch, integer(1))
    return family


def _devices_ok(devices: Any) -> bool:
    """What Lightning's `devices` can mean: a count >= 1, -1 or "auto" (all), or device indices."""
    if devices in ("auto", -1, "-1"):
        return True
    if is_int(devices):
        return devices >= 1
    if isinstance(devices, str):
        parts = [p.strip() for p in devices.split(",") if p.strip()]
        return bool(parts) and all(p.isdigit() for p in parts) and (len(parts) > 1 or int(parts[0]) >= 1)
    if isinstance(devices, (list, tuple)):
        return bool(devices) and all(is_int(d) and d >= 0 for d in devices)
    return False


def validate_trainer(trainer: DictConfig) -> None:
    """The loop options; Lightning itself decides accelerators, precisions and strategies."""
    # fast_dev_run ignores max_epochs, and max_steps may bound a run instead of max_epochs.
    if not trainer.get("fast_dev_run") and trainer.get("max_steps", -1) in (-1, None):
        require("trainer.max_epochs", trainer.get("max_epochs"), integer(1))
    require("trainer.check_val_every_n_epoch", trainer.get("check_val_every_n_epoch", 1), integer(1))
    if trainer.get("accelerator") == "mps" and sys.platform != "darwin":  # known without loading torch
        raise ConfigError(f"trainer.accelerator=mps: {MPS_MISSING}")
    devices = plain(trainer.get("devices", "auto"))
    if not _devices_ok(devices):
        fail(
            "trainer.devices",
            devices,
            "must be a number of devices >= 1, -1 or auto (all of them), or a list of device indices such as [0,1]",
        )


def validate_choosing(cfg: DictConfig) -> None:
    """Nothing chooses a run or a checkpoint by test figures: they are reported, never used to choose."""
    checked = [("optimized_metric", cfg.get("optimized_metric"))]
    for name, callback in (cfg.get("callbacks") or {}).items():
        if callback is not None and callback.get("monitor") is not None:
            checked.append((f"callbacks.{name}.monitor", callback.monitor))
    for option, metric in checked:
        at_end = option == "optimized_metric" and str(metric).startswith(SCORED_AT_END)
        if metric is not None and not (str(metric).startswith(CHOOSABLE_STAGES) or at_end):
            fail(
                option,
                metric,
                "must be a val/ (or train/) metric such as val/sse_per_curve_best, or for a sweep a "
                "val_inversion/ figure; test figures are reported, never used to choose",
            )
        if at_end and not cfg.get("inversion_score"):
            fail(option, metric, "needs the inversion score, which inversion_score=null turns off")


def check_compile(value: Any) -> None:
    if isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("auto", "true", "false")):
        return
    fail("compile", value, "must be auto, true or false")


def check_inversion_score(spec: Any) -> None:
    """inversion_score: null (off), or targets >= 1 and a non-empty list of noise levels > 0."""
    if spec is None:
        return
    if not isinstance(spec, Mapping):
        fail("inversion_score", spec, "must be null (off) or hold targets and noise")
    require_known_keys("inversion_score.", spec.keys(), ("targets", "noise"))
    require("inversion_score.targets", spec.get("targets"), integer(1))
    noise = spec.get("noise")
    values = list(noise) if isinstance(noise, (list, tuple, ListConfig)) else None
    if not values or not all(positive.check(v) for v in values):
        fail("inversion_score.noise", plain(noise), "must be a non-empty list of noise sds > 0, such as [0.05,0.2]")


def validate_train(cfg: DictConfig) -> Family:
    """Every check for a training config that needs neither torch nor Lightning; raises ConfigError."""
    require_known_keys("", cfg.keys(), TOP_LEVEL)
    require("latent_dims", cfg.latent_dims, integer(1))
    require("seed", cfg.seed, integer(0, MAX_SEED))
    require("verbose", cfg.get("verbose", False), boolean)
    if cfg.get("num_threads") is not None:
        require("num_threads", cfg.num_threads, integer(1))
    check_compile(cfg.get("compile", "auto"))
    check_inversion_score(cfg.get("inversion_score"))
    family = validate_data(cfg.data)
    validate_trainer(cfg.trainer)
    for name, callback in (cfg.get("callbacks") or {}).items():
        if callback is not None and "every_n_epochs" in callback:
            require(f"callbacks.{name}.every_n_epochs", callback.every_n_epochs, integer(0))
    validate_choosing(cfg)
    check_values("optimizer.", cfg.get("optimizer") or {}, OPTIMIZER_RULES)
    check_values("scheduler.", cfg.get("scheduler") or {}, SCHEDULER_RULES)
    return family


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


def check_classes(cfg: DictConfig) -> None:
    """The model's options by the rules its class declares, and the optimizer's and scheduler's by their
    signatures (this imports them, and so torch)."""
    from betaae.models.base import model_class

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
        check_trainable_class(section, str(target), cls, [k for k in node if k != "_target_"])
        allowed = signature_keys(cls)
        if allowed is not None:
            known = allowed - {"params", "optimizer"}
            require_known_keys(f"{section}.", [k for k in node if k != "_target_"], known, f"of {target}")


# What betaae's training loop gives an optimizer and a schedule: the parameters (or the optimizer) when it is
# built, and nothing at each step.
GIVEN = {"optimizer": {"params"}, "scheduler": {"optimizer"}}
BASES = {"optimizer": "torch.optim.Optimizer", "scheduler": "torch.optim.lr_scheduler.LRScheduler"}


def check_trainable_class(section: str, target: str, cls: Any, keys: list[str]) -> None:
    """An optimizer or a schedule the loop can build and step: a class of the right kind, every argument it
    requires given, and a `step()` that needs nothing (no closure, as LBFGS wants; no metric, as
    ReduceLROnPlateau wants). Refused before anything is built, in one line."""
    import torch

    base = torch.optim.Optimizer if section == "optimizer" else torch.optim.lr_scheduler.LRScheduler
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"{section}._target_={target}: not a {BASES[section]} subclass")
    parameters = inspect.signature(cls.__init__).parameters
    required = [
        name
        for name, p in parameters.items()
        if name != "self"
        and p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and name not in GIVEN[section]
        and name not in keys
    ]
    if required:
        shown = ", ".join(f"+{section}.{name}=..." for name in required)
        raise ConfigError(f"{section}._target_={target}: requires {', '.join(required)}; give {shown}")
    step = [
        name
        for name, p in inspect.signature(cls.step).parameters.items()
        if name != "self"
        and p.default is inspect.Parameter.empty
        and p.kind is not inspect.Parameter.VAR_KEYWORD
        and p.kind is not inspect.Parameter.VAR_POSITIONAL
    ]
    if step:
        raise ConfigError(
            f"{section}._target_={target}: its step() needs {', '.join(step)} at every step, which betaae's "
            f"training loop does not give; use one that steps on its own (e.g. {_EXAMPLES[section]})"
        )


_EXAMPLES = {
    "optimizer": "torch.optim.Adam, torch.optim.AdamW or torch.optim.SGD",
    "scheduler": "torch.optim.lr_scheduler.ExponentialLR, StepLR or CosineAnnealingLR",
}


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
        job.warn(
            f"latent_dims={latent_dims} is smaller than the {family.label} family's {count} parameters "
            f"({', '.join(family.param_names)}): {latent_dims} number(s) cannot hold {count}, so reconstructions "
            f"and inversions will be poor; use latent_dims={count} or more"
        )


def check_sweep_keys(config: DictConfig, overrides: list[str]) -> None:
    """Refuse, before any job starts, an override of a key the config does not have (each job would fail)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    n_trials = OmegaConf.select(config, "hydra.sweeper.n_trials", default=None)
    if n_trials is not None:
        require("hydra.sweeper.n_trials", n_trials, integer(1))
    groups = set(config.hydra.runtime.choices)
    missing = object()
    for parsed, text in zip(OverridesParser.create().parse_overrides(overrides), overrides):
        key = parsed.get_key_element()
        if parsed.is_sweep_override() and parsed.is_discrete_sweep():
            values = list(parsed.sweep_string_iterator())
            if not values:
                raise ConfigError(f"{text}: sweeps no values; a sweep needs at least one value per setting")
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ConfigError(
                    f"{text}: {', '.join(repeated)} appears more than once; each value runs once "
                    "(for repeats, sweep the seed: seed=0,1,2)"
                )
        if key.startswith(("+", "~")) or key.split("@")[0] in groups:
            continue
        if OmegaConf.select(config, key, default=missing) is missing:
            raise ConfigError(
                f"unknown option {key}: it is not in the config (check the spelling, or add a new key with +{key}=...)"
            )
