"""Checkpoints on disk: read back with clear errors, found inside run directories, and rebuilt into a model
without Lightning (so invert.py starts fast)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from betaae.core.errors import CheckpointError
from betaae.core.files import unreadable
from betaae.core.registry import current_path, stored_object
from betaae.families import Family, get_family, make_grid
from betaae.models.base import CurveModel

AUTOENCODER = "betaae.models.AutoEncoder"
REFERENCE_KEY = "betaae_reference"


def resolve_checkpoint(path: str | os.PathLike, option: str = "ckpt_path") -> Path:
    """A checkpoint file, or the best checkpoint inside a run directory."""
    path = Path(path).expanduser()
    try:
        if path.is_dir():
            for candidate in (
                path / "checkpoints" / "best.ckpt",
                path / "best.ckpt",
                path / "checkpoints" / "last.ckpt",
            ):
                if candidate.is_file():
                    return candidate
            raise CheckpointError(f"{option}={path}: directory has no checkpoints/best.ckpt or checkpoints/last.ckpt")
        if not path.exists():
            raise CheckpointError(f"{option}={path}: no such file or directory")
    except OSError as err:  # a directory this user may not enter (another user's run, umask 077)
        raise CheckpointError(f"{option}={path}: {unreadable(err)}") from None
    return path


def read_checkpoint(path: str | os.PathLike, option: str = "ckpt_path") -> dict[str, Any]:
    """Load a betaae checkpoint with weights_only=True, or raise a one-line CheckpointError."""
    path = resolve_checkpoint(path, option)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError as err:  # torch reports a damaged file as an OSError too: only this one is about access
        raise CheckpointError(f"{option}={path}: {unreadable(err)}") from None
    except Exception as err:  # a damaged file fails inside torch's unpickler in many ways; each means the same
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{option}={path}: cannot be read as a checkpoint (truncated or corrupt?): {reason}"
        ) from err
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not isinstance(hparams, dict) or "betaae_format" not in hparams or "state_dict" not in checkpoint:
        raise CheckpointError(f"{option}={path}: not a betaae checkpoint (no betaae hyperparameters in it)")
    checkpoint["path"] = str(path)
    return checkpoint


def model_spec(hparams: dict[str, Any]) -> dict[str, Any]:
    """The model's plain spec, {"_target_": ..., **options}; the first format stored a ReLU autoencoder flat."""
    if hparams["betaae_format"] == 1:
        return {"_target_": AUTOENCODER, "latent_dims": hparams["latent_dims"], "hidden": hparams["hidden"]}
    spec = dict(hparams["model"])
    if isinstance(spec.get("_target_"), str):
        spec["_target_"] = current_path(spec["_target_"])
    return spec


@dataclass
class Checkpointed:
    """A model rebuilt from a checkpoint alone, in eval mode on the CPU, with what it was trained on."""

    model: CurveModel
    data: dict[str, Any]  # family, params (training ranges), grid_low, grid_high, num_points
    path: str
    reference: dict | None = None  # how well the model inverts its own family (betaae.inversion.verdicts.Reference)

    @cached_property
    def family(self) -> Family:
        return get_family(self.data["family"], stored_in=self.path)

    @cached_property
    def grid(self) -> torch.Tensor:
        return make_grid(self.data["grid_low"], self.data["grid_high"], self.data["num_points"])

    @property
    def ranges(self) -> dict[str, list[float]]:
        return {**self.family.default_ranges(), **(self.data.get("params") or {})}


def rebuild(path: str | os.PathLike, option: str = "ckpt_path") -> Checkpointed:
    """Rebuild the model, its grid and its data family from a checkpoint alone."""
    checkpoint = read_checkpoint(path, option)
    hparams = checkpoint["hyper_parameters"]
    data = dict(hparams["data"])
    spec = model_spec(hparams)
    try:
        cls = stored_object(spec.pop("_target_", None), CurveModel, "model", checkpoint["path"])
        model = cls(num_points=int(data["num_points"]), **spec)
    except TypeError as err:
        raise CheckpointError(f"{option}={checkpoint['path']}: cannot rebuild its model: {err}") from err
    prefix = "" if hparams["betaae_format"] == 1 else "model."
    weights = {k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"{option}={checkpoint['path']}: weights do not match its hyperparameters") from err
    reference = checkpoint.get(REFERENCE_KEY)
    checkpointed = Checkpointed(model.eval().requires_grad_(False), data, checkpoint["path"], reference)
    checkpointed.family  # noqa: B018  (a family the file names is checked now, not at first use)
    return checkpointed


def add_reference(path: str | os.PathLike, reference: dict) -> None:
    """Store a model's inversion reference in its checkpoint, atomically."""
    import io

    from betaae.core.files import atomic_write_bytes

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint[REFERENCE_KEY] = reference
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())
