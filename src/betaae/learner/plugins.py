"""Lightning Trainer plugins: 32-bit precision without per-step hooks, and atomic checkpoint writes."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.plugins.precision import Precision

from betaae.core.files import atomic_write_bytes


class LeanPrecision(Precision):
    """32-bit precision that dispatches no callback or module hooks around each backward and optimizer
    step (on_before_backward, on_after_backward, on_before_optimizer_step).

    Those hooks run once per minibatch and cost more than this model's step. The strategy's own work
    around backward (DDP's gradient synchronization) still runs, since Strategy.backward calls it.
    """

    def pre_backward(self, tensor: torch.Tensor, module: L.LightningModule) -> torch.Tensor:
        return tensor

    def post_backward(self, tensor: torch.Tensor, module: L.LightningModule) -> torch.Tensor:
        return tensor.detach()

    def optimizer_step(self, optimizer, model, closure, **kwargs: Any) -> Any:
        closure()
        return optimizer.step(**kwargs)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that never leaves a half-written file: temp file, fsync, rename."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(Path(path), buffer.getvalue())
