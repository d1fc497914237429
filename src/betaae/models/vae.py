"""A variational autoencoder with the same MLP shapes as the plain one: `python train.py model=vae`.

The encoder gives a mean and a log-variance per latent dimension; training decodes a sampled code and
minimizes summed squared error + beta x KL(q(z|x) || N(0, I)). Encoding, validation and inversion use
the mean code, so reconstructions are deterministic and compare directly with the plain autoencoder.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from betaae.core.constraints import Constraint
from betaae.models import options
from betaae.models.autoencoder import AutoEncoder
from betaae.models.base import sse


class VAE(AutoEncoder):
    options: ClassVar[dict[str, Constraint]] = options.VAE
    outputs_per_latent = 2  # mean and log-variance

    def __init__(
        self,
        num_points: int,
        latent_dims: int = 2,
        hidden: list[int] = (256, 128),
        activation: str = "gelu",
        output_init: str = "zeros",
        beta: float = 1e-3,
    ) -> None:
        super().__init__(num_points, latent_dims, hidden, activation, output_init)
        self.beta = float(beta)

    def posterior(self, curves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | curve), (batch, latent_dims) each."""
        mean, log_var = self.encoder(curves).chunk(2, dim=1)
        return mean, log_var

    def encode(self, curves: torch.Tensor) -> torch.Tensor:
        return self.posterior(curves)[0]

    def loss_terms(self, curves: torch.Tensor) -> dict[str, torch.Tensor]:
        mean, log_var = self.posterior(curves)
        codes = mean + (0.5 * log_var).exp() * torch.randn_like(mean) if self.training else mean
        error = sse(self.decode(codes), curves)
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(dim=1)
        return {"loss": error + self.beta * kl, "sse": error, "kl": kl}
