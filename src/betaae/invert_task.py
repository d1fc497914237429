"""One inversion run: read targets, recover their latent codes from a checkpoint, report and write results."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from betaae import plots
from betaae.checkpoints import Checkpointed, load_model
from betaae.checks import check_options, plain, require
from betaae.constraints import one_of
from betaae.errors import ConfigError, TargetError
from betaae.families import Family
from betaae.inversion import INITS, METHODS, Inversion, fit_family, invert
from betaae.outputs import save_figure, write_csv, write_json

KINDS = ("auto", "curves", "params")


def validate_invert(cfg: DictConfig) -> dict:
    """Every option of invert.py; returns the chosen method's own options."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise ConfigError(
            "ckpt_path is required: a checkpoint file or a run directory (python invert.py ckpt_path=...)"
        )
    require("init", cfg.init, one_of(INITS))
    require("targets_kind", cfg.targets_kind, one_of(KINDS))
    method = plain(cfg.method)
    name = method.get("name")
    fn = METHODS.get(name, "method.name")  # a registered name, or the import path of your own method
    options = {k: v for k, v in method.items() if k != "name"}
    check_options("method.", options, fn.options, f"of method {name}")
    return options


def check_params(params: np.ndarray, family: Family, source: str) -> None:
    """Every parameter value allowed by its constraint (alpha, beta > 0 for the Beta family)."""
    for column, parameter in enumerate(family.parameters):
        for row, value in enumerate(params[:, column]):
            if not parameter.constraint.check(float(value)):
                where = f" (row {row})" if params.shape[0] > 1 else ""
                raise TargetError(f"{source}{parameter.name}={value:g}{where} is not allowed: {parameter.constraint}")


def read_targets(path: Path) -> np.ndarray:
    """Rows from a .npy or .csv file (a header line in a CSV is skipped), as a 2-D float64 array."""
    if path.is_dir():
        raise TargetError(f"targets={path}: is a directory; give a .npy or .csv file")
    if not path.exists():
        raise TargetError(f"targets={path}: no such file")
    if not path.is_file():
        raise TargetError(f"targets={path}: is not a regular file; give a .npy or .csv file")
    if path.suffix not in (".npy", ".csv"):
        raise TargetError(f"targets={path}: must be a .npy or .csv file")
    try:
        if path.suffix == ".npy":
            rows = np.load(path, allow_pickle=False)
        else:
            lines = [line for line in path.read_text().splitlines() if line.strip()]
            if not lines:
                raise TargetError(f"targets={path}: the file is empty")
            skip = int(not _is_numeric_row(lines[0]))  # a header line names the columns
            rows = np.loadtxt(lines[skip:], delimiter=",", ndmin=2)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise TargetError(f"targets={path}: cannot be read: {str(err).splitlines()[0]}") from err
    if np.iscomplexobj(rows):
        raise TargetError(f"targets={path}: holds complex numbers; targets must be real")
    if rows.dtype.kind not in "biuf":
        raise TargetError(f"targets={path}: holds {rows.dtype} values; targets must be numbers")
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim == 1:
        rows = rows[None, :]
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise TargetError(f"targets={path}: must hold a 2-D table of rows, got shape {rows.shape}")
    return rows


def _is_numeric_row(line: str) -> bool:
    try:
        [float(field) for field in line.split(",")]
    except ValueError:
        return False
    return True


def given_params(cfg: DictConfig, family: Family) -> tuple[np.ndarray, str] | None:
    """The one target given on the command line, as a (1, num_params) row, and how it was given."""
    names = family.param_names
    listed = f"{', '.join(names)}; use params=[{','.join(names)}]"
    for name in ("alpha", "beta"):
        if cfg.get(name) is not None and name not in names:
            raise ConfigError(
                f"{name}={cfg.get(name)}: the {family.name} family has no {name}; its parameters are {listed}"
            )
    params = plain(cfg.get("params"))
    if params is None and all(cfg.get(n) is None for n in ("alpha", "beta")):
        return None
    if params is None:
        values, source = [cfg.get("alpha"), cfg.get("beta")], "alpha, beta"
        if any(v is None for v in values):
            raise ConfigError("give both alpha=A and beta=B (or params=[A,B])")
    elif isinstance(params, dict):
        unknown = set(params) - set(names)
        if unknown or len(params) != len(names):
            raise ConfigError(f"params={params}: must name each of the {family.name} family's parameters, {listed}")
        values, source = [params[n] for n in names], "params"
    elif isinstance(params, (list, ListConfig)):
        if len(params) != len(names):
            raise ConfigError(
                f"params={params}: the {family.name} family has {len(names)} parameters ({', '.join(names)}), "
                f"got {len(params)}"
            )
        values, source = list(params), "params"
    else:
        raise ConfigError(f"params={params}: must be a list [{','.join(names)}] or a mapping of names to values")
    try:
        row = np.array([[float(v) for v in values]])
    except (TypeError, ValueError):
        raise TargetError(f"{source}={values}: parameters must be numbers") from None
    return row, source


def load_targets(cfg: DictConfig, loaded: Checkpointed) -> tuple[torch.Tensor, np.ndarray | None, str]:
    """Target log-pdf rows (n, num_points), their true parameters when known, and where they came from."""
    family, grid = loaded.family, loaded.grid
    num_points, names = grid.shape[0], family.param_names
    given = given_params(cfg, family)
    if cfg.targets and given is not None:
        raise ConfigError("give either targets=FILE or one target (alpha=, beta= or params=), not both")
    if cfg.targets:
        path = Path(cfg.targets)
        rows = read_targets(path)
        kind = cfg.targets_kind
        if kind == "auto":
            kind = "params" if rows.shape[1] == len(names) and num_points != len(names) else "curves"
        if kind == "params":
            if rows.shape[1] != len(names):
                raise TargetError(
                    f"targets={path}: parameter rows need {len(names)} columns ({', '.join(names)}), "
                    f"got {rows.shape[1]}"
                )
            check_params(rows, family, f"targets={path}: ")
            params = rows
        else:
            if rows.shape[1] != num_points:
                raise TargetError(
                    f"targets={path}: rows have {rows.shape[1]} values but the checkpoint's grid has "
                    f"{num_points} points (or {len(names)} columns for {', '.join(names)} rows)"
                )
            bad = ~np.isfinite(rows).all(axis=1)
            if bad.any():
                raise TargetError(
                    f"targets={path}: row {int(np.argmax(bad))} has non-finite values; "
                    "every log-pdf value must be finite"
                )
            return torch.tensor(rows, dtype=torch.float32), None, str(path)
    elif given is not None:
        params, _ = given
        check_params(params, family, "")
    else:
        example = "alpha=A beta=B, " if names == ("alpha", "beta") else ""
        raise ConfigError(
            f"give a target: {example}params=[{','.join(names)}] (the {family.name} family's parameters), "
            "or targets=FILE"
        )
    curves = family.log_pdf(grid.double(), torch.tensor(params)).float()
    if not torch.isfinite(curves).all():
        row = int((~torch.isfinite(curves)).any(dim=1).nonzero()[0, 0])
        raise TargetError(f"target parameters {params[row].tolist()} give a non-finite log-pdf on the grid")
    return curves, params, "parameters"


def warn_out_of_range(params: np.ndarray, loaded: Checkpointed, which: str) -> None:
    """A warning (not an error) when targets lie outside the ranges the checkpoint was trained on."""
    ranges = loaded.ranges
    names = loaded.family.param_names
    low = np.array([ranges[n][0] for n in names])
    high = np.array([ranges[n][1] for n in names])
    outside = ((params < low) | (params > high)).any(axis=1)
    if outside.any():
        spans = ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, lo, hi in zip(names, low, high))
        print(
            f"warning: {int(outside.sum())} of {len(params)} targets ({which}) lie outside the checkpoint's training "
            f"ranges ({spans}); their codes are extrapolations",
            file=sys.stderr,
            flush=True,
        )


def result_rows(found: Inversion, pdf_error, true_params, fitted, fit_residual, names) -> list[dict]:
    rows = []
    for i in range(found.codes.shape[0]):
        row = {
            "target": i,
            **{f"z_{j + 1}": float(v) for j, v in enumerate(found.codes[i])},
            "residual": float(found.residual[i]),
            "max_abs_pdf_error": float(pdf_error[i]),
            "evaluations": int(found.evaluations[i]),
        }
        if true_params is not None:
            row.update({f"true_{n}": float(true_params[i, j]) for j, n in enumerate(names)})
        if fitted is not None:
            row.update({f"fit_{n}": float(fitted[i, j]) for j, n in enumerate(names)})
            row["fit_residual"] = float(fit_residual[i])
            if true_params is not None:
                row.update({f"error_{n}": float(fitted[i, j]) - float(true_params[i, j]) for j, n in enumerate(names)})
        rows.append(row)
    return rows


def run_inversion(cfg: DictConfig) -> dict:
    """Invert every target, write inversion.json (and .csv and .png), print a summary, return the summary."""
    options = validate_invert(cfg)
    loaded = load_model(cfg.ckpt_path)
    family, names, model = loaded.family, loaded.family.param_names, loaded.model
    targets, true_params, source = load_targets(cfg, loaded)
    if true_params is not None:
        warn_out_of_range(true_params, loaded, "their parameters")
    found = invert(model, targets, cfg.method.name, cfg.init, **options)
    with torch.no_grad():
        decoded = model.decode(found.codes)
    pdf_error = (targets.exp() - decoded.exp()).abs().max(dim=1).values
    fitted = fit_residual = None
    if cfg.fit_params:
        ranges = loaded.ranges
        low = torch.tensor([ranges[n][0] for n in names], dtype=torch.float64)
        high = torch.tensor([ranges[n][1] for n in names], dtype=torch.float64)
        fitted, fit_residual = fit_family(family, loaded.grid, decoded, low, high)
        if true_params is None:
            warn_out_of_range(fitted.double().numpy(), loaded, "their best-matching parameters")

    rows = result_rows(found, pdf_error, true_params, fitted, fit_residual, names)
    summary = {
        "checkpoint": loaded.path,
        "family": family.name,
        "method": found.method,
        "method_options": options,
        "init": cfg.init,
        "targets": source,
        "count": len(rows),
        "seconds": found.seconds,
        "seconds_per_target": found.seconds / len(rows),
        "median_residual": float(found.residual.median()),
        "max_residual": float(found.residual.max()),
    }
    if true_params is not None and fitted is not None:
        error = np.abs(fitted.double().numpy() - true_params)
        summary.update({f"median_abs_error_{n}": float(np.median(error[:, j])) for j, n in enumerate(names)})
    out = Path(cfg.paths.output_dir)
    if len(rows) == 1:
        summary.update(rows[0])
    else:
        write_csv(out / "inversion.csv", rows)
    write_json(out / "inversion.json", summary)
    first = rows[0]
    target_label = ", ".join(f"{n}={first['true_' + n]:.3g}" for n in names) if true_params is not None else "target"
    decoded_label = "decoded " + ", ".join(f"z_{j + 1}={float(v):.3f}" for j, v in enumerate(found.codes[0]))
    checkpoint = Path(loaded.path).name
    save_figure(
        out / "inversion.png",
        plots.inversion(
            loaded.grid.numpy(), targets[0].numpy(), decoded[0].numpy(), target_label, decoded_label, checkpoint
        ),
    )
    print_summary(out, summary, rows, names)
    return summary


def print_summary(out: Path, summary: dict, rows: list[dict], names: tuple[str, ...]) -> None:
    if len(rows) == 1:
        row = rows[0]
        code = ", ".join(f"{row[k]:.4f}" for k in row if k.startswith("z_"))
        lines = [
            f"latent code: ({code})",
            f"residual (L2 of log-pdf difference): {row['residual']:.4g}",
            f"max |pdf error|: {row['max_abs_pdf_error']:.4g}",
            f"evaluations: {row['evaluations']}   time: {summary['seconds']:.3f} s",
        ]
        if "fit_" + names[0] in row:
            lines.append(
                "best-matching "
                + ", ".join(f"{n}={row['fit_' + n]:.4f}" for n in names)
                + f" (fit residual {row['fit_residual']:.3g})"
            )
    else:
        lines = [
            f"inverted {len(rows)} targets with {summary['method']} in {summary['seconds']:.2f} s "
            f"({1000 * summary['seconds_per_target']:.2f} ms per target)",
            f"residual: median {summary['median_residual']:.4g}, max {summary['max_residual']:.4g}",
        ]
        if f"median_abs_error_{names[0]}" in summary:
            lines.append(
                "parameter recovery, median |error|: "
                + ", ".join(f"{n} {summary['median_abs_error_' + n]:.3g}" for n in names)
            )
    lines.append(f"outputs: {out}/ (inversion.json{', inversion.csv' if len(rows) > 1 else ''}, inversion.png)")
    print("\n".join(lines), flush=True)


def main(cfg: DictConfig) -> float:
    """What `python invert.py` does; returns the median residual."""
    from hydra.core.hydra_config import HydraConfig

    from betaae import job
    from betaae.rundirs import claim

    out = HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else cfg.paths.output_dir
    job.set_run(out, "invert")
    claim(Path(out), "hydra.run.dir", what="an inversion")
    return run_inversion(cfg)["median_residual"]
