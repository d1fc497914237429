"""The public Python API: load a checkpoint, then encode, decode and invert curves with it."""

from __future__ import annotations

from betaae.checkpoints import load_model
from betaae.inversion import invert

__all__ = ["invert", "load_model"]
