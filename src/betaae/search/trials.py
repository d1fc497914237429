"""What a search's sweeper and its jobs pass between them, without loading Lightning: the job's trial, in one
environment variable, and what a pruned job returns."""

from __future__ import annotations

import json
from dataclasses import dataclass

TRIAL_ENV = "BETAAE_OPTUNA_TRIAL"


@dataclass(frozen=True)
class Pruned:
    """What a pruned job returns to the sweeper, in place of its metric."""

    epochs: int
    value: float


def trial_env(storage: str, study: str, trial_id: int, number: int, prune: bool) -> str:
    return json.dumps({"storage": storage, "study": study, "trial_id": trial_id, "number": number, "prune": prune})
