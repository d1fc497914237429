"""The rules of invert.py's options: every one that needs no checkpoint is checked before torch loads, and a
target given on the command line is checked against the checkpoint's family as soon as that is known."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf

from betaae.config.checks import check_options, plain, require
from betaae.core.constraints import one_of
from betaae.core.errors import ConfigError, TargetError
from betaae.inversion.options import INITS, METHOD_OPTIONS, NOISE_SD

KINDS = ("auto", "curves", "params")

SHORTCUTS = ("alpha", "beta")  # declared in conf/invert.yaml; any family's names work as +name=value


def validate_invert(cfg: DictConfig) -> dict:
    """Every option of invert.py that needs no checkpoint; returns the chosen method's own options."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise ConfigError(
            "ckpt_path is required: a checkpoint file or a run directory (python invert.py ckpt_path=...)"
        )
    require("init", cfg.init, one_of(INITS))
    require("targets_kind", cfg.targets_kind, one_of(KINDS))
    if cfg.get("noise_sd") is not None:
        require("noise_sd", cfg.noise_sd, NOISE_SD)
    method = plain(cfg.method)
    name = method.get("name")
    options = {k: v for k, v in method.items() if k != "name"}
    rules = METHOD_OPTIONS.get(name) if isinstance(name, str) else None
    if rules is None:  # not a built-in: a registered name or the import path of your own (imports torch)
        from betaae.inversion.methods import METHODS

        rules = METHODS.get(name, "method.name").options
    check_options("method.", options, rules, f"of method {name}")
    return options


def given_params(cfg: DictConfig, names: tuple[str, ...], family: str) -> tuple[np.ndarray, str] | None:
    """The one target given on the command line by its parameters, as a (1, k) row, and how it was given."""
    listed = f"{', '.join(names)}; use params=[{','.join(names)}]"
    for name in SHORTCUTS:
        if cfg.get(name) is not None and name not in names:
            raise ConfigError(f"{name}={cfg.get(name)}: the {family} family has no {name}; its parameters are {listed}")
    by_name = {n: cfg.get(n) for n in names if cfg.get(n) is not None}
    params = plain(cfg.get("params"))
    if params is not None and by_name:
        raise ConfigError(f"give params=[...] or {', '.join(f'{n}=' for n in names)}, not both")
    if params is None and not by_name:
        return None
    if by_name:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ConfigError(f"give every parameter of the {family} family: {' '.join(f'{n}=...' for n in names)}")
        values, source = [by_name[n] for n in names], ", ".join(names)
    elif isinstance(params, dict):
        if set(params) != set(names):
            raise ConfigError(f"params={params}: must name each of the {family} family's parameters, {listed}")
        values, source = [params[n] for n in names], "params"
    elif isinstance(params, (list, ListConfig)):
        if len(params) != len(names):
            raise ConfigError(
                f"params={params}: the {family} family has {len(names)} parameters ({', '.join(names)}), "
                f"got {len(params)}"
            )
        values, source = list(params), "params"
    else:
        raise ConfigError(f"params={params}: must be a list [{','.join(names)}] or a mapping of names to values")
    try:
        return np.array([[float(v) for v in values]]), source
    except (TypeError, ValueError):
        raise TargetError(f"{source}={values}: parameters must be numbers") from None


def check_params(params: np.ndarray, family, source: str) -> None:
    """Every parameter value allowed by its constraint (alpha, beta > 0 for the Beta family)."""
    for column, parameter in enumerate(family.parameters):
        for row, value in enumerate(params[:, column]):
            if not parameter.constraint.check(float(value)):
                where = f" (row {row})" if params.shape[0] > 1 else ""
                raise TargetError(f"{source}{parameter.name}={value:g}{where} is not allowed: {parameter.constraint}")


def check_added_keys(overrides: list[str], names: tuple[str, ...], family: str) -> None:
    """A key added on the command line (`+name=value`) is one of the family's parameters, or it is refused:
    invert.py has no other use for it, and a silently ignored option would look like one that worked."""
    for text in overrides:
        if not text.startswith("+"):
            continue
        key = text.lstrip("+").split("=", 1)[0]
        if key not in names:
            raise ConfigError(
                f"unknown option {key}: invert.py has no such option (python invert.py --help lists them), and "
                f"the {family} family's parameters are {', '.join(names)}"
            )
