"""Checkpoints on disk: written atomically, read back with clear errors, found inside run directories."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from betaae.errors import CheckpointError
from betaae.outputs import atomic_write_bytes


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that never leaves a half-written file: temp file, fsync, rename."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(Path(path), buffer.getvalue())


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or the best checkpoint inside a run directory."""
    path = Path(path).expanduser()
    if path.is_dir():
        for candidate in (path / "checkpoints" / "best.ckpt", path / "best.ckpt", path / "checkpoints" / "last.ckpt"):
            if candidate.is_file():
                return candidate
        raise CheckpointError(f"ckpt_path={path}: directory has no checkpoints/best.ckpt or checkpoints/last.ckpt")
    if not path.exists():
        raise CheckpointError(f"ckpt_path={path}: no such file or directory")
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a betaae checkpoint with weights_only=True, or raise a one-line CheckpointError."""
    path = resolve_checkpoint(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"ckpt_path={path}: cannot be read as a checkpoint (truncated or corrupt?): {reason}"
        ) from err
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not isinstance(hparams, dict) or "betaae_format" not in hparams or "state_dict" not in checkpoint:
        raise CheckpointError(f"ckpt_path={path}: not a betaae checkpoint (no betaae hyperparameters in it)")
    checkpoint["path"] = str(path)
    return checkpoint


def load_model(path: str | os.PathLike):
    """Rebuild the autoencoder, its grid and its data family from a checkpoint alone, in eval mode."""
    from betaae.model import AutoEncoder

    checkpoint = read_checkpoint(path)
    hparams = {k: v for k, v in checkpoint["hyper_parameters"].items() if k != "betaae_format"}
    model = AutoEncoder(**hparams)
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"ckpt_path={checkpoint['path']}: weights do not match its hyperparameters") from err
    model.checkpoint_path = checkpoint["path"]
    return model.eval()
