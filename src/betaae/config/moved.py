"""Options that moved between releases, and where they are now: a command line of an earlier release gets the
way forward in one line, and a saved run of an earlier release is migrated on resume."""

from __future__ import annotations

# Format-2 runs kept the training settings under `model`; they are their own nodes now.
MOVED = {
    "model.lr": "optimizer.lr",
    "model.weight_decay": "optimizer.weight_decay",
    "model.gamma": "scheduler.gamma",
}
