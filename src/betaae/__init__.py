"""betaae: autoencoders for families of mathematical functions, trained with Lightning and Hydra."""

__version__ = "0.1.0"
