"""What a run prints: the line about the model at its start, the summary at its end, and the commands that
invert or resume it, each pasteable in the shell that ran it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch

from betaae.core.commands import override, pythonpath_for, script, shell, tool
from betaae.core.job import in_multirun, job_number
from betaae.learner.callbacks import FollowTheLoad
from betaae.models.scoring import QUALITY_MARKS

if TYPE_CHECKING:
    from betaae.runs.training import Run


def _governor(trainer: L.Trainer):
    return next((c.governor for c in trainer.callbacks if isinstance(c, FollowTheLoad)), None)


def threads_line(trainer: L.Trainer) -> str:
    """The start line's word on threads: a fixed count, or all the cores, fewer while the CPU is shared."""
    governor = _governor(trainer)
    if governor is None:
        return f"{torch.get_num_threads()} threads"
    return f"{governor.most} threads, fewer while other processes use the CPU"


def threads_used(trainer: L.Trainer) -> str:
    governor = _governor(trainer)
    return governor.describe() if governor is not None else f"{torch.get_num_threads()} threads"


def print_start(run: Run) -> None:
    """One line before training: the model, its size, the device; and what a resume continues from."""
    if in_multirun():
        return
    params = sum(p.numel() for p in run.learner.model.parameters())
    device = run.trainer.strategy.root_device
    where = f"{device.type}" + (f" ({threads_line(run.trainer)})" if device.type == "cpu" else "")
    if run.trainer.world_size > 1:
        where += f", {run.trainer.world_size} processes"
    name = type(run.learner.model).__name__
    line = f"model:      {name}, {params:,} parameters ({params * 4 / 2**20:.2f} MB), on {where}"
    if run.compile is not None and run.compile.compile:
        line += f"; training step compiled ({run.compile.reason})"
    if run.resume is not None:
        line += f"\nresuming:   {run.out} after epoch {run.resume.epochs_done}"
    print(line, flush=True)


def user_modules(run) -> list[str]:
    """The user's own modules this run uses (its model's, its family's and its extensions), outside betaae."""
    cfg = run.cfg
    extensions = [str(m) for m in cfg.get("extensions") or []]
    named = [str(cfg.model.get("_target_", "")), str(run.datamodule.hparams.family)]
    modules = [*extensions, *(n.rpartition(".")[0] for n in named if "." in n)]
    return list(dict.fromkeys(m for m in modules if m and m != "betaae" and not m.startswith("betaae.")))


def user_modules_args(run) -> tuple[list[str], dict[str, str]]:
    """What a printed resume or invert command needs for the user's own modules: extensions=[...] (a checkpoint
    never imports a module the user did not name) and the PYTHONPATH a fresh shell needs to find them."""
    modules = user_modules(run)
    if not modules:
        return [], {}
    # A list, not a quoted string (which override() would make of it): module names need no quoting in Hydra.
    return [f"extensions=[{','.join(modules)}]"], pythonpath_for(*modules)


def example_target(datamodule) -> list[str]:
    """invert.py arguments for a target in the middle of the training ranges."""
    names = datamodule.family.param_names
    if names == ("alpha", "beta"):
        return ["alpha=2", "beta=4"]
    middle = [round((lo + hi) / 2, 2) for lo, hi in datamodule.hparams.params.values()]
    return [f"params=[{','.join(f'{v:g}' for v in middle)}]"]


def test_line(metrics: dict) -> str:
    """The test set's figures in one line: mean, percentiles, maximum, and near a degenerate range end."""
    figures = ", ".join(
        f"{label} {metrics[f'test/sse_per_curve{key}']:.3g}"
        for label, key in (("mean", ""), ("median", "_median"), ("p90", "_p90"), ("p99", "_p99"), ("max", "_max"))
    )
    if isinstance(metrics.get("test/sse_relative"), float):
        figures += f"; {metrics['test/sse_relative']:.2g} of the family's spread"
    line = f"test set:   {figures} ({metrics['test_set']['curves']:,} curves, the same for every run)"
    if "test/sse_per_curve_edge" in metrics:
        line += f"; {metrics['test_set']['edge']}: {metrics['test/sse_per_curve_edge']:.3g}"
    return line


def print_scoring(run: Run) -> None:
    """Before the work that follows the progress bar (a few seconds, longer for a big test set): what it is."""
    if in_multirun():
        return
    from betaae.inversion.verdicts import REFERENCE_CURVES

    test = run.datamodule.hparams.num_test
    spec = run.cfg.get("inversion_score")
    score = f", the inversion score ({2 * (1 + len(spec.noise)) * spec.targets:,} inversions)" if spec else ""
    print(
        f"scoring:    the best checkpoint on {test:,} test curves, then {REFERENCE_CURVES:,} inversions "
        f"(the reference for invert.py's verdicts){score} and the figures ...",
        flush=True,
    )


def of_weights(metrics: dict[str, Any]) -> str:
    """Which weights the summary's figures are of: the best checkpoint's epoch (the progress bar showed the last)."""
    epoch = metrics.get("best_epoch")
    if epoch is None:
        return "final weights"
    return f"best checkpoint (epoch {epoch} of {metrics['epochs']})"


def lowest_val(metrics: dict[str, Any], best: float) -> str:
    """The lowest val figure of any epoch, where it is not the best checkpoint's own (a model chosen on its
    val loss, such as a VAE's)."""
    val = metrics["val/sse_per_curve"]
    if math.isfinite(best) and abs(best - val) <= 1e-3 * abs(val):
        return ""
    return f" (lowest val of any epoch {best:.4g})"


def print_pruned(run: Run, metrics: dict) -> None:
    """A pruned trial's line: where it stopped, and its best val figure by then."""
    from betaae.sweep.record import progress

    best = metrics["val/sse_per_curve_best"]
    shown = f"{best:.4g}" if best is not None else "-"
    line = (
        f"#{job_number()} {run.out.name}: pruned after epoch {metrics['pruned_at_epoch']} (val best {shown}, "
        f"{metrics['train_time_s']:.1f} s)"
    )
    done = progress(run.out.parent) if in_multirun() else ""
    print(f"{line} ({done})" if done else line, flush=True)


def print_summary(run: Run, metrics: dict) -> None:
    """The few lines a user reads at the end of a run (one line in a sweep): figures, and where the files are."""
    out = run.out
    test, best = metrics["test/sse_per_curve"], metrics["val/sse_per_curve_best"]
    if in_multirun():
        from betaae.sweep.record import progress

        done = progress(out.parent)
        line = f"#{job_number()} {out.name}: val best {best:.4g}, test {test:.4g}, {metrics['train_time_s']:.1f} s"
        print(f"{line} ({done})" if done else line, flush=True)
        return
    marks = ", ".join(
        f"{mark:g} after {metrics[f'train_s_to_sse_{mark:g}']:.1f} s"
        if metrics[f"train_s_to_sse_{mark:g}"] is not None
        else f"{mark:g} not reached"
        for mark in QUALITY_MARKS
    )
    files = [
        n
        for n in ("metrics.json", "history.csv", "config.yaml", "figures/", "checkpoints/")
        if (out / n).is_file() or ((out / n).is_dir() and any((out / n).iterdir()))
    ]
    compiled = f", of which {metrics['compile_s']:.1f} s compiling" if metrics.get("compile_s") is not None else ""
    lines = [
        f"done in {metrics['wall_time_s']:.1f} s (training {metrics['train_time_s']:.1f} s in all{compiled}, "
        f"{metrics['epochs']} epoch{'' if metrics['epochs'] == 1 else 's'}, {metrics['global_step']} steps)",
        f"SSE per curve, {of_weights(metrics)}: train {metrics['train/sse_per_curve']:.4g} | "
        f"val {metrics['val/sse_per_curve']:.4g} | test {test:.4g}{lowest_val(metrics, best)}",
        test_line(metrics),
        *([f"inversion:  {run.inversion.line()}"] if run.inversion is not None else []),
        f"outputs:    {out}/  ({', '.join(files)})",
    ]
    if run.datamodule.hparams.family == "beta":  # the marks are Beta's: the notebook's final figure, and the aim
        lines.insert(3, f"time to val SSE per curve (Beta's marks): {marks}")
    checkpoints = [out / "checkpoints" / "best.ckpt", out / "checkpoints" / "last.ckpt"]
    if any(c.is_file() for c in checkpoints):  # what invert.py takes from a run directory (callbacks=none has none)
        target = example_target(run.datamodule)
        extra, env = user_modules_args(run)
        command = script("invert.py", override("ckpt_path", out), *target, *extra, env=env)
        lines.append(f"invert:     {command}")
    log_dir = Path(run.cfg.paths.log_dir).expanduser()
    tensorboard_root = log_dir if out.resolve().is_relative_to(log_dir.resolve()) else out.parent
    lines.append(f"compare:    {shell(tool('tensorboard'))} --logdir {shell(str(tensorboard_root))}")
    print("\n".join(lines), flush=True)
