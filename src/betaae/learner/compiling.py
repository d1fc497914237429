"""Whether a run compiles its training step with torch.compile: `compile=auto|true|false`.

Compiling costs seconds before the first step and saves a share of every step after it, so `auto` compiles
only a run long enough for the saving to repay the cost. The break-even points below are measured
(docs/performance.md#compiling); a two-epoch debug run never reaches them.

Only the training step's loss is compiled: the model's own `loss_terms`, not the module, so a checkpoint's
state_dict and hyperparameters are the same compiled or not. Validation and scoring stay eager (their batch
shapes differ, and each new shape would compile again).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

CHOICES = ("auto", True, False)
# Optimizer steps from which `auto` compiles, per device type (absent: never). On a CPU the compiled step
# of the default model was measured no faster than the eager one in a whole run (docs/performance.md
# #compiling), so `auto` never compiles there. On a GPU, CUDA graphs remove the launch overhead that dominates
# a model this small; that is not measured yet (docs/gpu.md), so the threshold is an estimate.
AUTO_MIN_STEPS = {"cuda": 50_000}


def parse(value: object) -> str | bool:
    """`auto`, True or False from a config value (YAML reads true/false as booleans); ValueError otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("auto", "true", "false"):
        return {"auto": "auto", "true": True, "false": False}[value.lower()]
    raise ValueError(value)


@dataclass(frozen=True)
class Plan:
    """What a run does about compiling, and why, for the start line."""

    compile: bool
    mode: str | None
    reason: str


def plan(setting: object, device_type: str, steps: float) -> Plan:
    """Compile or not, given `compile=`, the device ("cpu", "cuda", ...) and the run's optimizer steps in all
    (epochs x steps per epoch, counted from the run's start so that a resumed run decides as it did)."""
    choice = parse(setting)
    # CUDA graphs replay the whole step's kernels with one launch: what a tiny model on a GPU waits on.
    mode = "reduce-overhead" if device_type == "cuda" else None
    if choice is True:
        return Plan(True, mode, "compile=true")
    if choice is False:
        return Plan(False, None, "compile=false")
    least = AUTO_MIN_STEPS.get(device_type)
    if least is None:
        return Plan(False, None, f"compile=auto: not on {device_type}, where it measured no faster")
    if steps >= least:
        return Plan(True, mode, f"compile=auto: {_count(steps)} steps >= {least:,}")
    return Plan(False, None, f"compile=auto: {_count(steps)} steps < {least:,}, where it would repay its cost")


def _count(steps: float) -> str:
    return "unbounded" if math.isinf(steps) else f"{int(steps):,}"


class CompiledLoss:
    """`loss_terms` compiled. The first step pays for the compile: forward on the first call, backward on the
    first backward (AOTAutograd compiles it lazily), so the Learner times that whole first step."""

    def __init__(self, loss_terms: Callable[[torch.Tensor], dict], mode: str | None) -> None:
        self.graphs = mode == "reduce-overhead"
        self._compiled = torch.compile(loss_terms, dynamic=False, mode=mode)

    def __call__(self, curves: torch.Tensor) -> dict:
        if self.graphs:
            # Each step is a new replay of the CUDA graph: its outputs are overwritten by the next one, so
            # they are copied before they are kept for the epoch's figures.
            torch.compiler.cudagraph_mark_step_begin()
        terms = self._compiled(curves)
        return {name: value.clone() for name, value in terms.items()} if self.graphs else terms
