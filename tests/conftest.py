"""Shared helpers: compose configs the way Hydra does, run the two scripts in-process or as real
subprocesses, and train one small model that the inversion tests share."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# Small enough to train in about a second on 2 CPU cores, yet every stage runs for real.
TINY = [
    "data.num_train=512",
    "data.num_val=128",
    "data.num_test=128",
    "data.batch_size=64",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "callbacks.latent_images.every_n_epochs=1",
]

os.environ.setdefault("PYTHONWARNINGS", "ignore")


def compose_config(name: str, overrides: list[str], output_dir: Path | None = None) -> DictConfig:
    """The config Hydra would build for `python {name}.py overrides`, with its outputs in output_dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    if output_dir is not None:
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
            cfg.hydra.job.num = 0
        HydraConfig().set_config(cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
    return cfg


def run_script(script: str, args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """Run train.py or invert.py in this process through its real entry point; (exit code, stdout, stderr)."""
    argv = sys.argv
    sys.argv = [str(ROOT / script), *args]
    GlobalHydra.instance().clear()
    try:
        runpy.run_path(str(ROOT / script), run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_subprocess(script: str, args: list[str], timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run a script as a user would, in a fresh Python process."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory holding a small model trained well enough for inversion tests."""
    from betaae.train_run import run_training

    out = tmp_path_factory.mktemp("trained")
    overrides = [
        "data.num_train=3000",
        "data.num_val=500",
        "data.num_test=500",
        "data.batch_size=64",
        "trainer.max_epochs=25",
        "trainer.accelerator=cpu",
        "model.lr=3e-3",
        "model.gamma=0.9",
        "callbacks.latent_images.every_n_epochs=0",
        "logger=none",
        "trainer.enable_progress_bar=false",
    ]
    cfg = compose_config("train", overrides, out)
    run_training(cfg)
    return out
