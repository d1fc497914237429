"""Beyond one process and one family: DDP on CPU, chunked large builds, online data, every family end to end."""

import json
import math

import pytest
import torch
from conftest import TINY, compose_config, run_script, run_subprocess

from betaae.checkpoints import load_model
from betaae.data import CurveDataModule
from betaae.families import FAMILIES
from betaae.train_run import run_training

SAME_DATA = [
    "data.num_train=2000",
    "data.num_val=500",
    "data.num_test=500",
    "trainer.max_epochs=8",
    "model.lr=2e-3",  # a calm rate: at 5e-3 and 32 curves a step, runs can spike and compare by luck
    "callbacks.latent_images.every_n_epochs=0",
    "trainer.accelerator=cpu",
]


def test_ddp_on_two_cpu_processes_reaches_the_quality_of_one_process_in_one_directory(tmp_path):
    # Same effective batch: 64 curves a step, as 64 on one process or 32 on each of two.
    single = run_subprocess("train.py", [*SAME_DATA, "data.batch_size=64", f"hydra.run.dir={tmp_path / 'one'}"])
    ddp = run_subprocess("train.py", [*SAME_DATA, "trainer=ddp_cpu", "data.batch_size=32",
                                      f"hydra.run.dir={tmp_path / 'ddp'}"])  # fmt: skip
    assert single.returncode == 0 and ddp.returncode == 0, ddp.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert two["global_step"] == one["global_step"] == 8 * math.ceil(2000 / 64)
    print("test SSE per curve, one process:", one["test/sse_per_curve"], "two:", two["test/sse_per_curve"])
    assert two["test/sse_per_curve"] < 1.5 * one["test/sse_per_curve"]
    # One output directory, written by rank 0 alone: no per-rank copies of the run.
    assert {p.name for p in tmp_path.iterdir()} == {"one", "ddp"}
    assert len(list((tmp_path / "ddp" / "figures").iterdir())) == 4


def test_chunked_build_gives_the_same_curves_as_one_chunk():
    whole = CurveDataModule(num_train=5000, chunk_size=1_000_000).build_split("train", 5000)
    chunked = CurveDataModule(num_train=5000, chunk_size=700).build_split("train", 5000)
    assert torch.equal(whole[0], chunked[0])


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


@pytest.mark.parametrize("family", sorted(set(FAMILIES) - {"beta"}))
def test_every_family_trains_and_inverts_with_its_best_matching_parameters(family, tmp_path, capsys):
    run = tmp_path / "run"
    cfg = compose_config("train", [f"data={family}", *TINY, "trainer.max_epochs=3", "logger=none"], run)
    run_training(cfg)
    assert load_model(run).hparams.data["family"] == family
    low, high = (sum(FAMILIES[family].default_params[n]) / 2 for n in FAMILIES[family].param_names)
    out = tmp_path / "inv"
    code, stdout, _ = run_script("invert.py", [f"ckpt_path={run}", f"params=[{low},{high}]", f"hydra.run.dir={out}"],
                                 capsys)  # fmt: skip
    assert code == 0
    summary = json.loads((out / "inversion.json").read_text())
    assert summary["family"] == family
    names = FAMILIES[family].param_names
    assert all(f"fit_{n}" in summary for n in names) and f"best-matching {names[0]}=" in stdout
