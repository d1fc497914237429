"""betaae: autoencoders for families of mathematical functions, trained with Lightning and Hydra."""

import re

from omegaconf import OmegaConf

__version__ = "0.1.0"

# ${if_null:a,b} is a when a is set, else b: a resumed run writes into its own directory. Registered on
# import so that the configs compose the same way from the scripts, the tests and a notebook.
OmegaConf.register_new_resolver("if_null", lambda value, default: default if value is None else value, replace=True)


def _dirname(overrides: str, limit: int = 150) -> str:
    """A sweep job's directory name from its overrides: long floats shortened, at most `limit` characters
    (file systems refuse names over 255 bytes, and Optuna's sampled floats get long)."""
    short = re.sub(r"\d+\.\d{5,}(e-?\d+)?", lambda m: f"{float(m.group()):.4g}", overrides)
    return short if len(short) <= limit else short[: limit - 3] + "..."


OmegaConf.register_new_resolver("dirname", _dirname, replace=True)
