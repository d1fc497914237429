"""Inversion: from target curves (or samples, or parameters) back to latent codes and family parameters,
with intervals and a verdict on whether the model describes the target.

- `methods`: the registry of inversion methods (`adam`, `nelder-mead`) and the parameter fit;
- `observations`: targets as observed (own x-values, missing points) and samples;
- `uncertainty`: standard errors and intervals (Laplace through the decoder's Jacobian);
- `verdicts`: whether an answer can be trusted, against the model's own family;
- `samples`: the code whose decoded density best explains i.i.d. draws;
- `api`: the public Python API, `load_model` and `invert`;
- `target_files`: reading what invert.py is asked to invert (no torch);
- `report`: what an inversion prints and writes.

May import: `betaae.core`, `betaae.families`, `betaae.models`, `betaae.plots`. Never Lightning.
"""

from betaae.core.lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "load_model": "api",
        "invert": "api",
        "Model": "api",
        "InversionResult": "api",
        "METHODS": "methods",
        "register_method": "methods",
    },
)
