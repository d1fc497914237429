"""The built-in models' options and their rules, loading no torch: the models declare these as their
`options`, and the config checks read them here, so that a bad option is refused before torch loads."""

from __future__ import annotations

from betaae.core.constraints import Constraint, int_list, integer, nonnegative, one_of

ACTIVATIONS = ("relu", "silu", "gelu", "tanh", "elu", "softplus")
OUTPUT_INITS = ("zeros", "default")

CURVE_MODEL: dict[str, Constraint] = {"latent_dims": integer(1)}
AUTOENCODER: dict[str, Constraint] = {
    **CURVE_MODEL,
    "hidden": int_list,
    "activation": one_of(ACTIVATIONS),
    "output_init": one_of(OUTPUT_INITS),
}
VAE: dict[str, Constraint] = {**AUTOENCODER, "beta": nonnegative}

# Each built-in model's import path -> (class name, its options).
BUILTIN: dict[str, tuple[str, dict[str, Constraint]]] = {
    "betaae.models.AutoEncoder": ("AutoEncoder", AUTOENCODER),
    "betaae.models.VAE": ("VAE", VAE),
}
