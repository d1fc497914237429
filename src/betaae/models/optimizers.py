"""The optimizer and learning-rate schedule of a run, from plain specs {"_target_": import path, **options}.

Specs stay plain values (no partials), so a checkpoint that stores them loads with weights_only=True.
"""

from __future__ import annotations

import inspect
from typing import Any

from betaae.core.registry import import_path

# The defaults of conf/optimizer/adam.yaml and conf/scheduler/exponential.yaml (a test keeps them equal).
ADAM = {"_target_": "torch.optim.Adam", "lr": 2e-3, "betas": [0.9, 0.99], "weight_decay": 0.0}
EXPONENTIAL = {"_target_": "torch.optim.lr_scheduler.ExponentialLR", "gamma": 0.96}


def build_optimizer(spec: dict[str, Any], parameters, device_type: str):
    """The optimizer a spec names, over `parameters`; its fused kernel where it has one (faster per step on
    CPU and CUDA), unless the spec says otherwise."""
    options = dict(spec)
    cls = import_path(options.pop("_target_"))
    if "fused" in inspect.signature(cls).parameters and device_type in ("cpu", "cuda"):
        options.setdefault("fused", True)
    return cls(parameters, **options)


def build_scheduler(spec: dict[str, Any], optimizer):
    """The learning-rate schedule a spec names, stepped once per epoch by the Learner."""
    options = dict(spec)
    return import_path(options.pop("_target_"))(optimizer, **options)
