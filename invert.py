"""Recover latent codes of target curves from a trained checkpoint: `python invert.py ckpt_path=... alpha=2 beta=4`."""

import hydra
from omegaconf import DictConfig

from betaae.cli import main as cli


@hydra.main(version_base="1.3", config_path="conf", config_name="invert")
@cli.task
def main(cfg: DictConfig) -> float:
    from betaae.cli import invert as invert_task  # torch loads after Hydra has composed the config

    return invert_task.main(cfg)


if __name__ == "__main__":
    cli.main(main)
