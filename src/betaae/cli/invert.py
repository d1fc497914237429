"""What `python invert.py` does: check the options, read the targets, invert them with the checkpoint (each
answer judged and bounded: betaae.inversion.api), print what was found and write inversion.json, .csv and .png.

Options and target files are checked before torch loads, so a bad one is refused at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from betaae.config.checks import plain
from betaae.config.invert import SHORTCUTS, check_added_keys, check_params, given_params, validate_invert
from betaae.core import job
from betaae.core.errors import ConfigError, TargetError
from betaae.core.registry import import_extensions
from betaae.inversion.target_files import read_samples, read_targets, read_x


def read_inputs(cfg: DictConfig) -> dict[str, Any]:
    """The target files, read and checked as far as they can be without the checkpoint."""
    given = [k for k in ("targets", "samples") if cfg.get(k)]
    if len(given) > 1:
        raise ConfigError("give either targets=FILE or samples=FILE, not both")
    inputs: dict[str, Any] = {}
    if cfg.get("samples"):
        inputs["samples"] = read_samples(Path(str(cfg.samples)).expanduser())
    if cfg.get("targets"):
        inputs["rows"], inputs["x"], inputs["names"] = read_targets(Path(str(cfg.targets)).expanduser())
    if cfg.get("x") is not None:
        if inputs.get("x") is not None:
            raise ConfigError("the targets file has an x column already; leave out x=...")
        inputs["x"] = read_x(plain(cfg.x), 0)
    return inputs


def targets_for(cfg: DictConfig, model, inputs: dict[str, Any]) -> dict[str, Any]:
    """api.invert's target arguments, now that the checkpoint's family and grid are known."""
    family, names = model.family, model.family.param_names
    check_added_keys(job.task_overrides(), names, family.label)
    given = given_params(cfg, names, family.label)
    if given is not None and (inputs.get("rows") is not None or inputs.get("samples") is not None):
        raise ConfigError("give either targets=FILE (or samples=FILE) or one target (params=, or by name), not both")
    if inputs.get("samples") is not None:
        from betaae.inversion.observations import sampled  # torch is loaded by now

        # Checked here, before anything is written, with the name the user gave them.
        draws = sampled(inputs["samples"], model.grid, family.support, f"samples={cfg.samples}")
        return {"samples": draws, "source": str(cfg.samples)}
    if given is not None:
        check_params(given[0], family, "")
        return {"params": given[0], "source": "parameters"}
    rows = inputs.get("rows")
    if rows is None:
        example = "alpha=A beta=B, " if names == SHORTCUTS else ""
        raise ConfigError(
            f"give a target: {example}params=[{','.join(names)}] (the {family.label} family's parameters), "
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
    from betaae.inversion.observations import observe  # torch is loaded by now

    # Checked here, before anything is written, with the name the user gave them; inverted as they are.
    observed = observe(rows, model.grid, x, f"targets={path}", min_points=model.latent_dims + 2)
    return {"curves": rows, "x": x, "source": path, "observed": observed, "names": inputs.get("names")}


def warn_out_of_range(
    params: np.ndarray, model, which: str, labels: list[str] | None = None, boxes: np.ndarray | None = None
) -> None:
    """A warning (not an error), naming them, when targets lie outside the ranges the checkpoint was trained on.
    Fitted parameters count as outside only when their whole 95% interval is (`boxes`, (n, params, 2)): a
    target on the edge (Beta(2, 5)) is fitted a hair to either side of it, by chance."""
    names = model.family.param_names
    low = np.array([model.ranges[n][0] for n in names])
    high = np.array([model.ranges[n][1] for n in names])
    below, above = (params, params) if boxes is None else (boxes[..., 1], boxes[..., 0])
    outside = ((below < low) | (above > high)).any(axis=1)
    if outside.any():
        spans = ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, lo, hi in zip(names, low, high))
        labels = (
            labels if labels is not None and len(labels) == len(params) else [f"target {i}" for i in range(len(params))]
        )
        chosen = [label for label, out in zip(labels, outside) if out]
        shown = ", ".join(chosen[:10]) + (f" and {len(chosen) - 10} more" if len(chosen) > 10 else "")
        print(
            f"warning: {len(chosen)} of {len(params)} targets ({which}) lie outside the checkpoint's training "
            f"ranges ({spans}): {shown}; their codes are extrapolations",
            file=sys.stderr,
            flush=True,
        )


def main(cfg: DictConfig) -> float:
    """What `python invert.py` does; returns the median residual (decoded vs target) for sweepers."""
    from hydra.core.hydra_config import HydraConfig

    from betaae.core import job
    from betaae.runs.directories import claim

    out = Path(HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else cfg.paths.output_dir)
    job.set_run(out, "invert")
    import_extensions(cfg.get("extensions") or [])
    options = validate_invert(cfg)
    inputs = read_inputs(cfg)
    claim(out, "hydra.run.dir", what="an inversion")
    from betaae.inversion import report as reports  # torch loads from here on
    from betaae.inversion.api import invert, load_model

    model = load_model(Path(str(cfg.ckpt_path)).expanduser())
    targets = targets_for(cfg, model, inputs)
    source = targets.pop("source")
    observed = targets.pop("observed", None)
    names = targets.pop("names", None)
    if targets.get("params") is not None:
        warn_out_of_range(targets["params"], model, "their parameters", names)
    result = invert(
        model,
        **(targets if observed is None else {"curves": observed}),
        noise_sd=cfg.get("noise_sd"),
        method=cfg.method.name,
        init=cfg.init,
        fit_params=cfg.fit_params,
        **options,
    )
    labels = reports.labels_of(result, names)
    if result.params is not None and targets.get("params") is None:
        fitted = result.fit_ok & result.described
        found = [label for label, ok in zip(labels, fitted) if ok]
        boxes = result.param_intervals[0.95][fitted]
        warn_out_of_range(result.params[fitted], model, "their best-matching parameters", found, boxes)
    summary = reports.inversion_summary(result, model, options, cfg.init, source)
    job.mark_worth_keeping()  # a stop before here leaves nothing; from here on, what is written is kept
    reports.write_inversion(out, result, summary, model, targets, labels)
    reports.print_inversion(out, result, summary, labels)
    value = summary.get("median_residual_decoded_vs_target")
    return float(value) if value is not None else float("nan")
