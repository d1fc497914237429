"""One inversion run: read targets, recover their latent codes from a checkpoint, report and write results."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from betaae import plots
from betaae.checkpoints import load_model
from betaae.config import require_int, require_number
from betaae.errors import ConfigError, TargetError
from betaae.families import get_family
from betaae.inversion import INITS, METHODS, fit_family, invert
from betaae.outputs import save_figure, write_csv, write_json

KINDS = ("auto", "curves", "params")


def validate_invert(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise ConfigError(
            "ckpt_path is required: a checkpoint file or a run directory (python invert.py ckpt_path=...)"
        )
    if cfg.method not in METHODS:
        raise ConfigError(f"method={cfg.method!r} is not allowed: must be one of {', '.join(METHODS)}")
    if cfg.init not in INITS:
        raise ConfigError(f"init={cfg.init!r} is not allowed: must be one of {', '.join(INITS)}")
    if cfg.targets_kind not in KINDS:
        raise ConfigError(f"targets_kind={cfg.targets_kind!r} is not allowed: must be one of {', '.join(KINDS)}")
    require_int("max_iter", cfg.max_iter, 1)
    require_int("steps", cfg.steps, 1)
    require_number("lr", cfg.lr, 0.0, math.inf, text="must be a finite number > 0")


def check_params(params: np.ndarray, names: tuple[str, str], floors: tuple[float, float], source: str) -> None:
    """Every parameter finite and above its family's floor (alpha, beta > 0 for the Beta family)."""
    for column, (name, floor) in enumerate(zip(names, floors)):
        values = params[:, column]
        bad = ~np.isfinite(values) | (values <= floor)
        if bad.any():
            row = int(np.argmax(bad))
            where = f" (row {row})" if params.shape[0] > 1 else ""
            allowed = f"must be finite and > {floor:g}" if math.isfinite(floor) else "must be finite"
            raise TargetError(f"{source}{name}={values[row]:g}{where} is not allowed: {allowed}")


def _is_numeric_row(line: str) -> bool:
    try:
        [float(field) for field in line.split(",")]
    except ValueError:
        return False
    return True


def read_targets(path: Path) -> np.ndarray:
    """Rows from a .npy or .csv file (a header line in a CSV is skipped), as a 2-D float64 array."""
    if not path.is_file():
        raise TargetError(f"targets={path}: no such file")
    try:
        if path.suffix == ".npy":
            rows = np.load(path, allow_pickle=False)
        elif path.suffix == ".csv":
            first = path.read_text().strip().splitlines()[:1]
            skip = int(bool(first) and not _is_numeric_row(first[0]))  # a header line names the columns
            rows = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
        else:
            raise TargetError(f"targets={path}: must be a .npy or .csv file")
    except (ValueError, OSError) as err:
        raise TargetError(f"targets={path}: cannot be read: {str(err).splitlines()[0]}") from err
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim == 1:
        rows = rows[None, :]
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise TargetError(f"targets={path}: must hold a 2-D table of rows, got shape {rows.shape}")
    return rows


def load_targets(cfg: DictConfig, family, grid: torch.Tensor) -> tuple[torch.Tensor, np.ndarray | None, str]:
    """Target log-pdf rows (n, num_points), their true parameters when known, and where they came from."""
    num_points = grid.shape[0]
    names = family.param_names
    if cfg.targets:
        path = Path(cfg.targets)
        rows = read_targets(path)
        kind = cfg.targets_kind
        if kind == "auto":
            kind = "params" if rows.shape[1] == 2 and num_points != 2 else "curves"
        if kind == "params":
            if rows.shape[1] != 2:
                raise TargetError(
                    f"targets={path}: parameter rows need 2 columns ({', '.join(names)}), got {rows.shape[1]}"
                )
            check_params(rows, names, family.param_floor, f"targets={path}: ")
            params = rows
        else:
            if rows.shape[1] != num_points:
                raise TargetError(
                    f"targets={path}: rows have {rows.shape[1]} values but the checkpoint's grid has "
                    f"{num_points} points (or 2 columns for {', '.join(names)} pairs)"
                )
            bad = ~np.isfinite(rows).all(axis=1)
            if bad.any():
                raise TargetError(
                    f"targets={path}: row {int(np.argmax(bad))} has non-finite values; "
                    "every log-pdf value must be finite"
                )
            return torch.tensor(rows, dtype=torch.float32), None, str(path)
    else:
        given = [cfg.get("alpha"), cfg.get("beta")] if cfg.get("params") is None else list(cfg.params)
        if len(given) != 2 or any(v is None for v in given):
            raise ConfigError(
                f"give a target: alpha=A beta=B (the {family.name} family's {names[0]} and {names[1]}), "
                "params=[A,B], or targets=FILE"
            )
        try:
            params = np.array([[float(v) for v in given]])
        except (TypeError, ValueError):
            raise TargetError(f"alpha={given[0]} beta={given[1]}: parameters must be numbers") from None
        check_params(params, ("alpha", "beta") if cfg.get("params") is None else names, family.param_floor, "")
    curves = family.log_pdf(grid.double(), torch.tensor(params)).float()
    if not torch.isfinite(curves).all():
        row = int((~torch.isfinite(curves)).any(dim=1).nonzero()[0, 0])
        raise TargetError(f"target parameters {params[row].tolist()} give a non-finite log-pdf on the grid")
    return curves, params, "parameters"


def run_inversion(cfg: DictConfig) -> dict:
    """Invert every target, write inversion.json (and .csv and .png), print a summary, return the summary."""
    validate_invert(cfg)
    model = load_model(cfg.ckpt_path)
    spec = model.hparams.data
    family = get_family(spec["family"])
    grid = model.grid
    targets, true_params, source = load_targets(cfg, family, grid)
    found = invert(model, targets, cfg.method, cfg.init, max_iter=cfg.max_iter, steps=cfg.steps, lr=cfg.lr)
    latent, residual = found["latent"], found["residual"]
    with torch.no_grad():
        decoded = model.decoder(latent)
    pdf_error = (targets.exp() - decoded.exp()).abs().max(dim=1).values
    ranges = spec.get("params") or {n: family.default_params[n] for n in family.param_names}
    low = torch.tensor([ranges[n][0] for n in family.param_names], dtype=torch.float64)
    high = torch.tensor([ranges[n][1] for n in family.param_names], dtype=torch.float64)
    fitted, fit_residual = fit_family(family, grid, decoded, low, high) if cfg.fit_params else (None, None)

    names = family.param_names
    rows = []
    for i in range(targets.shape[0]):
        row = {
            "target": i,
            **{f"z_{j + 1}": float(v) for j, v in enumerate(latent[i])},
            "residual": float(residual[i]),
            "max_abs_pdf_error": float(pdf_error[i]),
            "evaluations": int(found["evaluations"][i]),
        }
        if true_params is not None:
            row.update({f"true_{n}": float(true_params[i, j]) for j, n in enumerate(names)})
        if fitted is not None:
            row.update({f"fit_{n}": float(fitted[i, j]) for j, n in enumerate(names)})
            row["fit_residual"] = float(fit_residual[i])
            if true_params is not None:
                row.update({f"error_{n}": float(fitted[i, j]) - float(true_params[i, j]) for j, n in enumerate(names)})
        rows.append(row)
    summary = {
        "checkpoint": model.checkpoint_path,
        "family": family.name,
        "method": cfg.method,
        "init": cfg.init,
        "targets": source,
        "count": len(rows),
        "seconds": found["seconds"],
        "seconds_per_target": found["seconds"] / len(rows),
        "median_residual": float(residual.median()),
        "max_residual": float(residual.max()),
    }
    if true_params is not None and fitted is not None:
        error = (fitted.double().numpy() - true_params).__abs__()
        summary.update({f"median_abs_error_{n}": float(np.median(error[:, j])) for j, n in enumerate(names)})
    out = Path(cfg.paths.output_dir)
    if len(rows) == 1:
        summary.update(rows[0])
    else:
        write_csv(out / "inversion.csv", rows)
    write_json(out / "inversion.json", summary)
    first = rows[0]
    target_label = ", ".join(f"{n}={first['true_' + n]:.3g}" for n in names) if true_params is not None else "target"
    decoded_label = ", ".join(f"z_{j + 1}={float(v):.3f}" for j, v in enumerate(latent[0]))
    save_figure(
        out / "inversion.png",
        plots.inversion(grid.numpy(), targets[0].numpy(), decoded[0].numpy(), target_label, decoded_label),
    )
    print_summary(out, summary, rows, names)
    return summary


def print_summary(out: Path, summary: dict, rows: list[dict], names: tuple[str, str]) -> None:
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
