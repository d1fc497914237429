"""Lightning callbacks: an epoch-level progress bar, the per-epoch history, the finite-loss guard, a
checkpoint at the start of training, and TensorBoard images of the latent space.

Each is configured in its own file under conf/callbacks/, so any one can be dropped or added from the
command line. None of them runs anything per minibatch.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ProgressBar
from tqdm.auto import tqdm

from betaae.core.errors import NonFiniteLossError
from betaae.learner.threads import Governor

SHOWN = {"train/sse_per_curve": "train", "val/sse_per_curve": "val"}
# Within an epoch the bar moves at most this often, by the share of the epoch done: an epoch of a fraction
# of a second shows no inner movement, and one of an hour (online data, data.num_train=100000000) still
# moves. One clock read per Lightning step (a group of minibatches) is all it costs.
REFRESH_S = 1.0
HISTORY_COLUMNS = ("epoch", "lr", "train_sse_per_curve", "val_sse_per_curve", "elapsed_s")


def _is_fitting(trainer: L.Trainer) -> bool:
    return trainer.state.fn == "fit" and not trainer.sanity_checking


class EpochProgressBar(ProgressBar):
    """One tick per epoch with that epoch's figures; within a long epoch, the share of it done (at most once
    every REFRESH_S seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self.bar: tqdm | None = None
        self._shown_at = 0.0  # when the bar last moved

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._enabled and trainer.is_global_zero:
            total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
            self.bar = tqdm(
                total=total,
                initial=trainer.current_epoch,
                desc="train",
                unit="epoch",
                dynamic_ncols=True,
                file=sys.stderr,
            )
            self._shown_at = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        steps = trainer.num_training_batches
        if self.bar is None or time.monotonic() - self._shown_at < REFRESH_S or batch_idx + 1 >= steps:
            return  # the epoch's last step is shown by on_train_epoch_end, with the epoch's figures
        # Epochs done so far, to two decimals (tqdm prints n as it is: "3.37/200").
        self.bar.n = round(trainer.current_epoch + min((batch_idx + 1) / steps, 0.99), 2)
        self.bar.refresh()
        self._shown_at = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.bar is None:
            return
        metrics = trainer.callback_metrics
        self.bar.set_postfix(
            {short: f"{float(metrics[key]):.4g}" for key, short in SHOWN.items() if key in metrics}, refresh=False
        )
        self.bar.n = trainer.current_epoch  # whole again, after any share shown within the epoch
        self.bar.update(1)
        self._shown_at = time.monotonic()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._close()


class History(L.Callback):
    """Per-epoch figures (history.csv, the loss plot, time to quality); kept in the checkpoint, so a
    resumed run has them all. Also logs `train/elapsed_s`, the training seconds so far."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self._clock = 0.0
        self._val = math.nan  # this epoch's val figure, if it validated
        self.started_at: float | None = None  # when this session's training began (time.time())

    @property
    def elapsed(self) -> float:
        """Training seconds so far, including those of the runs this one resumed."""
        return time.perf_counter() - self._clock

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._clock = time.perf_counter() - (self.rows[-1]["elapsed_s"] if self.rows else 0.0)
        self.started_at = time.time()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if _is_fitting(trainer) and "val/sse_per_curve" in trainer.callback_metrics:
            self._val = float(trainer.callback_metrics["val/sse_per_curve"])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        elapsed = self.elapsed
        pl_module.log("train/elapsed_s", elapsed, on_step=False, on_epoch=True, batch_size=1)
        row = {"epoch": trainer.current_epoch, "elapsed_s": elapsed}
        # One sync per epoch, for the handful of epoch-level values.
        for column, key in (("lr", "train/lr"), ("train_sse_per_curve", "train/sse_per_curve")):
            row[column] = float(metrics[key]) if key in metrics else math.nan
        row["val_sse_per_curve"], self._val = self._val, math.nan
        self.rows.append(row)

    def seconds_to(self, quality: float) -> float | None:
        """Training seconds until val SSE per curve first reached `quality`, or None."""
        return next((r["elapsed_s"] for r in self.rows if r["val_sse_per_curve"] <= quality), None)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])


class FiniteLossGuard(L.Callback):
    """Stops training at the end of the epoch in which the loss became NaN or infinite.

    It checks before validation and before any checkpoint is written, so the last good
    checkpoint is never replaced by a broken model. One device sync per epoch.
    """

    def _check(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        found = pl_module.nonfinite_step()
        if found is None:
            return
        step, steps = found
        where = (
            f"step {step} of the epoch (global step {trainer.global_step - steps + step})"
            if step is not None
            else "a step of another process"
        )
        last = Path(trainer.checkpoint_callback.dirpath or "") / "last.ckpt" if trainer.checkpoint_callback else None
        kept = f"the last good checkpoint is {last}" if last and last.exists() else "no checkpoint was written"
        if next(pl_module.parameters()).dtype == torch.float16:  # its largest value is 65,504: the loss overflows
            advice = "float16 cannot hold this loss; use trainer.precision=bf16-true, bf16-mixed or 32-true"
        else:
            advice = f"try a smaller optimizer.lr (now {pl_module.lr:g})"
        raise NonFiniteLossError(
            f"training stopped: the loss became non-finite at epoch {trainer.current_epoch}, {where}; {kept}; {advice}"
        )

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if _is_fitting(trainer):
            self._check(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check(trainer, pl_module)


class StartCheckpoint(L.Callback):
    """Writes last.ckpt before the first step, so an interrupt during the first epoch is resumable too."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        ckpt = trainer.checkpoint_callback
        # Decided the same way on every rank: save_checkpoint is collective under DDP.
        if ckpt is not None and ckpt.dirpath is not None and trainer.ckpt_path is None:
            trainer.save_checkpoint(Path(ckpt.dirpath) / "last.ckpt", weights_only=False)


class LatentImages(L.Callback):
    """Every N epochs (and at the last), logs to TensorBoard reconstructions of fixed curves drawn from the
    training ranges and their latent codes coloured by each parameter, so the latent space can be watched
    as it organizes itself."""

    def __init__(self, every_n_epochs: int = 100, num_curves: int = 6, num_scatter: int = 1000) -> None:
        self.every_n_epochs, self.num_curves, self.num_scatter = every_n_epochs, num_curves, num_scatter

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not _is_fitting(trainer) or not trainer.is_global_zero or self.every_n_epochs <= 0:
            return
        epoch = trainer.current_epoch
        last_epoch = trainer.max_epochs is not None and epoch + 1 >= trainer.max_epochs
        if (epoch + 1) % self.every_n_epochs and not last_epoch:
            return
        experiments = (getattr(lg, "experiment", None) for lg in trainer.loggers)
        writer = next((e for e in experiments if hasattr(e, "add_figure")), None)
        if writer is None:
            return
        from betaae import plots

        datamodule = trainer.datamodule
        curves, params = datamodule.splits["preview"]
        curves, params = curves[: self.num_scatter], params[: self.num_scatter]
        model = pl_module.model
        with torch.no_grad():
            latent = model.encode(curves)
            recon = model.decode(latent[: self.num_curves])
        grid = datamodule.grid.cpu().numpy()
        names = datamodule.family.param_names
        curves, recon, params, latent = (t.cpu().float() for t in (curves, recon, params, latent))  # any precision
        figure = plots.reconstructions(
            grid,
            curves[: self.num_curves].numpy(),
            recon.numpy(),
            params[: self.num_curves].numpy(),
            names,
            "preview",
            f"epoch {epoch}",
        )
        # Under val/, beside the val scalars: TensorBoard lists groups alphabetically, and images first would
        # push the charts below dozens of image cards.
        writer.add_figure("val/reconstructions", figure, global_step=epoch)
        latent, params = latent.numpy(), params.numpy()
        for i, name in enumerate(names):
            writer.add_figure(f"val/latent_by_{name}", plots.latent_scatter(latent, params[:, i], name), epoch)


class FollowTheLoad(L.Callback):
    """Sets torch's CPU thread count from the machine's load a few times a second (betaae.learner.threads)."""

    def __init__(self, most: int) -> None:
        self.governor = Governor(most)
        self.active = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.active = pl_module.device.type == "cpu"
        if self.active:
            self.governor.start()

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if self.active:
            self.governor.update()
