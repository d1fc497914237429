"""Train an autoencoder on a family of curves: `python train.py [key=value ...]` (see README.md)."""

import hydra
from omegaconf import DictConfig

from betaae import cli
from betaae.train_run import run_training


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@cli.task
def main(cfg: DictConfig) -> float | None:
    """Returns the optimized metric, so that Hydra sweepers (Optuna) can minimize it."""
    return run_training(cfg).get(cfg.optimized_metric)


if __name__ == "__main__":
    cli.main(main)
