"""What every model offers the rest of betaae (CurveModel), and how a model is built from its plain spec.

A model is a torch module, not a LightningModule: betaae.learner.module.Learner trains any CurveModel with
the same fast loop, and invert.py loads one without importing Lightning. A model declares its options
with their constraints and says what its per-curve loss is; nothing else. See docs/extending.md.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import torch
from torch import nn

from betaae.core.constraints import Constraint
from betaae.core.registry import import_path
from betaae.models import options

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
}


def mlp(sizes: list[int], activation: str = "relu") -> nn.Sequential:
    """Linear layers with the activation between them and none after the last."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def sse(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Summed squared error over the grid, one value per curve: (batch, num_points) -> (batch,)."""
    return (recon - target).pow(2).sum(dim=1)


class CurveModel(nn.Module):
    """The interface the rest of betaae uses: encode, decode, reconstruct, latent_dims and loss_terms.

    `options` declares each constructor option (except num_points, which comes from the data) with
    its constraint; the config checks read it before anything is built.
    """

    options: ClassVar[dict[str, Constraint]] = options.CURVE_MODEL

    def __init__(self, num_points: int, latent_dims: int) -> None:
        super().__init__()
        self.num_points, self.latent_dims = int(num_points), int(latent_dims)

    def encode(self, curves: torch.Tensor) -> torch.Tensor:
        """The code of each curve, (batch, num_points) -> (batch, latent_dims); deterministic."""
        raise NotImplementedError

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """The curve of each code, (batch, latent_dims) -> (batch, num_points)."""
        raise NotImplementedError

    def reconstruct(self, curves: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(curves))

    def forward(self, curves: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(curves)

    def loss_terms(self, curves: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-curve terms, (batch,) each: "loss" is what training minimizes, the others are logged as
        `<stage>/<name>_per_curve` ("sse" always, the summed squared reconstruction error)."""
        error = sse(self.reconstruct(curves), curves)
        return {"loss": error, "sse": error}


def model_class(target: str) -> type[CurveModel]:
    """The CurveModel subclass at import path `target` (a model config's `_target_`)."""
    try:
        cls = import_path(target)
    except AttributeError:
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, CurveModel)):
        raise TypeError(f"{target} is not a betaae.models.CurveModel subclass")
    return cls


def build_model(spec: dict[str, Any], num_points: int) -> CurveModel:
    """A model from its plain spec, {"_target_": import path, **options}, as a checkpoint stores it."""
    options = {k: v for k, v in spec.items() if k != "_target_"}
    return model_class(spec["_target_"])(num_points=num_points, **options)


@torch.no_grad()
def mean_terms(
    model: CurveModel, curves: torch.Tensor, batch_size: int = 100_000, weights: torch.Tensor | None = None
) -> dict[str, float]:
    """Each logged loss term's mean per curve ("sse", ...), weighted if weights are given, in eval mode."""
    was_training = model.training
    model.eval()
    weights = torch.ones(curves.shape[0], dtype=curves.dtype, device=curves.device) if weights is None else weights
    sums: dict[str, float] = {}
    for chunk, chunk_weights in zip(curves.split(batch_size), weights.split(batch_size)):
        for name, values in model.loss_terms(chunk).items():
            if name != "loss":
                sums[name] = sums.get(name, 0.0) + float((chunk_weights * values).double().sum())
    model.train(was_training)
    return {name: total / float(weights.double().sum()) for name, total in sums.items()}
