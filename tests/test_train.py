"""End-to-end runs of train.py through its real entry point, and what a run leaves behind."""

import json

import torch
from conftest import TINY, run_script, run_subprocess

FIGURES = {"sample_curves.png", "loss_history.png", "latent_histograms.png", "reconstructions.png"}


def test_train_script_leaves_checkpoints_logs_figures_metrics_and_config(tmp_path):
    result = run_subprocess("train.py", [*TINY, f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert {p.name for p in (tmp_path / "figures").iterdir()} == FIGURES
    assert all((tmp_path / "figures" / name).stat().st_size > 5000 for name in FIGURES)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("train/sse_per_curve", "val/sse_per_curve", "test/sse_per_curve", "val/sse_per_curve_best"):
        assert 0 < metrics[key] < 1e4
    assert metrics["epochs"] == 2 and metrics["global_step"] == 16  # 512 curves / 64 per batch, 2 epochs
    config = (tmp_path / "config.yaml").read_text()
    assert "num_train: 512" in config and "${" not in config  # resolved
    # The console: a progress bar, then a short summary with the figures and where the files are.
    assert "train: 100%" in result.stderr
    assert "SSE per curve: train" in result.stdout and f"outputs:    {tmp_path}" in result.stdout
    # Nothing half-written is left behind.
    assert not list(tmp_path.rglob("*.tmp"))


def test_best_checkpoint_is_the_lowest_val_loss_and_loads_on_its_own(tmp_path, capsys):
    code, _, _ = run_script("train.py", [*TINY, "trainer.max_epochs=4", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0
    best = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 3
    callback = next(v for k, v in best["callbacks"].items() if k.startswith("ModelCheckpoint"))
    assert best["hyper_parameters"]["latent_dims"] == 2
    assert float(callback["best_model_score"]) <= float(callback["current_score"]) + 1e-6


def test_last_checkpoint_follows_every_epoch_even_when_val_gets_worse(tmp_path, capsys):
    # A learning rate this high makes val/loss jump around, so best.ckpt stops following the run.
    args = [*TINY, "model.lr=0.2", "trainer.max_epochs=4", f"hydra.run.dir={tmp_path}"]
    code, _, _ = run_script("train.py", args, capsys)
    assert code in (0, 2)  # 2: the guard may stop a run whose loss blew up; last.ckpt still follows the epochs
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    history = last["callbacks"]["History"]["rows"]
    assert last["epoch"] == history[-1]["epoch"] and len(history) == last["epoch"] + 1


def test_debug_fdr_runs_a_single_batch_of_each_stage(tmp_path, capsys):
    code, _, _ = run_script("train.py", [*TINY, "debug=fdr", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["global_step"] == 1 and metrics["epochs"] == 1


def test_usage_line_with_latent_dims_runs_on_the_cpu(tmp_path, capsys):
    code, _, _ = run_script("train.py", [*TINY, "latent_dims=3", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0
    checkpoint = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["latent_dims"] == 3
