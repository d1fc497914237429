"""Fixtures: small models trained once per session and shared by the tests that only read them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import QUIET, TINY, run_subprocess, train_in_process


@pytest.fixture(autouse=True)
def fresh_process_state():
    """Each test starts with none of the process-wide state an earlier one left (docs/design.md lists it)."""
    yield
    from betaae.core import job, signals
    from betaae.runs import directories
    from betaae.sweep import callback, naming

    for module in (job, signals, directories, naming, callback):
        module.reset()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory holding a Beta model trained well enough for inversion tests."""
    out = tmp_path_factory.mktemp("trained")
    overrides = [
        "data.num_val=500",
        "data.num_test=20000",
        "model.hidden=[128]",
        "trainer.max_epochs=25",
        "scheduler.gamma=0.85",
        "trainer.accelerator=cpu",
        *QUIET,
    ]
    train_in_process(overrides, out)
    return out


@pytest.fixture(scope="session")
def finished_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch TINY run, trained once through train.py."""
    run = tmp_path_factory.mktemp("template") / "run"
    result = run_subprocess("train.py", [*TINY, "callbacks.latent_images.every_n_epochs=0", f"hydra.run.dir={run}"])
    assert result.returncode == 0, result.stderr[-2000:]
    return run


@pytest.fixture
def finished_run(finished_template: Path, tmp_path: Path) -> Path:
    """A finished 2-epoch run of its own (a copy: its config still names where it was made, as a moved run's does)."""
    run = tmp_path / "runs" / "first"
    shutil.copytree(finished_template, run)
    return run
