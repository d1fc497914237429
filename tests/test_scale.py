"""Beyond one process, one family and one model: DDP on CPU, online data, every family and the VAE
trained, resumed and inverted through the real entry points."""

import csv
import json
import math

import pytest
import torch
from helpers import TINY, run_script, run_subprocess

from betaae.families import FAMILIES, get_family
from betaae.learner.datamodule import CurveDataModule
from betaae.models.base import mean_terms
from betaae.models.checkpoints import rebuild

SAME_DATA = [
    "data.online=false",  # the same stored curves for both, split between the ranks
    "data.num_train=2000",
    "data.num_val=500",
    "data.num_test=500",
    "trainer.max_epochs=8",
    "model.hidden=[128]",
    "optimizer.lr=2e-3",  # a calm rate: at 5e-3 and 32 curves a step, runs can spike and compare by luck
    "callbacks.latent_images.every_n_epochs=0",
    "trainer.accelerator=cpu",
]


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_reaches_the_quality_of_one_process_in_one_directory(tmp_path):
    # Same effective batch: 64 curves a step, as 64 on one process or 32 on each of two.
    single = run_subprocess("train.py", [*SAME_DATA, "data.batch_size=64", f"hydra.run.dir={tmp_path / 'one'}"])
    ddp = run_subprocess(
        "train.py", [*SAME_DATA, "trainer=ddp_cpu", "data.batch_size=32", f"hydra.run.dir={tmp_path / 'ddp'}"]
    )
    assert single.returncode == 0 and ddp.returncode == 0, ddp.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert two["global_step"] == one["global_step"] == 8 * math.ceil(2000 / 64)
    assert two["test/sse_per_curve"] < 1.5 * one["test/sse_per_curve"]
    assert {p.name for p in tmp_path.iterdir()} == {"one", "ddp"}  # one output directory, written by rank 0
    assert len(list((tmp_path / "ddp" / "figures").iterdir())) == 6
    assert "2 processes" in ddp.stdout


@pytest.mark.slow
def test_ddp_train_metric_is_the_mean_over_every_rank_as_recomputed(tmp_path):
    # A learning rate this small leaves the weights as they started, so the epoch's train SSE per curve
    # must equal the start checkpoint's SSE per curve over the whole training set, not world_size times it.
    run = tmp_path / "ddp"
    args = [
        *TINY,
        "trainer=ddp_cpu",
        "trainer.max_epochs=1",
        "optimizer.lr=1e-12",
        "data.online=false",
        "data.num_train=512",
        "callbacks.latent_images.every_n_epochs=0",
        f"hydra.run.dir={run}",
    ]
    # last.ckpt is first written before the first step: keep that copy to recompute from.
    result = run_subprocess("train.py", [*args, "~callbacks.last_checkpoint"])
    assert result.returncode == 0, result.stderr[-3000:]
    start = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert start["global_step"] == 0
    loaded = rebuild(run / "checkpoints" / "last.ckpt")
    dm = CurveDataModule(num_train=512, num_val=128, num_test=128, online=False)
    dm.setup()
    expected = mean_terms(loaded.model, dm.splits["train"][0])["sse"]
    with open(run / "history.csv") as f:
        logged = float(next(csv.DictReader(f))["train_sse_per_curve"])
    assert logged == pytest.approx(expected, rel=1e-3)


def test_online_data_draws_fresh_batches_with_fixed_val_and_test(tmp_path, capsys):
    args = [*TINY, "data.online=true", "data.steps_per_epoch=5", "trainer.max_epochs=3", f"hydra.run.dir={tmp_path}"]
    code, _, _ = run_script("train.py", args, capsys)
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["global_step"] == 15 and metrics["train/sse_per_curve"] > 0
    dm = CurveDataModule(num_train=10**9, num_val=50, num_test=50, online=True)
    dm.setup()
    assert "train" not in dm.splits  # no training tensor is ever built, so memory stays flat
    first, second = next(iter(dm.train_dataloader()))[:2]  # the first two minibatches of the first group
    assert not torch.equal(first[0], second[0])
    assert torch.equal(dm.splits["val"][0], CurveDataModule(num_val=50, num_test=50).build_split("val", 50)[0])


def middle(family):
    return ",".join(f"{(lo + hi) / 2:g}" for lo, hi in get_family(family).default_ranges().values())


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "beta"])
def test_every_family_trains_and_inverts_with_its_best_matching_parameters(family, tmp_path, capsys):
    run = tmp_path / "run"
    args = [f"data={family}", *TINY, "trainer.max_epochs=3", "logger=none", f"hydra.run.dir={run}"]
    code, _, err = run_script("train.py", args, capsys)
    assert code == 0, err
    assert rebuild(run).family.name == family
    out = tmp_path / "inv"
    code, stdout, err = run_script(
        "invert.py", [f"ckpt_path={run}", f"params=[{middle(family)}]", f"hydra.run.dir={out}"], capsys
    )
    assert code == 0, err
    summary = json.loads((out / "inversion.json").read_text())
    assert summary["family"] == family
    names = get_family(family).param_names
    assert all(f"fit_{n}" in summary for n in names) and "best-matching parameters:" in stdout
    # Three tiny epochs make a poor model: whatever the verdicts, each is given, in words.
    assert summary["verdict"] and summary["fit_verdict"]


@pytest.mark.parametrize("model", ["vae", "student_t"])
def test_the_vae_and_the_three_parameter_family_train_resume_and_invert(model, tmp_path, capsys):
    run = tmp_path / "run"
    choice = "model=vae" if model == "vae" else "data=student_t"
    code, _, err = run_script("train.py", [choice, *TINY, "logger=none", f"hydra.run.dir={run}"], capsys)
    assert code == 0, err
    code, _, err = run_script("train.py", [f"resume={run}", "trainer.max_epochs=3"], capsys)
    assert code == 0, err
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 3
    target = "alpha=2 beta=3" if model == "vae" else "params=[4,0.5,1]"
    code, out, err = run_script(
        "invert.py", [f"ckpt_path={run}", *target.split(), f"hydra.run.dir={tmp_path / 'inv'}"], capsys
    )
    assert code == 0, err
    assert "latent code:" in out
