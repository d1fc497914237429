"""The plain autoencoder: an MLP encoder num_points -> hidden -> latent_dims and its mirror image as decoder."""

from __future__ import annotations

from typing import ClassVar

import torch

from betaae.core.constraints import Constraint
from betaae.models import options
from betaae.models.base import CurveModel, mlp


class AutoEncoder(CurveModel):
    """Encoder num_points -> hidden -> latent_dims and its mirror image, trained on summed squared error.

    `output_init="zeros"` starts the decoder's output layer with zero weights (its bias as PyTorch draws it),
    so that every curve starts out decoded the same and the first steps cannot fling the rare extreme curves
    of a family (a Beta with alpha -> 0) far off; "default" keeps PyTorch's initialization throughout, as
    the notebook did. docs/performance.md measures the difference.
    """

    options: ClassVar[dict[str, Constraint]] = options.AUTOENCODER
    outputs_per_latent = 1  # encoder outputs per latent dimension (a VAE's encoder gives 2: mean, log-variance)

    def __init__(
        self,
        num_points: int,
        latent_dims: int = 2,
        hidden: list[int] = (256, 128),
        activation: str = "gelu",
        output_init: str = "zeros",
    ) -> None:
        super().__init__(num_points, latent_dims)
        hidden = [int(hidden)] if isinstance(hidden, int) else [int(h) for h in hidden]
        self.encoder = mlp([self.num_points, *hidden, self.outputs_per_latent * self.latent_dims], activation)
        self.decoder = mlp([self.latent_dims, *hidden[::-1], self.num_points], activation)
        if output_init == "zeros":
            with torch.no_grad():
                self.decoder[-1].weight.zero_()

    def encode(self, curves: torch.Tensor) -> torch.Tensor:
        return self.encoder(curves)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(codes)
