"""Checks a composed config before any work starts; each problem is one line naming the option,
its value and what is allowed."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from betaae.errors import ConfigError
from betaae.families import FAMILIES

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


def _fail(option: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{option}={_show(value)} is not allowed: {allowed}")


def _show(value: Any) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value)
    return repr(value) if isinstance(value, str) else str(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def require_int(option: str, value: Any, minimum: int) -> None:
    if not _is_int(value) or value < minimum:
        _fail(option, value, f"must be an integer >= {minimum}")


def require_number(
    option: str,
    value: Any,
    low: float,
    high: float,
    low_open: bool = True,
    high_open: bool = False,
    text: str | None = None,
) -> None:
    ok = (
        _is_number(value)
        and (value > low if low_open else value >= low)
        and (value < high if high_open else value <= high)
    )
    if not ok:
        _fail(
            option,
            value,
            text or f"must be a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}",
        )


def require_bool(option: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(option, value, "must be true or false")


def require_known_keys(section: str, keys: Iterable[str], allowed: set[str]) -> None:
    for key in keys:
        if key not in allowed:
            raise ConfigError(f"unknown option {section}{key}; known options here: {', '.join(sorted(allowed))}")


def signature_keys(target: str) -> set[str]:
    """The keyword arguments a `_target_` class accepts, plus Hydra's own keys."""
    module, _, name = target.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    return {p for p in inspect.signature(cls.__init__).parameters if p != "self"} | {"_target_", "_convert_"}


def validate_data(data: DictConfig) -> None:
    require_known_keys("data.", data.keys(), signature_keys(data._target_))
    if "family" not in data or data.family not in FAMILIES:
        _fail("data.family", data.family, f"must be one of {', '.join(FAMILIES)}")
    family = FAMILIES[data.family]
    params = data.get("params") or {}
    require_known_keys("data.params.", params.keys(), set(family.param_names))
    for name, floor in zip(family.param_names, family.param_floor):
        option = f"data.params.{name}"
        bounds = params.get(name)
        if bounds is None or len(bounds) != 2 or not all(_is_number(b) for b in bounds):
            _fail(option, bounds, "must be a pair [low, high] of finite numbers")
        low, high = bounds
        if low < floor or not low < high:
            floor_text = f"{floor} <= " if math.isfinite(floor) else ""
            _fail(option, bounds, f"must satisfy {floor_text}low < high")
    support_low, support_high = family.support
    require_number(
        "data.grid_low",
        data.grid_low,
        support_low,
        support_high,
        True,
        True,
        f"must lie inside the {family.name} support ({support_low}, {support_high})",
    )
    require_number(
        "data.grid_high",
        data.grid_high,
        data.grid_low,
        support_high,
        True,
        True,
        f"must be > data.grid_low ({data.grid_low}) and < {support_high}",
    )
    require_int("data.num_points", data.num_points, 2)
    for key in ("num_train", "num_val", "num_test", "batch_size", "batches_per_step", "eval_batch_size", "chunk_size"):
        require_int(f"data.{key}", data[key], 1)
    if data.steps_per_epoch is not None:
        require_int("data.steps_per_epoch", data.steps_per_epoch, 1)
    require_int("data.seed", data.seed, 0)
    require_bool("data.shuffle", data.shuffle)
    require_bool("data.online", data.online)


def validate_model(model: DictConfig) -> None:
    require_known_keys("model.", model.keys(), signature_keys(model._target_) - {"data"})
    require_int("model.latent_dims", model.latent_dims, 1)
    hidden = model.hidden
    sizes = [hidden] if _is_int(hidden) else list(hidden) if isinstance(hidden, ListConfig) else None
    if sizes is None or not all(_is_int(h) and h >= 1 for h in sizes):
        _fail("model.hidden", hidden, "must be a list of integers >= 1, e.g. [128] or [256,128]")
    require_number("model.lr", model.lr, 0.0, math.inf, text="must be a finite number > 0")
    require_number("model.gamma", model.gamma, 0.0, 1.0, text="must be a number in (0, 1]")
    require_number(
        "model.weight_decay", model.weight_decay, 0.0, math.inf, low_open=False, text="must be a finite number >= 0"
    )


def validate_trainer(trainer: DictConfig) -> None:
    require_known_keys("trainer.", trainer.keys(), signature_keys(trainer._target_))
    # fast_dev_run ignores max_epochs, and max_steps may bound a run instead of max_epochs.
    if not trainer.get("fast_dev_run") and trainer.get("max_steps", -1) in (-1, None):
        require_int("trainer.max_epochs", trainer.get("max_epochs"), 1)
    require_int("trainer.check_val_every_n_epoch", trainer.get("check_val_every_n_epoch", 1), 1)
    check_accelerator(trainer.get("accelerator", "auto"), trainer.get("devices", "auto"))


def check_accelerator(accelerator: Any, devices: Any) -> None:
    """Refuse a GPU request on a machine without one, before anything is built."""
    if accelerator not in ACCELERATORS:
        _fail("trainer.accelerator", accelerator, f"must be one of {', '.join(ACCELERATORS)}")
    if accelerator in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ConfigError(
                f"trainer.accelerator={accelerator}: no CUDA GPU is visible on this machine "
                f"(torch {torch.__version__}, {build}); run on the CPU with trainer.accelerator=cpu"
            )
        if _is_int(devices) and devices > torch.cuda.device_count():
            _fail("trainer.devices", devices, f"this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.accelerator=mps: MPS is not available here; use trainer.accelerator=cpu")


def validate_train(cfg: DictConfig) -> None:
    """Every check for a training config; raises ConfigError on the first problem."""
    require_known_keys("", cfg.keys(), TOP_LEVEL)
    require_int("latent_dims", cfg.latent_dims, 1)
    require_int("seed", cfg.seed, 0)
    if cfg.get("num_threads") is not None:
        require_int("num_threads", cfg.num_threads, 1)
    validate_data(cfg.data)
    validate_model(cfg.model)
    validate_trainer(cfg.trainer)
    images = (cfg.get("callbacks") or {}).get("latent_images")
    if images is not None:
        require_int("callbacks.latent_images.every_n_epochs", images.get("every_n_epochs", 0), 0)
