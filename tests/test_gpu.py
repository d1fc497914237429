"""The GPU path, on a real GPU: training, resume, inversion across devices, online data on the device,
DDP on one GPU, the benchmark, and data that stays on the device. Skipped where CUDA is absent;
`make gpu-check` runs these and the GPU benchmark."""

import json
import subprocess
import sys

import pytest
import torch
from helpers import ROOT, TINY, interrupt, quiet_trainer, run_subprocess

from betaae.learner.datamodule import CurveDataModule
from betaae.learner.module import Learner
from betaae.learner.plugins import LeanPrecision
from betaae.models.checkpoints import rebuild

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (make gpu-check on a GPU machine)"),
]
ON_GPU = [arg for arg in TINY if not arg.startswith("trainer.accelerator")] + ["trainer.accelerator=gpu"]


def test_train_py_trains_on_the_gpu(tmp_path):
    result = run_subprocess("train.py", [*ON_GPU, "trainer.max_epochs=3", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["device"].startswith("cuda") and metrics["epochs"] == 3
    assert "on cuda" in result.stdout


def test_an_interrupted_gpu_run_resumes_on_the_gpu(tmp_path):
    args = [
        *ON_GPU,
        "data.num_train=4000",
        "data.batch_size=8",
        "trainer.max_epochs=4",
        "callbacks.latent_images.every_n_epochs=0",
        f"hydra.run.dir={tmp_path}",
    ]
    stopped = interrupt(args, tmp_path, after_epochs=1)
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    resumed = run_subprocess("train.py", [f"resume={tmp_path}"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"] == 4


def test_a_gpu_checkpoint_inverts_on_the_cpu_and_a_cpu_run_resumes_on_the_gpu(tmp_path):
    gpu_run, cpu_run = tmp_path / "gpu", tmp_path / "cpu"
    assert run_subprocess("train.py", [*ON_GPU, f"hydra.run.dir={gpu_run}"]).returncode == 0
    inverted = run_subprocess(
        "invert.py",
        [f"ckpt_path={gpu_run}", "alpha=2", "beta=4", f"hydra.run.dir={tmp_path / 'i'}"],
        env={"CUDA_VISIBLE_DEVICES": ""},
    )
    assert inverted.returncode == 0, inverted.stderr[-2000:]
    assert run_subprocess("train.py", [*TINY, f"hydra.run.dir={cpu_run}"]).returncode == 0
    resumed = run_subprocess("train.py", [f"resume={cpu_run}", "trainer.max_epochs=3", "trainer.accelerator=gpu"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert rebuild(cpu_run).model.latent_dims == 2


def test_online_data_is_drawn_on_the_gpu(tmp_path):
    result = run_subprocess(
        "train.py", [*ON_GPU, "data.online=true", "data.steps_per_epoch=5", f"hydra.run.dir={tmp_path}"]
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dm = CurveDataModule(num_val=50, num_test=50, online=True)
    dm.setup()
    dm.grid = dm.grid.cuda()
    curves, params = next(iter(dm.train_dataloader()))[0]
    assert curves.is_cuda and params.is_cuda


def test_ddp_on_one_gpu(tmp_path):
    result = run_subprocess("train.py", [*ON_GPU, "trainer=ddp", "trainer.devices=1", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_data_stays_on_the_gpu_with_no_host_copy_per_step():
    dm = CurveDataModule(num_train=4096, num_val=256, num_test=256, batch_size=64, batches_per_step=8)
    learner = Learner(model={"_target_": "betaae.models.AutoEncoder", "hidden": [64]}, data=dm.spec)
    trainer = quiet_trainer("gpu", devices=1, max_epochs=2, plugins=[LeanPrecision()])
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as profile:
        trainer.fit(learner, datamodule=dm)
    assert all(t.is_cuda for split in dm.splits.values() for t in split)
    copies = [e for e in profile.events() if "Memcpy HtoD" in e.name]
    steps = trainer.global_step
    assert steps == 2 * 4096 // 64
    assert len(copies) < steps / 4, f"{len(copies)} host-to-device copies for {steps} steps"


def test_the_benchmark_runs_on_the_gpu(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench.py"),
            "--device",
            "gpu",
            "--quick",
            "--out",
            str(tmp_path / "bench.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert {row["batch_size"] for row in bench["steps"]} == {128, 1024, 16384}


def test_a_compiled_gpu_run_replays_cuda_graphs_and_trains_as_eager_does(tmp_path):
    results = {}
    for setting in ("false", "true"):
        out = tmp_path / setting
        done = run_subprocess(
            "train.py", [*ON_GPU, "trainer.max_epochs=3", f"compile={setting}", f"hydra.run.dir={out}"]
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results[setting] = (done.stdout, json.loads((out / "metrics.json").read_text()))
    stdout, compiled = results["true"]
    assert "training step compiled (compile=true)" in stdout and compiled["compile_s"] > 0
    eager = results["false"][1]
    assert compiled["test/sse_per_curve"] == pytest.approx(eager["test/sse_per_curve"], rel=1e-2)
