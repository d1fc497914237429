"""Pruning a search's trial from inside its job: at each validation, the job reports its best val figure so
far to its trial in the shared storage, and stops at that epoch's end when the study's pruner says the trial
is hopeless. Under DDP, rank 0 asks and every rank stops together.

The sweeper hands each job its trial through one environment variable (`hydra.job.env_set`), so the job's
own overrides, and with them its directory name, stay those of its settings."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import lightning as L

from betaae.search.trials import TRIAL_ENV

REPORTED = "val/sse_per_curve"  # what is reported each epoch: its lowest so far is the default metric


def from_env(metric: str) -> TrialPruning | None:
    """The pruning callback for this job, or None: not a trial, pruning off, or a metric with no figure per
    epoch to report (then the trial runs all its epochs)."""
    text = os.environ.get(TRIAL_ENV)
    if not text:
        return None
    try:
        trial = json.loads(text)
    except ValueError:
        return None
    if not trial.get("prune") or metric not in (REPORTED, f"{REPORTED}_best"):
        return None
    return TrialPruning(trial["storage"], trial["study"], int(trial["trial_id"]))


def pruner():
    """The search's pruner, as the job's Hydra config gives it (the study keeps no pruner of its own)."""
    from hydra.core.hydra_config import HydraConfig

    from betaae.search.study import build

    return build(HydraConfig.get().sweeper.get("pruner"), "hydra.sweeper.pruner", "pruner")


class TrialPruning(L.Callback):
    """Reports the lowest val SSE per curve so far to the trial at each epoch, and stops a hopeless one."""

    def __init__(self, storage: str, study: str, trial_id: int) -> None:
        self.storage, self.study_name, self.trial_id = storage, study, trial_id
        self.best = math.inf
        self.pruned_at: int | None = None  # the number of epochs trained when the trial was pruned
        self._trial: Any = None

    def trial(self):
        if self._trial is None:
            import optuna

            from betaae.search.storage import open_storage

            study = optuna.load_study(study_name=self.study_name, storage=open_storage(self.storage), pruner=pruner())
            self._trial = optuna.trial.Trial(study, self.trial_id)
        return self._trial

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or REPORTED not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[REPORTED])
        if math.isfinite(value):
            self.best = min(self.best, value)
        prune = False
        if trainer.is_global_zero and math.isfinite(self.best):
            trial = self.trial()
            trial.report(self.best, trainer.current_epoch)
            prune = bool(trial.should_prune())
        prune = bool(trainer.strategy.broadcast(prune, src=0))
        if prune and self.pruned_at is None:
            self.pruned_at = trainer.current_epoch + 1
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = float(state_dict.get("best", math.inf))
