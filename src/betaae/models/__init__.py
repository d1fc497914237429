"""Models and how they are built, trained and scored, without Lightning.

- `base`: `CurveModel`, the interface every model offers (encode, decode, loss_terms), and how a model is
  built from its plain spec;
- `options`: the built-in models' options and their rules, loading no torch (the checks read them);
- `autoencoder`, `vae`: the built-in models;
- `optimizers`: the optimizer and learning-rate schedule from plain specs;
- `scoring`: how a trained model is scored (the test set's figures);
- `checkpoints`: checkpoints read back as data, and rebuilt into a model.

May import: `betaae.core`, `betaae.families`.
"""

from betaae.core.lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "CurveModel": "base",
        "build_model": "base",
        "AutoEncoder": "autoencoder",
        "VAE": "vae",
        "build_optimizer": "optimizers",
        "build_scheduler": "optimizers",
        "Checkpointed": "checkpoints",
        "rebuild": "checkpoints",
    },
)
