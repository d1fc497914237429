"""Fixtures: small models trained once per session and shared by the tests that only read them."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import QUIET, train_in_process


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory holding a Beta model trained well enough for inversion tests."""
    out = tmp_path_factory.mktemp("trained")
    overrides = [
        "data.num_train=3000",
        "data.num_val=500",
        "data.num_test=500",
        "data.batch_size=64",
        "model.hidden=[128]",
        "trainer.max_epochs=25",
        "trainer.accelerator=cpu",
        "optimizer.lr=3e-3",
        "scheduler.gamma=0.9",
        *QUIET,
    ]
    train_in_process(overrides, out)
    return out
