"""Train an autoencoder on a family of curves: `python train.py [key=value ...]` (see README.md)."""

import hydra
from omegaconf import DictConfig

from betaae import cli
from betaae.runs import prepare_training


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@cli.task
def main(cfg: DictConfig) -> float | None:
    """Returns the optimized metric, so that Hydra sweepers (Optuna) can minimize it."""
    prepared = prepare_training(cfg)  # every check runs before torch and Lightning are imported
    if prepared is None:
        return None
    from betaae.train_run import run_training

    return run_training(*prepared).get(cfg.optimized_metric)


if __name__ == "__main__":
    cli.main(main)
