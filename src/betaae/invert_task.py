"""What `python invert.py` does: check the options, read the targets, invert them with the checkpoint (each
answer judged and bounded: betaae.api), print what was found and write inversion.json, .csv and .png.

Options and target files are checked before torch loads, so a bad one is refused at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf

from betaae.checks import check_options, plain, require
from betaae.constraints import one_of, positive
from betaae.errors import ConfigError, TargetError
from betaae.targets import read_samples, read_targets, read_x

KINDS = ("auto", "curves", "params")
SHORTCUTS = ("alpha", "beta")  # declared in conf/invert.yaml; any family's names work as +name=value


def validate_invert(cfg: DictConfig) -> dict:
    """Every option of invert.py that needs no checkpoint; returns the chosen method's own options."""
    from betaae.inversion import INITS, METHODS

    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise ConfigError(
            "ckpt_path is required: a checkpoint file or a run directory (python invert.py ckpt_path=...)"
        )
    require("init", cfg.init, one_of(INITS))
    require("targets_kind", cfg.targets_kind, one_of(KINDS))
    if cfg.get("noise_sd") is not None:
        require("noise_sd", cfg.noise_sd, positive)
    method = plain(cfg.method)
    name = method.get("name")
    fn = METHODS.get(name, "method.name")  # a registered name, or the import path of your own method
    options = {k: v for k, v in method.items() if k != "name"}
    check_options("method.", options, fn.options, f"of method {name}")
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


def read_inputs(cfg: DictConfig) -> dict[str, Any]:
    """The target files, read and checked as far as they can be without the checkpoint."""
    given = [k for k in ("targets", "samples") if cfg.get(k)]
    if len(given) > 1:
        raise ConfigError("give either targets=FILE or samples=FILE, not both")
    inputs: dict[str, Any] = {}
    if cfg.get("samples"):
        inputs["samples"] = read_samples(Path(str(cfg.samples)).expanduser())
    if cfg.get("targets"):
        inputs["rows"], inputs["x"] = read_targets(Path(str(cfg.targets)).expanduser())
    if cfg.get("x") is not None:
        if inputs.get("x") is not None:
            raise ConfigError("the targets file has an x column already; leave out x=...")
        inputs["x"] = read_x(plain(cfg.x), 0)
    return inputs


def targets_for(cfg: DictConfig, model, inputs: dict[str, Any]) -> dict[str, Any]:
    """api.invert's target arguments, now that the checkpoint's family and grid are known."""
    family, names = model.family, model.family.param_names
    given = given_params(cfg, names, family.name)
    if given is not None and (inputs.get("rows") is not None or inputs.get("samples") is not None):
        raise ConfigError("give either targets=FILE (or samples=FILE) or one target (params=, or by name), not both")
    if inputs.get("samples") is not None:
        return {"samples": inputs["samples"], "source": str(cfg.samples)}
    if given is not None:
        check_params(given[0], family, "")
        return {"params": given[0], "source": "parameters"}
    rows = inputs.get("rows")
    if rows is None:
        example = "alpha=A beta=B, " if names == SHORTCUTS else ""
        raise ConfigError(
            f"give a target: {example}params=[{','.join(names)}] (the {family.name} family's parameters), "
            "targets=FILE or samples=FILE"
        )
    path, x = str(cfg.targets), inputs.get("x")
    kind = cfg.targets_kind
    if kind == "auto":
        kind = "params" if x is None and rows.shape[1] == len(names) and len(model.grid) != len(names) else "curves"
    if kind == "params":
        if rows.shape[1] != len(names):
            raise TargetError(
                f"targets={path}: parameter rows need {len(names)} columns ({', '.join(names)}), got {rows.shape[1]}"
            )
        if not np.isfinite(rows).all():
            raise TargetError(f"targets={path}: parameter rows must be finite numbers")
        check_params(rows, family, f"targets={path}: ")
        return {"params": rows, "source": path}
    from betaae.observations import observe  # torch is loaded by now

    # Checked here, before anything is written, with the name the user gave them; inverted as they are.
    observed = observe(rows, model.grid, x, f"targets={path}", min_points=model.latent_dims + 2)
    return {"curves": rows, "x": x, "source": path, "observed": observed}


def warn_out_of_range(params: np.ndarray, model, which: str) -> None:
    """A warning (not an error) when targets lie outside the ranges the checkpoint was trained on."""
    names = model.family.param_names
    low = np.array([model.ranges[n][0] for n in names])
    high = np.array([model.ranges[n][1] for n in names])
    outside = ((params < low) | (params > high)).any(axis=1)
    if outside.any():
        spans = ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, lo, hi in zip(names, low, high))
        print(
            f"warning: {int(outside.sum())} of {len(params)} targets ({which}) lie outside the checkpoint's training "
            f"ranges ({spans}); their codes are extrapolations",
            file=sys.stderr,
            flush=True,
        )


def main(cfg: DictConfig) -> float:
    """What `python invert.py` does; returns the median residual (decoded vs target) for sweepers."""
    from hydra.core.hydra_config import HydraConfig

    from betaae import job
    from betaae.rundirs import claim

    out = Path(HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else cfg.paths.output_dir)
    job.set_run(out, "invert")
    options = validate_invert(cfg)
    inputs = read_inputs(cfg)
    claim(out, "hydra.run.dir", what="an inversion")
    from betaae import reports  # torch loads from here on
    from betaae.api import invert, load_model

    model = load_model(Path(str(cfg.ckpt_path)).expanduser())
    targets = targets_for(cfg, model, inputs)
    source = targets.pop("source")
    observed = targets.pop("observed", None)
    if targets.get("params") is not None:
        warn_out_of_range(targets["params"], model, "their parameters")
    job.began_training()  # from here on, what is written is worth keeping
    result = invert(
        model,
        **(targets if observed is None else {"curves": observed}),
        noise_sd=cfg.get("noise_sd"),
        method=cfg.method.name,
        init=cfg.init,
        fit_params=cfg.fit_params,
        **options,
    )
    if result.params is not None and targets.get("params") is None:
        warn_out_of_range(result.params[result.fit_ok], model, "their best-matching parameters")
    summary = reports.inversion_summary(result, model, options, cfg.init, source)
    reports.write_inversion(out, result, summary, model, targets)
    reports.print_inversion(out, result, summary)
    value = summary.get("median_residual_decoded_vs_target")
    return float(value) if value is not None else float("nan")
