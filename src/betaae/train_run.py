"""One training run, start to finish: validate, build, fit, test, and write every output of the run."""

from __future__ import annotations

import logging
import math
import os
import re
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf, open_dict

from betaae import plots
from betaae.callbacks import FiniteLossGuard, History
from betaae.checkpoints import AtomicCheckpointIO, read_checkpoint
from betaae.config import validate_train
from betaae.errors import ConfigError, InterruptedRun
from betaae.model import AutoEncoder, sse_per_curve
from betaae.outputs import atomic_write_bytes, save_figure, write_json

log = logging.getLogger(__name__)
SEED_QUALITY = 0.038  # the seed notebook's final mean per-curve squared error


NOISE = (
    "💡 Tip",
    "`weights_only` was not set",
    "isinstance(treespec, LeafSpec)",
    "overridden `transfer_batch_to_device`",
    "smaller than the logging interval",
)


def _not_noise(record: logging.LogRecord) -> bool:
    return not any(text in record.getMessage() for text in NOISE)


def quiet_lightning() -> None:
    """Drop Lightning's advertising and the warnings that do not apply to this project's design.

    Safe to call once per run: the filter is installed only once, however many runs share a process.
    """
    for text in NOISE:
        warnings.filterwarnings("ignore", message=f".*{re.escape(text)}.*")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.trainer.connectors.checkpoint_connector"):
        logger = logging.getLogger(name)
        if _not_noise not in logger.filters:
            logger.addFilter(_not_noise)


def resume_config(cfg: DictConfig) -> tuple[DictConfig, Path]:
    """The saved config of the run to resume, with any other command-line overrides applied on top."""
    run_dir = Path(cfg.resume)
    saved, last = run_dir / "config.yaml", run_dir / "checkpoints" / "last.ckpt"
    if not saved.is_file():
        raise ConfigError(f"resume={cfg.resume}: not a betaae run directory (it has no config.yaml)")
    if not last.is_file():
        raise ConfigError(f"resume={cfg.resume}: the run has no checkpoints/last.ckpt to resume from")
    read_checkpoint(last)  # a truncated or foreign file gets a one-line error here, not deep inside Lightning
    resumed = OmegaConf.load(saved)
    overrides = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    extra = [o for o in overrides if not o.split("=")[0].lstrip("+~").startswith("resume")]
    resumed = OmegaConf.merge(resumed, OmegaConf.from_dotlist([o.lstrip("+") for o in extra]))
    with open_dict(resumed):
        resumed.resume = str(run_dir)
        resumed.paths.output_dir = str(run_dir)
    return resumed, last


def limit_threads(cfg: DictConfig) -> None:
    """Honour num_threads; under the joblib launcher, share the cores between parallel jobs."""
    threads = cfg.get("num_threads")
    if threads is None and HydraConfig.initialized():
        launcher = HydraConfig.get().launcher
        if "joblib" in str(launcher.get("_target_", "")).lower():
            jobs = launcher.get("n_jobs", -1)
            jobs = os.cpu_count() if jobs in (None, -1) else jobs
            threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    if threads:
        torch.set_num_threads(int(threads))


def flat_hparams(cfg: DictConfig) -> dict[str, float | int | str | bool]:
    """The run's settings as flat scalar values for TensorBoard's HPARAMS tab."""
    flat: dict[str, float | int | str | bool] = {"latent_dims": cfg.latent_dims, "seed": cfg.seed}
    for section in ("model", "data", "trainer"):
        for key, value in OmegaConf.to_container(cfg[section], resolve=True).items():
            if key.startswith("_") or value is None:
                continue
            flat[f"{section}.{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


def write_figures(out: Path, model: AutoEncoder, datamodule, history: list[dict]) -> None:
    figures = out / "figures"
    grid = datamodule.grid.cpu().numpy()
    names = list(datamodule.family.param_names)
    val_curves, val_params = (t.cpu() for t in datamodule.splits["val"])
    test_curves, test_params = (t.cpu() for t in datamodule.splits["test"])
    save_figure(
        figures / "sample_curves.png", plots.sample_curves(grid, val_curves[:5].numpy(), val_params[:5].numpy(), names)
    )
    if history:
        save_figure(figures / "loss_history.png", plots.loss_history(history))
    model = model.cpu().eval()
    with torch.no_grad():
        latent = model.encoder(val_curves)
        recon = model(test_curves[:6])
    save_figure(figures / "latent_histograms.png", plots.latent_histograms(latent.numpy()))
    save_figure(
        figures / "reconstructions.png",
        plots.reconstructions(grid, test_curves[:6].numpy(), recon.numpy(), test_params[:6].numpy(), names),
    )


def run_training(cfg: DictConfig) -> dict:
    """Train one autoencoder as configured, write its outputs, and return its final metrics."""
    started = time.perf_counter()
    quiet_lightning()
    last_ckpt = None
    if cfg.get("resume"):
        cfg, last_ckpt = resume_config(cfg)
    validate_train(cfg)
    limit_threads(cfg)
    out = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, verbose=False)

    datamodule = instantiate(cfg.data, _convert_="all")
    model = instantiate(cfg.model, data=datamodule.spec, _convert_="all")
    history = History()
    configured = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    loggers = [instantiate(lg) for lg in (cfg.get("logger") or {}).values() if lg is not None]
    # Lightning refuses these two combinations outright; drop the callback instead of failing the run.
    if not cfg.trainer.get("enable_progress_bar", True):
        configured = [c for c in configured if not isinstance(c, ProgressBar)]
    if not loggers:
        configured = [c for c in configured if not isinstance(c, LearningRateMonitor)]
    callbacks = [*configured, history, FiniteLossGuard()]
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )
    if trainer.is_global_zero:
        atomic_write_bytes(out / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True).encode())
    if last_ckpt is not None:
        log.info("resuming %s from %s", out, last_ckpt)

    fit_started, fit_started_unix = time.perf_counter(), time.time()
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=str(last_ckpt) if last_ckpt else None)
    except SystemExit as stop:
        # Lightning turns SIGTERM into SIGTERMException and Ctrl-C into sys.exit(1) after its own cleanup.
        if not (isinstance(stop, SIGTERMException) or trainer.interrupted):
            raise
        for logger in trainer.loggers:
            logger.finalize("interrupted")
        what, code = ("SIGTERM", 143) if isinstance(stop, SIGTERMException) else ("Ctrl-C", 130)
        raise InterruptedRun(
            f"training interrupted by {what} during epoch {trainer.current_epoch}; {out / 'checkpoints' / 'last.ckpt'} "
            f"holds the last completed epoch; resume with: python train.py resume={out}",
            code,
        ) from None
    train_time = time.perf_counter() - fit_started

    ckpt = trainer.checkpoint_callback
    best = ckpt.best_model_path if ckpt is not None and ckpt.best_model_path else None
    test_results = trainer.test(model, datamodule=datamodule, ckpt_path=best, verbose=False)
    if not trainer.is_global_zero:
        return {}

    # From here on the model holds the best weights (trainer.test loaded them).
    # trainer.test already measured the test split (and logged it to TensorBoard); the others are measured here.
    metrics = {"test/sse_per_curve": float(test_results[0]["test/sse_per_curve"])}
    for name in ("train", "val"):
        if name in datamodule.splits:
            metrics[f"{name}/sse_per_curve"] = float(sse_per_curve(model, datamodule.splits[name][0]).mean())
    if "train" not in datamodule.splits:  # online data has no fixed training set: report the last epoch's figure
        metrics["train/sse_per_curve"] = next(
            (row["train/sse_per_curve"] for row in reversed(history.rows) if "train/sse_per_curve" in row), math.nan
        )
    val_history = [row["val/sse_per_curve"] for row in history.rows if "val/sse_per_curve" in row]
    reached = [row["elapsed_s"] for row in history.rows if row.get("val/sse_per_curve", 1e9) <= SEED_QUALITY]
    metrics.update(
        {
            "val/sse_per_curve_best": min(val_history) if val_history else metrics["val/sse_per_curve"],
            "epochs": trainer.current_epoch,
            "global_step": trainer.global_step,
            "train_time_s": train_time,
            "fit_started_unix": fit_started_unix,
            "num_threads": torch.get_num_threads(),
            "seconds_to_seed_quality": reached[0] if reached else None,
            "best_checkpoint": best,
        }
    )
    write_figures(out, model, datamodule, history.rows)
    metrics["wall_time_s"] = time.perf_counter() - started
    write_json(out / "metrics.json", metrics)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            hp_metrics = {
                f"hparams/{k.replace('/', '_')}": metrics[k]
                for k in ("val/sse_per_curve_best", "test/sse_per_curve", "train_time_s")
            }
            logger.log_hyperparams(flat_hparams(cfg), metrics=hp_metrics)
            logger.finalize("success")
    print_summary(out, metrics, Path(cfg.paths.log_dir), datamodule.family.param_names)
    return metrics


def print_summary(out: Path, metrics: dict, log_dir: Path, names: tuple[str, str]) -> None:
    """The few lines a user reads at the end of a run: figures, and where the files are."""
    files = [
        name
        for name in ("metrics.json", "config.yaml", "figures/", "checkpoints/", "tensorboard/")
        if (out / name.rstrip("/")).exists()
    ]
    lines = [
        f"done in {metrics['wall_time_s']:.1f} s (training {metrics['train_time_s']:.1f} s, "
        f"{metrics['epochs']} epochs, {metrics['global_step']} steps)",
        "SSE per curve: train {:.4g} | val {:.4g} (best {:.4g}) | test {:.4g}".format(
            metrics["train/sse_per_curve"],
            metrics["val/sse_per_curve"],
            metrics["val/sse_per_curve_best"],
            metrics["test/sse_per_curve"],
        ),
        f"outputs:    {out}/  ({', '.join(files)})",
    ]
    if metrics.get("best_checkpoint"):
        example = "alpha=2 beta=4" if tuple(names) == ("alpha", "beta") else "params=[2,4]"
        lines.append(f"invert:     python invert.py ckpt_path={metrics['best_checkpoint']} {example}")
    tensorboard_root = log_dir if out.resolve().is_relative_to(log_dir.resolve()) else out.parent
    if (out / "tensorboard").exists():
        lines.append(f"compare:    tensorboard --logdir {tensorboard_root}")
    print("\n".join(lines), flush=True)
