"""betaae: autoencoders for families of mathematical functions, trained with Lightning and Hydra."""

from omegaconf import OmegaConf

__version__ = "0.1.0"

# ${if_null:a,b} is a when a is set, else b: a resumed run writes into its own directory. Registered on
# import so that the configs compose the same way from the scripts, the tests and a notebook.
OmegaConf.register_new_resolver("if_null", lambda value, default: default if value is None else value, replace=True)
