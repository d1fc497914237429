"""Train an autoencoder on a family of curves: `python train.py [key=value ...]` (see README.md)."""

import hydra
from omegaconf import DictConfig

from betaae.cli import main as cli
from betaae.cli import train as train_task


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@cli.task
def main(cfg: DictConfig) -> float | None:
    return train_task.main(cfg)


if __name__ == "__main__":
    cli.main(main)
