"""The LightningModule that trains any CurveModel: one fast loop, the configured optimizer and schedule
(Adam and ExponentialLR by default), epoch metrics.

What makes the loop fast on a model this small lives here once, for every model:
- Lightning hands training_step a group of minibatches (data.Grouped); each gets its own optimizer step;
- the optimizer is stepped by hand (manual optimization, its fused kernel where it has one);
- lightning_plugins.LeanPrecision calls no callback hooks around each minibatch's backward and optimizer step;
- per-step losses stay on the device; metrics are reduced and logged once per epoch, against the epoch.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch

from betaae.models.base import build_model
from betaae.models.optimizers import ADAM, EXPONENTIAL, build_optimizer, build_scheduler

# The checkpoint layout. 3: hyper_parameters {"model", "optimizer", "scheduler", "data"}, each a plain spec
# {"_target_": import path, **options}; 2 kept lr, gamma and weight_decay beside the model; 1 was flat.
FORMAT = 3


class Learner(L.LightningModule):
    """Trains the model described by `model` ({"_target_": import path, **options}) on `data`'s curves.

    Every hyperparameter is a plain value, so a checkpoint loads with torch.load(weights_only=True) and
    rebuilds the model, its grid and its data family on its own (betaae.models.checkpoints.rebuild).
    """

    def __init__(
        self, model: dict, optimizer: dict | None = None, scheduler: dict | None = None, data: dict | None = None
    ) -> None:
        super().__init__()
        data = dict(data or {"family": "beta", "grid_low": 0.01, "grid_high": 0.99, "num_points": 100})
        self.save_hyperparameters(
            {
                "model": dict(model),
                "optimizer": dict(optimizer or ADAM),
                "scheduler": dict(scheduler or EXPONENTIAL),
                "data": data,
                "betaae_format": FORMAT,
            },
            logger=False,
        )
        self.model = build_model(model, int(data["num_points"]))
        self.automatic_optimization = False
        # The training step's loss: the model's own, or compiled (compile_training_loss); never saved.
        self.train_loss_terms = self.model.loss_terms
        # Per stage, one row per step of [loss sum, each logged term's sum] kept on the device, and the
        # number of curves: reduced and logged once at the end of the stage's epoch.
        self._rows: dict[str, list[torch.Tensor]] = {stage: [] for stage in ("train", "val")}
        self._counts: dict[str, int | torch.Tensor] = dict.fromkeys(self._rows, 0)
        self._terms: list[str] = []
        self.best_val = float("inf")  # lowest val SSE per curve so far, logged beside it; kept in checkpoints
        self.epoch_loss: torch.Tensor | None = None  # this epoch's training loss, summed over every rank
        self._compile_clock, self._compile_s = False, None

    def forward(self, curves: torch.Tensor) -> torch.Tensor:
        return self.model.reconstruct(curves)

    def compile_training_loss(self, mode: str | None = None) -> None:
        """Compile the training step's loss (betaae.learner.compiling: when it pays)."""
        from betaae.learner.compiling import CompiledLoss

        self.train_loss_terms = CompiledLoss(self.model.loss_terms, mode)
        self._compile_clock = True  # the next training step is the first, compiled one: timed

    @property
    def compile_seconds(self) -> float | None:
        """Seconds this session's first compiled training step took (the compile, mostly); None if not compiled."""
        return self._compile_s

    def _step(self, curves: torch.Tensor, stage: str, weights: torch.Tensor | None = None) -> torch.Tensor:
        """The one step every stage shares: the model's loss terms, summed (weighted, for the curves a model
        is scored on: betaae.learner.datamodule), accumulated for the epoch."""
        terms = self.train_loss_terms(curves) if stage == "train" else self.model.loss_terms(curves)
        self._terms = [name for name in terms if name != "loss"]
        if weights is None:
            loss = terms["loss"].sum()
            # A term that is the loss itself (the autoencoder's sse) is summed once.
            sums = [loss if terms[n] is terms["loss"] else terms[n].sum() for n in self._terms]
            self._counts[stage] = self._counts[stage] + curves.shape[0]
        else:
            loss = (weights * terms["loss"]).sum()
            sums = [(weights * terms[n]).sum() for n in self._terms]
            self._counts[stage] = self._counts[stage] + weights.sum()
        self._rows[stage].append(torch.stack([loss, *sums]).detach())
        return loss

    def training_step(self, batch: tuple[tuple[torch.Tensor, torch.Tensor], ...], batch_idx: int) -> torch.Tensor:
        """One optimizer step for each minibatch of the group (see data.Grouped)."""
        optimizer = self.optimizers()
        started = time.perf_counter() if self._compile_clock else None
        for curves, _ in batch:
            optimizer.zero_grad(set_to_none=True)
            loss = self._step(curves, "train")
            self.manual_backward(loss)
            optimizer.step()
            if started is not None:
                self._compile_s, self._compile_clock, started = time.perf_counter() - started, False, None
        if batch_idx == self.trainer.num_training_batches - 1:
            # ExponentialLR steps once per epoch, here rather than at epoch end, so that the checkpoint
            # written after validation already holds the schedule of the next epoch (exact resume).
            lr = optimizer.param_groups[0]["lr"]
            self.lr_schedulers().step()
            # Logged at the epoch's last step, so that epoch-end callbacks already see it.
            self._log_stage("train", {"train/lr": lr})
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        curves, _, weights = batch
        return self._step(curves, "val", weights)

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self(batch[0])

    def _start_stage(self, stage: str) -> None:
        self._rows[stage], self._counts[stage] = [], 0

    def on_train_epoch_start(self) -> None:
        self._start_stage("train")
        self.epoch_loss = None

    def on_validation_epoch_start(self) -> None:
        self._start_stage("val")

    def on_validation_epoch_end(self) -> None:
        self._log_stage("val")

    def _log_stage(self, stage: str, extra: dict[str, float] | None = None) -> None:
        """Log `<stage>/loss` (summed over the split, weighted) and `<stage>/<term>_per_curve` (mean per curve),
        reduced over every rank: sums and counts (weights) are added up first, then divided."""
        rows, count = self._rows.get(stage), self._counts.get(stage, 0)
        if not rows:
            return
        sums = torch.stack(rows).sum(dim=0)
        count = count.reshape(1).to(sums) if torch.is_tensor(count) else sums.new_tensor([count])
        totals = self.trainer.strategy.reduce(torch.cat([sums, count]), reduce_op="sum")
        if stage == "train":
            self.epoch_loss = totals[0]  # the same on every rank: what the finite-loss guard decides on
        # val/loss (the split's summed loss) is what best.ckpt follows; for training, the per-curve terms say it all.
        metrics = {} if stage == "train" else {f"{stage}/loss": totals[0]}
        metrics.update({f"{stage}/{name}_per_curve": totals[i + 1] / totals[-1] for i, name in enumerate(self._terms)})
        if stage == "val" and "val/sse_per_curve" in metrics:
            self.best_val = min(self.best_val, float(metrics["val/sse_per_curve"]))
            metrics["val/sse_per_curve_best"] = self.best_val
        metrics.update(extra or {})
        # Every scalar is plotted against the epoch: Lightning uses a logged "step" as the x-axis.
        metrics["step"] = float(self.current_epoch)
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=1, sync_dist=False)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["best_val"] = self.best_val

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.best_val = float(checkpoint.get("best_val", float("inf")))

    def nonfinite_step(self) -> tuple[int | None, int] | None:
        """None if this epoch's training loss, summed over every rank, is finite; else (index within this
        epoch of this rank's first non-finite step, or None if it was another rank's, steps this epoch).

        The decision rests on the reduced loss, so every rank takes it the same way (no rank is left
        waiting for another under DDP). One device sync per call, once per epoch.
        """
        rows = self._rows.get("train")
        if not rows or self.epoch_loss is None or bool(torch.isfinite(self.epoch_loss)):
            return None
        bad = ~torch.isfinite(torch.stack(rows)[:, 0])
        return (int(bad.nonzero()[0, 0]) if bool(bad.any()) else None), len(rows)

    @property
    def lr(self) -> float:
        """The optimizer's learning rate as configured (what a user would lower after a non-finite loss)."""
        return float(self.hparams.optimizer.get("lr", float("nan")))

    def configure_optimizers(self):
        optimizer = build_optimizer(self.hparams.optimizer, self.parameters(), self.device.type)
        # Stepped by hand at each epoch's last batch (manual optimization): see training_step.
        return [optimizer], [build_scheduler(self.hparams.scheduler, optimizer)]
