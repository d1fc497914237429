"""One training run, start to finish: build, fit, evaluate the best checkpoint, write every output.

The config has already been checked, and a resume prepared, by betaae.runs.prepare_training, before
this module (and with it torch and Lightning) is imported.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import get_class, instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from betaae import compare, plots
from betaae.callbacks import HISTORY_COLUMNS, EpochProgressBar, FiniteLossGuard, History
from betaae.cli import one_line
from betaae.config import check_accelerator, require_known_keys, signature_keys
from betaae.errors import ConfigError, InterruptedRun
from betaae.learner import Learner
from betaae.model import mean_terms, split_model_config, sse
from betaae.outputs import atomic_write_bytes, save_figure, write_csv, write_json
from betaae.plugins import AtomicCheckpointIO, LeanPrecision
from betaae.runs import Resume, task_overrides, write_resume_record

log = logging.getLogger("betaae")
QUALITY_MARKS = (0.038, 0.002)  # the notebook's final SSE per curve, and the quality the defaults aim well below

# Lightning's console lines that say nothing about this run, dropped while it trains (see lightning_console).
CHATTER = (
    "available: False",  # "GPU available: False, used: False": hardware this run does not use
    "using: 0 TPU",
    "using: 0 HPU",
    "💡 Tip",  # advertising
    "`Trainer.fit` stopped",  # the run's own summary says how it ended
    "Restoring states from",  # restore chatter on resume: the run says "resuming ... from epoch N"
    "Restored all states",
    "LOCAL_RANK:",  # CUDA_VISIBLE_DEVICES per rank
)


def _not_chatter(record: logging.LogRecord) -> bool:
    return not any(text in record.getMessage() for text in CHATTER)


@contextlib.contextmanager
def lightning_console() -> Iterator[None]:
    """Quiet Lightning for one run: the chatter above, and a warning Lightning raises about itself.

    Lightning gives its logger a console handler of its own, which under Hydra (whose handlers on the
    root logger print and save every record) shows each line twice: for the run, Hydra's handlers alone
    are used. Everything is put back when the run ends, whether it succeeds or not.
    """
    lightning, root = logging.getLogger("lightning"), logging.getLogger()
    own = list(lightning.handlers) if root.handlers else []
    for handler in own:
        lightning.removeHandler(handler)
    handlers = list(root.handlers or lightning.handlers)
    for handler in handlers:
        handler.addFilter(_not_chatter)
    with warnings.catch_warnings():
        # Raised inside Lightning 2.6's own pytree helper under torch >= 2.10: not ours to fix.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
        # The batches are slices of tensors already on the device: worker processes would only add copies.
        warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
        # A resumed run writes into its own checkpoints/ by design, and a moved one's old paths are re-rooted.
        warnings.filterwarnings("ignore", message=r".*Checkpoint directory .* exists and is not empty.*")
        warnings.filterwarnings("ignore", message=r".*The dirpath has changed from.*")
        try:
            yield
        finally:
            for handler in handlers:
                handler.removeFilter(_not_chatter)
            for handler in own:
                lightning.addHandler(handler)


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


def build(node: DictConfig, section: str, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, with unknown keys and Lightning's own refusals as one-line ConfigErrors."""
    target = node.get("_target_")
    try:
        cls = get_class(target)
    except Exception as err:  # Hydra wraps every import failure in its own exception types
        raise ConfigError(f"{section}_target_={target}: cannot import it ({err})") from None
    require_known_keys(section, [k for k in node if k != "_convert_"], signature_keys(cls))
    try:
        return instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as err:  # the class refused its arguments: say why, in its own words
        cause = err.__cause__ if isinstance(err.__cause__, (ValueError, TypeError, MisconfigurationException)) else None
        if cause is None:
            raise
        raise ConfigError(f"{section.rstrip('.')}: {one_line(cause)}") from None


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def first_settings() -> list[str]:
    """The settings this run shows first in HPARAMS: a sweep's swept ones, else those set on its command line."""
    if in_multirun():
        from betaae.sweep import swept_settings

        varying = swept_settings(str(Path(HydraConfig.get().runtime.output_dir).parent))
        if varying is not None:
            return list(varying)
    return [compare.override_key(o) for o in task_overrides()]


def run_training(cfg: DictConfig, resume: Resume | None = None) -> dict:
    """Train one model as configured, write its outputs, and return its final metrics."""
    started = time.perf_counter()
    out = Path(cfg.paths.output_dir)
    with lightning_console():
        check_accelerator(cfg.trainer.get("accelerator", "auto"), cfg.trainer.get("devices", "auto"))
        limit_threads(cfg)
        L.seed_everything(cfg.seed, verbose=False)
        datamodule = build(cfg.data, "data.")
        spec, training = split_model_config(OmegaConf.to_container(cfg.model, resolve=True))
        learner = Learner(model=spec, **training, data=datamodule.spec)
        history = History()
        callbacks = [build(c, f"callbacks.{name}.") for name, c in (cfg.get("callbacks") or {}).items() if c]
        loggers = [build(lg, f"logger.{name}.") for name, lg in (cfg.get("logger") or {}).items() if lg]
        if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a progress bar it may not show
            callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
        for callback in callbacks:
            if isinstance(callback, EpochProgressBar) and in_multirun():
                callback.leave = False  # one line per job in a sweep
        # LeanPrecision is 32-bit: another precision keeps Lightning's own plugin (and its per-step hooks).
        lean = cfg.trainer.get("precision") in (None, 32, "32", "32-true")
        trainer: L.Trainer = build(
            cfg.trainer,
            "trainer.",
            callbacks=[*callbacks, history, FiniteLossGuard()],
            logger=loggers or False,
            plugins=[AtomicCheckpointIO(), *([LeanPrecision()] if lean else [])],
            **({"precision": None} if lean else {}),  # Lightning takes a precision flag or a plugin, not both
        )
        datamodule.check_memory(trainer.strategy.root_device)
        if trainer.is_global_zero:
            if resume is None:
                atomic_write_bytes(out / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True).encode())
            else:
                write_resume_record(resume, cfg)
            tensorboard = next((lg for lg in loggers if isinstance(lg, TensorBoardLogger)), None)
            if tensorboard is not None:
                choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else None
                settings = compare.run_settings(cfg, first_settings(), choices)
                compare.write_session_start(Path(tensorboard.log_dir), settings, out.name)
            print_start(out, learner, trainer, resume)

        train_started = time.perf_counter()
        fit(trainer, learner, datamodule, resume, out)
        if not trainer.is_global_zero:
            return {}
        metrics = evaluate(trainer, learner, datamodule, history)
        metrics["fit_s"] = time.perf_counter() - train_started
        write_outputs(out, learner, datamodule, history)
        metrics["wall_time_s"] = time.perf_counter() - started
        write_json(out / "metrics.json", metrics)
        for logger in trainer.loggers:
            tests = {k: v for k, v in metrics.items() if k.startswith("test/") and k.endswith("_per_curve")}
            logger.log_metrics(tests, step=max(0, metrics["epochs"] - 1))
            logger.finalize("success")
            if isinstance(logger, TensorBoardLogger):
                compare.write_session_end(Path(logger.log_dir), ok=True)
        print_summary(out, metrics, Path(cfg.paths.log_dir), example_target(datamodule))
        return metrics


def fit(trainer: L.Trainer, learner: Learner, datamodule, resume: Resume | None, out: Path) -> None:
    """trainer.fit, with Ctrl-C and SIGTERM turned into a one-line InterruptedRun that says how to resume."""
    try:
        trainer.fit(learner, datamodule=datamodule, ckpt_path=str(resume.checkpoint) if resume else None)
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


def evaluate(trainer: L.Trainer, learner: Learner, datamodule, history: History) -> dict[str, Any]:
    """Every split's loss terms per curve, measured with the best checkpoint's weights (the final ones if
    there is no checkpoint), plus epochs, steps, times and time to quality."""
    ckpt = trainer.checkpoint_callback
    best = ckpt.best_model_path if ckpt is not None and ckpt.best_model_path else None
    if best and ckpt.dirpath:
        # A run resumed after being moved still remembers its best checkpoint by its old path.
        best = str(Path(ckpt.dirpath) / Path(best).name)
    if best:
        learner.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
    learner.to(
        datamodule.splits["val"][0].device
    )  # Lightning's teardown left it on the CPU; the data is where it trained
    metrics: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        if split in datamodule.splits:
            terms = mean_terms(learner.model, datamodule.splits[split][0], datamodule.hparams.eval_batch_size)
            metrics.update({f"{split}/{name}_per_curve": value for name, value in terms.items()})
    with torch.no_grad():  # the mean is carried by a few curves with a parameter near 0; the median is steadier
        test = datamodule.splits["test"][0]
        errors = torch.cat(
            [sse(learner.model.reconstruct(c), c) for c in test.split(datamodule.hparams.eval_batch_size)]
        )
    metrics["test/sse_per_curve_median"] = float(errors.median())
    if "train" not in datamodule.splits:  # online data has no fixed training set: report the last epoch's figure
        metrics["train/sse_per_curve"] = next(
            (r["train_sse_per_curve"] for r in reversed(history.rows) if math.isfinite(r["train_sse_per_curve"])),
            math.nan,
        )
    vals = [r["val_sse_per_curve"] for r in history.rows if math.isfinite(r["val_sse_per_curve"])]
    metrics.update(
        {
            "val/sse_per_curve_best": min(vals) if vals else metrics["val/sse_per_curve"],
            "late_val_spikes": late_spikes(vals),
            "epochs": trainer.current_epoch,
            "global_step": trainer.global_step,
            "train_time_s": history.rows[-1]["elapsed_s"] if history.rows else 0.0,
            **{f"train_s_to_sse_{mark:g}": history.seconds_to(mark) for mark in QUALITY_MARKS},
            "num_threads": torch.get_num_threads(),
            "device": str(trainer.strategy.root_device),
            "best_checkpoint": best,
        }
    )
    return metrics


def late_spikes(vals: list[float]) -> int:
    """Epochs in the last third whose val SSE per curve is above twice the best so far: 0 is a smooth end,
    where the last weights are as good as the best checkpoint's."""
    best, spikes = math.inf, 0
    for epoch, value in enumerate(vals):
        spikes += epoch >= 2 * len(vals) // 3 and value > 2 * best
        best = min(best, value)
    return spikes


def write_outputs(out: Path, learner: Learner, datamodule, history: History) -> None:
    """history.csv and the figures of the finished run (rank 0)."""
    write_csv(out / "history.csv", history.rows, list(HISTORY_COLUMNS))
    figures = out / "figures"
    grid = datamodule.grid.cpu().numpy()
    names = list(datamodule.family.param_names)
    val_curves, val_params = (t.cpu() for t in datamodule.splits["val"])
    test_curves, test_params = (t.cpu()[:6] for t in datamodule.splits["test"])
    family = datamodule.family.name
    save_figure(
        figures / "sample_curves.png",
        plots.sample_curves(grid, val_curves[:5].numpy(), val_params[:5].numpy(), names, family),
    )
    if history.rows:
        save_figure(figures / "loss_history.png", plots.loss_history(history.rows))
    model = learner.model.cpu().eval()
    with torch.no_grad():
        latent = model.encode(val_curves)
        recon = model.reconstruct(test_curves)
    checkpoint = "best checkpoint" if learner.trainer.checkpoint_callback else "final weights"
    save_figure(figures / "latent_histograms.png", plots.latent_histograms(latent.numpy(), "val", checkpoint))
    save_figure(
        figures / "reconstructions.png",
        plots.reconstructions(grid, test_curves.numpy(), recon.numpy(), test_params.numpy(), names, "test", checkpoint),
    )


def print_start(out: Path, learner: Learner, trainer: L.Trainer, resume: Resume | None) -> None:
    """One line before training: the model, its size, the device; and what a resume continues from."""
    params = sum(p.numel() for p in learner.model.parameters())
    device = trainer.strategy.root_device
    where = f"{device.type}" + (f" ({torch.get_num_threads()} threads)" if device.type == "cpu" else "")
    if trainer.world_size > 1:
        where += f", {trainer.world_size} processes"
    line = (
        f"model:      {type(learner.model).__name__}, {params:,} parameters ({params * 4 / 2**20:.2f} MB), on {where}"
    )
    if in_multirun():
        return
    if resume is not None:
        line += f"\nresuming:   {out} after epoch {resume.epochs_done}"
    print(line, flush=True)


def example_target(datamodule) -> str:
    """invert.py arguments for a target in the middle of the training ranges."""
    middle = [round((lo + hi) / 2, 2) for lo, hi in datamodule.hparams.params.values()]
    names = datamodule.family.param_names
    if names == ("alpha", "beta"):
        return "alpha=2 beta=4"
    return f"params=[{','.join(f'{v:g}' for v in middle)}]"


def print_summary(out: Path, metrics: dict, log_dir: Path, example: str) -> None:
    """The few lines a user reads at the end of a run (one line in a sweep): figures, and where the files are."""
    test, best = metrics["test/sse_per_curve"], metrics["val/sse_per_curve_best"]
    if in_multirun():
        number = HydraConfig.get().job.num
        print(
            f"#{number} {out.name}: val best {best:.4g}, test {test:.4g}, {metrics['train_time_s']:.1f} s", flush=True
        )
        return
    marks = ", ".join(
        f"{mark:g} after {metrics[f'train_s_to_sse_{mark:g}']:.1f} s"
        if metrics[f"train_s_to_sse_{mark:g}"] is not None
        else f"{mark:g} not reached"
        for mark in QUALITY_MARKS
    )
    files = [
        n for n in ("metrics.json", "history.csv", "config.yaml", "figures/", "checkpoints/") if (out / n).exists()
    ]
    lines = [
        f"done in {metrics['wall_time_s']:.1f} s (training {metrics['train_time_s']:.1f} s in all, "
        f"{metrics['epochs']} epochs, {metrics['global_step']} steps)",
        "SSE per curve: train {:.4g} | val {:.4g} (best {:.4g}) | test {:.4g}".format(
            metrics["train/sse_per_curve"], metrics["val/sse_per_curve"], best, test
        ),
        f"time to val SSE per curve: {marks}",
        f"outputs:    {out}/  ({', '.join(files)})",
    ]
    if metrics.get("best_checkpoint"):
        lines.append(f"invert:     python invert.py ckpt_path={out} {example}")
    tensorboard_root = log_dir if out.resolve().is_relative_to(log_dir.resolve()) else out.parent
    lines.append(f"compare:    tensorboard --logdir {tensorboard_root}")
    print("\n".join(lines), flush=True)
