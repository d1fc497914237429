"""Checks a composed config before any work starts; each problem is one line naming the option, its value
and what is allowed.

The rules live with what they check: a family declares its parameters' constraints (families.py), a
model its options (model.py, vae.py), an inversion method its options (inversion.py). This module
applies them, and holds the rules for the fixed parts: top-level options, data sizes, the trainer.
Nothing here imports torch or Lightning except the model class a config names, so a bad option is
refused quickly.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from betaae.constraints import Constraint, boolean, integer, interval, is_number, nonnegative, one_of, positive
from betaae.errors import ConfigError
from betaae.families import Family, get_family

TOP_LEVEL = {
    "task_name",
    "latent_dims",
    "seed",
    "resume",
    "num_threads",
    "optimized_metric",
    "verbose",
    "paths",
    "data",
    "model",
    "trainer",
    "callbacks",
    "logger",
    "hydra",
}
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "64-true")  # Lightning also takes 32 and 64 for the -true ones
# model.* options that every model accepts: they set how the Learner trains it, not the model itself, so
# they are checked here, before the model's own class (and with it torch) is imported.
TRAINING_OPTIONS: dict[str, Constraint] = {
    "lr": positive,
    "gamma": interval(0.0, 1.0, high_open=False),
    "weight_decay": nonnegative,
}
DATA_RULES: dict[str, Constraint] = {
    "num_points": integer(2),
    "num_train": integer(1),
    "num_val": integer(1),
    "num_test": integer(1),
    "batch_size": integer(1),
    "batches_per_step": integer(1),
    "eval_batch_size": integer(1),
    "chunk_size": integer(1),
    "seed": integer(0),
    "shuffle": boolean,
    "online": boolean,
}


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


def check_options(section: str, values: Mapping[str, Any], rules: Mapping[str, Constraint], where: str) -> None:
    """Every key known and every value allowed, by the rules the checked thing declares."""
    require_known_keys(section, [k for k in values if k != "_target_"], rules, where)
    for key, rule in rules.items():
        if key in values:
            require(f"{section}{key}", plain(values[key]), rule)


def plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value


def signature_keys(cls: type) -> set[str]:
    """The keyword arguments a class accepts, plus Hydra's own keys."""
    return {p for p in inspect.signature(cls.__init__).parameters if p != "self"} | {"_target_", "_convert_"}


def check_ranges(family: Family, params: Mapping[str, Any] | None, section: str = "data.params") -> None:
    """Each given [low, high] range names one of the family's parameters and stays inside its constraint."""
    params = params or {}
    require_known_keys(f"{section}.", params, family.param_names, f"of the {family.name} family")
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
        fail("data.grid_low", grid_low, f"must lie inside the {family.name} support {support.notation}")
    if not (support.check(grid_high) and is_number(grid_low) and grid_high > grid_low):
        fail("data.grid_high", grid_high, f"must be > data.grid_low ({grid_low}) and inside {support.notation}")
    for key, rule in DATA_RULES.items():
        if key in data:
            require(f"data.{key}", data[key], rule)
    if data.get("steps_per_epoch") is not None:
        require("data.steps_per_epoch", data.steps_per_epoch, integer(1))
    return family


def validate_model(model: DictConfig) -> None:
    """The training options, then the model's own, by the rules its class declares (this imports the class,
    and so torch)."""
    for key, rule in TRAINING_OPTIONS.items():
        if key in model:
            require(f"model.{key}", model[key], rule)
    from betaae.model import model_class

    target = model.get("_target_")
    try:
        cls = model_class(str(target))
    except (ImportError, AttributeError, TypeError, ValueError) as err:
        raise ConfigError(f"model._target_={target}: not a betaae model ({err})") from None
    check_options("model.", model, {**cls.options, **TRAINING_OPTIONS}, f"of {cls.__name__}")


def validate_trainer(trainer: DictConfig) -> None:
    # fast_dev_run ignores max_epochs, and max_steps may bound a run instead of max_epochs.
    if not trainer.get("fast_dev_run") and trainer.get("max_steps", -1) in (-1, None):
        require("trainer.max_epochs", trainer.get("max_epochs"), integer(1))
    require("trainer.check_val_every_n_epoch", trainer.get("check_val_every_n_epoch", 1), integer(1))
    require("trainer.accelerator", trainer.get("accelerator", "auto"), one_of(ACCELERATORS))
    if trainer.get("precision") not in (None, 32, 64, "32", "64", *PRECISIONS):
        fail("trainer.precision", trainer.precision, f"must be one of {', '.join(PRECISIONS)}")


def validate_train(cfg: DictConfig) -> None:
    """Every check for a training config that can run before torch and Lightning load; raises ConfigError."""
    require_known_keys("", cfg.keys(), TOP_LEVEL)
    require("latent_dims", cfg.latent_dims, integer(1))
    require("seed", cfg.seed, integer(0))
    require("verbose", cfg.get("verbose", False), boolean)
    if cfg.get("num_threads") is not None:
        require("num_threads", cfg.num_threads, integer(1))
    validate_data(cfg.data)
    validate_trainer(cfg.trainer)
    for name, callback in (cfg.get("callbacks") or {}).items():
        if callback is not None and "every_n_epochs" in callback:
            require(f"callbacks.{name}.every_n_epochs", callback.every_n_epochs, integer(0))
    validate_model(cfg.model)


def check_accelerator(accelerator: Any, devices: Any) -> None:
    """Refuse a GPU request on a machine without one, before anything is built (imports torch)."""
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
        raise ConfigError("trainer.accelerator=mps: MPS is not available here; use trainer.accelerator=cpu")
