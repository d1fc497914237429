"""Runs and sweeps written by release 0.3, before the package was regrouped (tests/fixtures/release-0.3), still
load, invert, resume and continue: the import paths they hold are mapped to their new homes."""

import json
import shutil

import numpy as np
import pytest
import yaml
from helpers import ROOT, run_subprocess

from betaae import invert, load_model
from betaae.core.registry import current_path

FIXTURE = ROOT / "tests" / "fixtures" / "release-0.3"


@pytest.fixture
def old_run(tmp_path):
    return shutil.copytree(FIXTURE / "run", tmp_path / "run")


def test_release_0_3_stored_the_old_import_paths():
    saved = yaml.safe_load((FIXTURE / "run" / "config.yaml").read_text())
    assert saved["model"]["_target_"] == "betaae.model.AutoEncoder"
    assert saved["data"]["_target_"] == "betaae.data.CurveDataModule"
    assert current_path("betaae.model.AutoEncoder") == "betaae.models.AutoEncoder"
    assert current_path("betaae.callbacks.LatentImages") == "betaae.learner.callbacks.LatentImages"
    assert current_path("torch.optim.Adam") == "torch.optim.Adam"


def test_a_release_0_3_checkpoint_loads_and_inverts(old_run):
    model = load_model(old_run)
    assert model.latent_dims == 2 and model.family.name == "beta"
    result = invert(model, params=[[2.0, 4.0]])
    assert result.codes.shape == (1, 2) and np.isfinite(result.codes).all()


def test_invert_py_reads_a_release_0_3_run(old_run, tmp_path):
    done = run_subprocess(
        "invert.py", [f"ckpt_path={old_run}", "alpha=2", "beta=4", f"hydra.run.dir={tmp_path / 'inv'}"]
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "inv" / "inversion.json").is_file()


@pytest.mark.slow  # a real resume through train.py: about 10 s
def test_a_release_0_3_run_resumes(old_run):
    done = run_subprocess("train.py", [f"resume={old_run}", "trainer.max_epochs=3"])
    assert done.returncode == 0, done.stderr
    metrics = json.loads((old_run / "metrics.json").read_text())
    assert metrics["epochs"] == 3


@pytest.mark.slow  # a real sweep continue through train.py: about 15 s
def test_a_release_0_3_sweep_continues(tmp_path):
    sweep = shutil.copytree(FIXTURE / "sweep", tmp_path / "sweep")
    kept = (sweep / "latent_dims=1" / "metrics.json").read_bytes()
    record = yaml.safe_load((sweep / "sweep.yaml").read_text())
    args = ["-m", *record["hydra_overrides"], *record["overrides"], f"hydra.sweep.dir={sweep}"]
    args = [a for a in args if a != "hydra.mode=MULTIRUN"]
    done = run_subprocess("train.py", args)
    assert done.returncode == 0, done.stderr
    assert (sweep / "latent_dims=1" / "metrics.json").read_bytes() == kept  # finished before: kept as it was
    assert (sweep / "latent_dims=2" / "metrics.json").is_file()  # not reached before: run now
    rows = (sweep / "summary.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",ok," in row for row in rows[1:])
