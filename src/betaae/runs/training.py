"""One training run, start to finish: build it, fit it, measure the best checkpoint, write every output.

train_task has already checked the config, and prepared a resume, before this module (and with it
Lightning) is imported.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from betaae import plots
from betaae.config.checks import require_known_keys, signature_keys
from betaae.core import job, signals
from betaae.core.commands import override, script
from betaae.core.errors import ConfigError, InterruptedRun
from betaae.core.files import atomic_write_bytes, save_figure, write_csv, write_json
from betaae.core.job import choices, in_multirun, task_overrides
from betaae.inversion.verdicts import compute_reference
from betaae.learner import compiling, ddp_jobs
from betaae.learner.callbacks import HISTORY_COLUMNS, FiniteLossGuard, FollowTheLoad, History
from betaae.learner.module import Learner
from betaae.learner.plugins import AtomicCheckpointIO, LeanPrecision
from betaae.learner.quiet import quiet_lightning
from betaae.learner.threads import thread_plan
from betaae.models.base import mean_terms
from betaae.models.checkpoints import add_reference
from betaae.models.scoring import QUALITY_MARKS, Scores, late_spikes, score
from betaae.runs import hparams
from betaae.runs.console import print_pruned, print_scoring, print_start, print_summary, threads_used, user_modules_args
from betaae.runs.resume import Resume, write_resume_record
from betaae.search.pruning import TrialPruning, from_env


@dataclass
class Run:
    """Everything one training run is made of, once built."""

    cfg: DictConfig
    out: Path
    trainer: L.Trainer
    learner: Learner
    datamodule: Any  # a CurveDataModule
    history: History
    resume: Resume | None
    compile: compiling.Plan | None = None
    reference: dict | None = None  # how well the model inverts its family (betaae.inversion.verdicts), once computed
    inversion: Any = None  # the test-like inversion score (betaae.inversion.score), once computed
    pruning: TrialPruning | None = None  # for a trial of a search with a pruner


def build(node: DictConfig, section: str, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, with unknown keys and the class's own refusals as one-line ConfigErrors."""
    target = node.get("_target_")
    try:
        cls = get_class(target)
    except Exception as err:  # Hydra wraps every import failure in its own exception types
        raise ConfigError(f"{section}_target_={target}: cannot import it ({err})") from None
    allowed = signature_keys(cls)
    if allowed is not None:
        require_known_keys(section, [k for k in node if k not in ("_target_", "_convert_")], allowed)
    kwargs = {k: v for k, v in kwargs.items() if allowed is None or k in allowed}
    try:
        return instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as err:  # the class refused its arguments: say why, in its own words
        cause = err.__cause__ if isinstance(err.__cause__, (ValueError, TypeError, MisconfigurationException)) else None
        if cause is None:
            raise
        raise ConfigError(f"{_option_named(node, section, cause)}: {_own_words(cause)}") from None


def _own_words(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _option_named(node: DictConfig, section: str, error: BaseException) -> str:
    """The option a class's refusal is about (`trainer.precision=7`), when its words name one, else the section."""
    words = str(error).lower()
    for key, value in node.items():
        if not str(key).startswith("_") and str(key).lower() in words and str(value).lower() in words:
            return f"{section}{key}={value!r}" if isinstance(value, str) else f"{section}{key}={value}"
    return section.rstrip(".")


def build_run(cfg: DictConfig, resume: Resume | None) -> Run:
    """The data module, the learner, the callbacks, the loggers and the Trainer of a checked config."""
    threads, follow = thread_plan(cfg)
    torch.set_num_threads(threads)
    if in_multirun():
        ddp_jobs.install()
    L.seed_everything(cfg.seed, verbose=False)
    datamodule = build(cfg.data, "data.")
    plain = OmegaConf.to_container(cfg, resolve=True)
    learner = Learner(
        model=plain["model"], optimizer=plain["optimizer"], scheduler=plain["scheduler"], data=datamodule.spec
    )
    history = History()
    callbacks = [build(c, f"callbacks.{name}.") for name, c in (cfg.get("callbacks") or {}).items() if c]
    since = {"resume_epoch": resume.epochs_done} if resume is not None else {}
    loggers = [build(lg, f"logger.{name}.", **since) for name, lg in (cfg.get("logger") or {}).items() if lg]
    # In a sweep each job prints one line as it ends instead, however many jobs run at once.
    show_bar = bool(cfg.trainer.get("enable_progress_bar", True)) and not in_multirun()
    if not show_bar:  # Lightning refuses a progress bar it may not show
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    # LeanPrecision is 32-bit: another precision keeps Lightning's own plugin (and its per-step hooks).
    lean = cfg.trainer.get("precision") in (None, 32, "32", "32-true")
    pruning = from_env(str(cfg.get("optimized_metric")))  # a trial of an Optuna search with a pruner
    ours = [history, FiniteLossGuard(), *([FollowTheLoad(threads)] if follow else []), *([pruning] if pruning else [])]
    trainer: L.Trainer = build(
        cfg.trainer,
        "trainer.",
        callbacks=[*callbacks, *ours],
        logger=loggers or False,
        plugins=[AtomicCheckpointIO(), *([LeanPrecision()] if lean else [])],
        enable_progress_bar=show_bar,
        **({"precision": None} if lean else {}),  # Lightning takes a precision flag or a plugin, not both
    )
    datamodule.check_memory(trainer.strategy.root_device)
    run = Run(cfg, Path(cfg.paths.output_dir), trainer, learner, datamodule, history, resume, pruning=pruning)
    run.compile = compiling.plan(cfg.get("compile", "auto"), trainer.strategy.root_device.type, planned_steps(cfg))
    if run.compile.compile:
        learner.compile_training_loss(run.compile.mode)
    return run


def start_seconds(history: History) -> float | None:
    """Seconds from this process's start to its first training step (Python, imports, checks, set-up)."""
    began = job.process_started_at()
    return None if began is None or history.started_at is None else history.started_at - began


def planned_steps(cfg: DictConfig) -> float:
    """Optimizer steps the whole run takes (from its start, however often it is resumed), per process."""
    data, epochs = cfg.data, cfg.trainer.get("max_epochs")
    per_epoch = (data.get("steps_per_epoch") if data.online else None) or max(1, data.num_train // data.batch_size)
    if epochs is None or int(epochs) < 0:  # Lightning's "no limit"
        return math.inf
    return float(int(epochs) * per_epoch)


def first_settings() -> list[str]:
    """The settings this run shows first in HPARAMS: a sweep's swept ones, else those set on its command line."""
    if in_multirun():
        from hydra.core.hydra_config import HydraConfig

        from betaae.sweep.record import swept_settings

        varying = swept_settings(str(Path(HydraConfig.get().runtime.output_dir).parent))
        if varying is not None:
            return list(varying)
    return [hparams.override_key(o) for o in task_overrides()]


def given_overrides(run: Run) -> list[str]:
    """What this run was given: its command line (a sweep job's includes its values); a resume's are the
    run's first command line, then the resume's own changes."""
    if run.resume is None:
        return task_overrides()
    from betaae.sweep.naming import job_overrides  # a run directory keeps Hydra's record as a job's does

    first = job_overrides(run.out) or []
    return [*(o for o in first if isinstance(o, str)), *run.resume.overrides]


def record_start(run: Run) -> None:
    """What rank 0 writes before training: the config (or this resume's record) and the HPARAMS settings."""
    job.mark_worth_keeping()
    if not run.trainer.is_global_zero:
        return
    if run.resume is None:
        atomic_write_bytes(run.out / "config.yaml", OmegaConf.to_yaml(run.cfg, resolve=True).encode())
    else:
        write_resume_record(run.resume, run.cfg)
    tensorboard = next((lg for lg in run.trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
    if tensorboard is not None:
        settings = hparams.run_settings(run.cfg, first_settings(), choices(), given_overrides(run))
        hparams.write_session_start(Path(tensorboard.log_dir), settings)


def fit(run: Run) -> None:
    """trainer.fit, with Ctrl-C and SIGTERM turned into a one-line InterruptedRun that says how to resume."""
    trainer, resume = run.trainer, run.resume
    try:
        if trainer.is_global_zero:  # in the try: a stop that lands just after this line is a stop of training
            print_start(run)
        with signals.lightning_stops():
            trainer.fit(run.learner, datamodule=run.datamodule, ckpt_path=str(resume.checkpoint) if resume else None)
        if trainer.received_sigterm:  # it came as the last epoch ended: training is complete, the results are not
            raise signals.Terminated()
    except (SystemExit, signals.Terminated) as stop:
        # Lightning turns SIGTERM into SIGTERMException and Ctrl-C into sys.exit(1) after its own cleanup; a
        # SIGTERM before its handler is in place (while fit sets up) arrives as our Terminated.
        lightnings = isinstance(stop, SIGTERMException) or (isinstance(stop, SystemExit) and trainer.interrupted)
        if not (lightnings or isinstance(stop, signals.Terminated)):
            raise
        # SIGTERMException is a SystemExit too, and Lightning marks the trainer interrupted for it as well.
        ctrl_c = isinstance(stop, SystemExit) and not isinstance(stop, SIGTERMException)
        what, code = ("Ctrl-C", 130) if ctrl_c else ("SIGTERM", 143)
        last = run.out / "checkpoints" / "last.ckpt"
        if resume is None and trainer.current_epoch == 0 and not last.is_file():
            job.mark_worth_keeping(False)  # stopped before a new run's first epoch ended: nothing to keep
            raise (KeyboardInterrupt() if code == 130 else signals.Terminated()) from None
        for logger in trainer.loggers:
            logger.finalize("interrupted")
        when = f"during epoch {trainer.current_epoch}" if trainer.current_epoch else "before its first new epoch"
        if not last.is_file():
            raise InterruptedRun(
                f"training interrupted by {what} {when}; this run writes no checkpoints, so it cannot be "
                "resumed (its TensorBoard files are kept)",
                code,
            ) from None
        extra, env = user_modules_args(run)
        raise InterruptedRun(
            f"training interrupted by {what} {when}; {last} holds the last completed epoch; "
            f"resume with: {script('train.py', override('resume', run.out), *extra, env=env)}",
            code,
        ) from None


def best_weights(run: Run) -> tuple[str | None, int | None]:
    """Load the best checkpoint's weights into the learner; its path and the epoch it ended (counted from 1),
    or None, None (then the final weights stay)."""
    ckpt = run.trainer.checkpoint_callback
    best = ckpt.best_model_path if ckpt is not None and ckpt.best_model_path else None
    if best and ckpt.dirpath:
        # A run resumed after being moved still remembers its best checkpoint by its old path.
        best = str(Path(ckpt.dirpath) / Path(best).name)
    epoch = None
    if best:
        checkpoint = torch.load(best, map_location="cpu", weights_only=True)
        run.learner.load_state_dict(checkpoint["state_dict"])
        epoch = int(checkpoint.get("epoch", -1)) + 1 or None
    # Lightning's teardown left the model on the CPU; the data is where it trained.
    run.learner.to(run.datamodule.splits["val"][0].device)
    return best, epoch


def evaluate(run: Run) -> tuple[dict[str, Any], Scores]:
    """The best checkpoint's figures: the train and val loss terms per curve, and the test set's SSE per
    curve (mean, percentiles, maximum, near the edge); plus the epochs, steps, times and time to quality."""
    best, best_epoch = best_weights(run)
    datamodule, history, model = run.datamodule, run.history, run.learner.model
    metrics: dict[str, Any] = {}
    for split in ("train", "val"):
        if split in datamodule.splits:
            tensors = datamodule.splits[split]
        else:  # online data keeps no training set: as many fresh training curves as val has
            device = datamodule.splits["val"][0].device
            drawn = datamodule.build_split("train", datamodule.hparams.num_val)
            tensors = tuple(t.to(device, datamodule.dtype) for t in drawn)
        weights = tensors[2] if len(tensors) > 2 else None
        terms = mean_terms(model, tensors[0], datamodule.hparams.eval_batch_size, weights)
        metrics.update({f"{split}/{name}_per_curve": value for name, value in terms.items()})
    scores = score(model, datamodule, "test", device=datamodule.splits["val"][0].device)
    metrics.update(scores.figures("test/"))
    metrics["test_set"] = test_set(datamodule, scores)
    rows = history.rows
    vals = [r["val_sse_per_curve"] for r in rows if math.isfinite(r["val_sse_per_curve"])]
    metrics.update(
        {
            "val/sse_per_curve_best": min(vals) if vals else metrics["val/sse_per_curve"],
            "late_val_spikes": late_spikes(vals),
            "epochs": run.trainer.current_epoch,
            "global_step": run.trainer.global_step,
            "train_time_s": rows[-1]["elapsed_s"] if rows else 0.0,
            **{f"train_s_to_sse_{mark:g}": history.seconds_to(mark) for mark in QUALITY_MARKS},
            "threads": threads_used(run.trainer),
            "device": str(run.trainer.strategy.root_device),
            "best_checkpoint": best,
            "best_epoch": best_epoch,
            "compiled": bool(run.compile and run.compile.compile),
            "compile_s": run.learner.compile_seconds,
            "start_s": start_seconds(history),
        }
    )
    return metrics, scores


def record_reference(run: Run, best: str | None) -> dict[str, Any]:
    """How well the trained model inverts its own family's held-out curves (betaae.inversion.verdicts), stored in the
    best checkpoint for the verdicts of every later inversion; the typical figures go into metrics.json."""
    dm = run.datamodule
    model = run.learner.model.cpu().float().eval()
    reference = compute_reference(model, dm.family, dm.grid.cpu(), dm.low, dm.high, dm.hparams.seed).to_dict()
    run.reference = reference
    if best:
        add_reference(best, reference)
    return {"curves": reference["curves"], "rms_median": reference["rms"]["0.5"], "rms_p99": reference["rms"]["0.99"]}


def score_inversion(run: Run, best: str | None) -> dict[str, Any]:
    """The inversion score of the best checkpoint (betaae.inversion.score) on the family's val-like and
    test-like target sets: their figures for metrics.json, and the test-like score kept for the figure."""
    spec = run.cfg.get("inversion_score")
    if not spec:
        return {}
    from betaae.inversion.api import Model
    from betaae.inversion.score import LEVELS, score
    from betaae.models.checkpoints import Checkpointed

    dm = run.datamodule
    loaded = Checkpointed(run.learner.model.cpu().float().eval(), dm.spec, str(best or run.out), run.reference)
    model, seed = Model(loaded), int(dm.hparams.test_seed)
    scored = {split: score(model, int(spec.targets), tuple(spec.noise), seed, split) for split in ("val", "test")}
    run.inversion = scored["test"]
    figures: dict[str, Any] = {}
    for split, result in scored.items():
        figures.update(result.figures(split))
    figures["inversion_score"] = {
        "targets": int(spec.targets),
        "noise": list(spec.noise),
        "seed": seed,
        "seconds": sum(r.seconds for r in scored.values()),
        "levels": LEVELS.tolist(),
        "test_coverage_curve": scored["test"].coverage_curve,
        "test_failed": scored["test"].failed,
    }
    return figures


def test_set(datamodule, scores: Scores) -> dict[str, Any]:
    """What identifies the test set a run was scored on (runs with the same are comparable), and what its
    "edge" figure covers."""
    hp = datamodule.hparams
    identity = {"curves": hp.num_test, "seed": hp.test_seed, "family": hp.family, "params": dict(hp.params)}
    return {**identity, **({"edge": scores.edge_text()} if scores.edges.any() else {})}


def write_figures(run: Run, scores: Scores) -> None:
    """history.csv and the figures of the finished run (rank 0); the error map to TensorBoard as well."""
    write_csv(run.out / "history.csv", run.history.rows, list(HISTORY_COLUMNS))
    figures, datamodule = run.out / "figures", run.datamodule
    grid = datamodule.grid.cpu().numpy()
    names = list(datamodule.family.param_names)
    curves, params = (t.cpu().float() for t in datamodule.splits["preview"])
    family = datamodule.family.label
    save_figure(
        figures / "sample_curves.png",
        plots.sample_curves(grid, curves[:5].numpy(), params[:5].numpy(), names, family),
    )
    if run.history.rows:
        save_figure(figures / "loss_history.png", plots.loss_history(run.history.rows))
    model = run.learner.model.cpu().float().eval()
    with torch.no_grad():
        latent = model.encode(curves)
        recon = model.reconstruct(curves[:6])
    checkpoint = "best checkpoint" if run.trainer.checkpoint_callback else "final weights"
    save_figure(figures / "latent_histograms.png", plots.latent_histograms(latent.numpy(), "preview", checkpoint))
    save_figure(
        figures / "reconstructions.png",
        plots.reconstructions(
            grid, curves[:6].numpy(), recon.numpy(), params[:6].numpy(), names, "preview", checkpoint
        ),
    )
    error_map = plots.error_map(scores, checkpoint)
    writer = next((lg.experiment for lg in run.trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
    step = max(0, run.trainer.current_epoch - 1)
    if writer is not None:
        writer.add_figure("test/error_map", error_map, global_step=step, close=False)
    save_figure(figures / "error_map.png", error_map)
    if run.inversion is not None:
        inversion = plots.inversion_score(run.inversion, checkpoint)
        if writer is not None:
            writer.add_figure("test/inversion_score", inversion, global_step=step, close=False)
        save_figure(figures / "inversion_score.png", inversion)


def finish_loggers(run: Run, metrics: dict[str, Any]) -> None:
    """The test figures, at the last epoch, then each logger closed as a success (TensorBoard's with the
    run's HPARAMS ranking figure and status)."""
    from betaae.inversion.score import HEADLINE

    # The test figures, and the inversion score's headline (computed at the end, like them); its per-parameter
    # errors stay in metrics.json, so that TensorBoard's charts of the test figures stay near the top.
    tests = {
        k: v
        for k, v in metrics.items()
        if k.startswith("test/")
        or (k.startswith(("test_inversion/", "val_inversion/")) and k.split("/")[1] in HEADLINE)
    }
    for logger in run.trainer.loggers:
        logger.log_metrics(tests, step=max(0, metrics["epochs"] - 1))
        logger.finalize("success")
        if isinstance(logger, TensorBoardLogger):
            hparams.write_session_end(Path(logger.log_dir), metrics, max(0, metrics["epochs"] - 1))


def finish_pruned(run: Run, started: float) -> dict:
    """A trial its search pruned: no test figures, inversion score or figures (the time they take is what
    pruning saves), only what the search and the summary read, with the epoch it stopped at."""
    rows = run.history.rows
    vals = [r["val_sse_per_curve"] for r in rows if math.isfinite(r["val_sse_per_curve"])]
    metrics = {
        "status": "pruned",
        "pruned_at_epoch": run.pruning.pruned_at,
        "val/sse_per_curve_best": min(vals) if vals else None,
        "epochs": run.trainer.current_epoch,
        "global_step": run.trainer.global_step,
        "train_time_s": rows[-1]["elapsed_s"] if rows else 0.0,
        "wall_time_s": time.perf_counter() - started,
    }
    write_json(run.out / "metrics.json", metrics)
    (run.out / "error.txt").unlink(missing_ok=True)
    for logger in run.trainer.loggers:
        logger.finalize("pruned")
        if isinstance(logger, TensorBoardLogger):
            hparams.write_session_end(Path(logger.log_dir), metrics, max(0, metrics["epochs"] - 1), "UNKNOWN")
    print_pruned(run, metrics)
    return metrics


def train(cfg: DictConfig, resume: Resume | None = None) -> dict:
    """Train one model as configured, write its outputs, and return its final metrics."""
    started = time.perf_counter()
    with quiet_lightning(resuming=resume is not None):
        run = build_run(cfg, resume)
        record_start(run)
        train_started = time.perf_counter()
        fit(run)
        if not run.trainer.is_global_zero:
            return {}
        if run.pruning is not None and run.pruning.pruned_at is not None:
            return finish_pruned(run, started)
        print_scoring(run)
        metrics, scores = evaluate(run)
        metrics["fit_s"] = time.perf_counter() - train_started
        metrics["inversion_reference"] = record_reference(run, metrics.get("best_checkpoint"))
        metrics.update(score_inversion(run, metrics.get("best_checkpoint")))
        with signals.deferred():  # matplotlib's drawing code mangles an exception raised inside it
            write_figures(run, scores)
        metrics["wall_time_s"] = time.perf_counter() - started
        write_json(run.out / "metrics.json", metrics)
        (run.out / "error.txt").unlink(missing_ok=True)  # an earlier attempt's failure no longer holds
        finish_loggers(run, metrics)
        print_summary(run, metrics)
        return metrics
