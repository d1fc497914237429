"""Lightning callbacks: an epoch-level progress bar, metric history, the finite-loss guard,
a checkpoint at the start of training, and TensorBoard images of the latent space."""

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

from betaae.errors import NonFiniteLossError

SHOWN = {"train/sse_per_curve": "train", "val/sse_per_curve": "val"}


def _is_fitting(trainer: L.Trainer) -> bool:
    return trainer.state.fn == "fit" and not trainer.sanity_checking


class EpochProgressBar(ProgressBar):
    """One tick per epoch with that epoch's figures; nothing is refreshed inside an epoch."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self.bar: tqdm | None = None

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
                leave=True,
            )

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.bar is None:
            return
        metrics = trainer.callback_metrics
        self.bar.set_postfix(
            {short: f"{float(metrics[key]):.4g}" for key, short in SHOWN.items() if key in metrics}, refresh=False
        )
        self.bar.update(1)

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._close()


class History(L.Callback):
    """Per-epoch figures for the loss plot; kept in the checkpoint so a resumed run has them all."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self._clock = 0.0
        self._lr = math.nan

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A resumed run's clock carries on from the time already spent training.
        self._clock = time.perf_counter() - (self.rows[-1]["elapsed_s"] if self.rows else 0.0)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._lr = trainer.optimizers[0].param_groups[0]["lr"]  # the rate this epoch trains with

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        row = {
            "epoch": trainer.current_epoch,
            "lr": self._lr,
            "elapsed_s": time.perf_counter() - self._clock,
        }
        # One sync per epoch, for the handful of epoch-level values.
        row.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.split("/")[0] in ("train", "val")})
        self.rows.append(row)

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
        step = pl_module.first_nonfinite_step()
        if step is None:
            return
        epoch = trainer.current_epoch
        global_step = trainer.global_step - len(pl_module._step_losses) + step
        last = Path(trainer.checkpoint_callback.dirpath or "") / "last.ckpt" if trainer.checkpoint_callback else None
        kept = f"the last good checkpoint is {last}" if last and last.exists() else "no checkpoint was written"
        raise NonFiniteLossError(
            f"training stopped: the loss became non-finite at epoch {epoch}, step {step} of the epoch "
            f"(global step {global_step}); {kept}; try a smaller model.lr (now {pl_module.hparams.lr:g})"
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
            trainer.save_checkpoint(Path(ckpt.dirpath) / "last.ckpt")


class LatentImages(L.Callback):
    """Every N epochs, logs to TensorBoard reconstructions of fixed val curves and the latent codes
    coloured by each parameter, so the latent space can be watched as it organizes itself."""

    def __init__(self, every_n_epochs: int = 20, num_curves: int = 6, num_scatter: int = 1000) -> None:
        self.every_n_epochs, self.num_curves, self.num_scatter = every_n_epochs, num_curves, num_scatter

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not _is_fitting(trainer) or not trainer.is_global_zero or self.every_n_epochs <= 0:
            return
        epoch = trainer.current_epoch
        last_epoch = trainer.max_epochs is not None and epoch + 1 >= trainer.max_epochs
        if (epoch + 1) % self.every_n_epochs and not last_epoch:
            return
        writer = next((lg.experiment for lg in trainer.loggers if hasattr(lg.experiment, "add_figure")), None)
        if writer is None:
            return
        from betaae import plots

        datamodule = trainer.datamodule
        curves, params = datamodule.splits["val"]
        curves, params = curves[: self.num_scatter], params[: self.num_scatter]
        with torch.no_grad():
            latent = pl_module.encoder(curves)
            recon = pl_module.decoder(latent[: self.num_curves])
        grid = datamodule.grid.cpu().numpy()
        names = datamodule.family.param_names
        writer.add_figure(
            "images/reconstructions",
            plots.reconstructions(
                grid,
                curves[: self.num_curves].cpu().numpy(),
                recon.cpu().numpy(),
                params[: self.num_curves].cpu().numpy(),
                names,
            ),
            global_step=epoch,
        )
        for i, name in enumerate(names):
            figure = plots.latent_scatter(latent.cpu().numpy(), params[:, i].cpu().numpy(), name)
            writer.add_figure(f"images/latent_by_{name}", figure, global_step=epoch)
