"""End-to-end runs of train.py through its real entry point, and what a run leaves behind and shows."""

import csv
import json
import math

import lightning as L
import pytest
import torch
from helpers import TINY, events, quiet_trainer, run_script, run_subprocess

from betaae.learner.datamodule import CurveDataModule
from betaae.learner.module import Learner
from betaae.learner.plugins import LeanPrecision

FIGURES = {
    "sample_curves.png",
    "loss_history.png",
    "latent_histograms.png",
    "reconstructions.png",
    "error_map.png",
    "inversion_score.png",
}
TEST_FIGURES = ("", "_median", "_p90", "_p99", "_max", "_edge")
CHATTER = ("GPU available", "TPU available", "FLOPs", "Restoring states", "💡", "Trainer.fit` stopped", "INFO:")


def read_history(run):
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def test_train_script_leaves_checkpoints_events_figures_history_metrics_and_config(tmp_path):
    result = run_subprocess("train.py", [*TINY, "trainer.max_epochs=3", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file() and (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert list(tmp_path.glob("events.out.tfevents.*"))  # in the run directory: TensorBoard names the run by it
    assert {p.name for p in (tmp_path / "figures").iterdir()} == FIGURES
    assert all((tmp_path / "figures" / name).stat().st_size > 5000 for name in FIGURES)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("train/sse_per_curve", "val/sse_per_curve", "val/sse_per_curve_best"):
        assert 0 < metrics[key] < 1e4
    test = [metrics[f"test/sse_per_curve{suffix}"] for suffix in TEST_FIGURES]
    assert 0 < test[1] <= test[2] <= test[3] <= test[4] and test[1] < test[0] <= test[4], test
    assert metrics["test_set"]["curves"] == 128 and metrics["test_set"]["seed"] == 20261201
    assert "test set:   mean " in result.stdout and "(128 curves, the same for every run)" in result.stdout
    assert metrics["epochs"] == 3 and metrics["global_step"] == 24  # 512 curves / 64 per batch, 3 epochs
    assert {"train_s_to_sse_0.038", "train_s_to_sse_0.002", "train_time_s", "wall_time_s"} <= set(metrics)
    assert [int(r["epoch"]) for r in read_history(tmp_path)] == [0, 1, 2]
    config = (tmp_path / "config.yaml").read_text()
    assert "num_train: 512" in config and "${" not in config  # resolved
    # The console: one line about the model, a progress bar, then a short summary; no framework chatter.
    assert "model:      AutoEncoder, " in result.stdout and "parameters" in result.stdout
    assert "train: 100%" in result.stderr
    assert (
        "SSE per curve, best checkpoint (epoch 3 of 3): train" in result.stdout
        and f"outputs:    {tmp_path}" in result.stdout
    )
    assert "time to val SSE per curve (Beta's marks): 0.038" in result.stdout
    for noise in CHATTER:
        assert noise not in result.stdout + result.stderr, noise
    assert "Warning" not in result.stderr and "warn" not in result.stderr.lower(), result.stderr
    assert not list(tmp_path.rglob("*.tmp"))  # nothing half-written is left behind


def test_every_scalar_and_image_is_plotted_against_the_epoch(tmp_path, capsys):
    code, _, _ = run_script("train.py", [*TINY, "trainer.max_epochs=3", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0
    run = events(tmp_path)
    tags = run.Tags()["scalars"]
    assert "epoch" not in tags and not any(t.startswith("hparams") for t in tags)  # no clutter charts
    stages = ("train", "val", "test", "ranking", "val_inversion", "test_inversion")
    assert all(t.split("/")[0] in stages for t in tags), tags
    for stage in ("train", "val", "test"):  # each stage's SSE per curve also as its log10, point for point
        raw, log10 = run.Scalars(f"{stage}/sse_per_curve"), run.Scalars(f"{stage}/log10_sse_per_curve")
        assert [e.step for e in raw] == [e.step for e in log10]
        assert [math.log10(e.value) for e in raw] == pytest.approx([e.value for e in log10], rel=1e-6)
    for tag in tags:
        steps = [e.step for e in run.Scalars(tag)]
        at_end = tag.startswith(("test/", "ranking/", "val_inversion/", "test_inversion/"))  # scored once, at the end
        assert steps == ([2] if at_end else [0, 1, 2]), (tag, steps)
    assert [e.step for e in run.Images("val/reconstructions")] == [0, 1, 2]
    assert set(run.Tags()["images"]) == {
        "val/reconstructions",
        "val/latent_by_alpha",
        "val/latent_by_beta",
        "test/error_map",
        "test/inversion_score",
    }
    assert {f"test/sse_per_curve{suffix}" for suffix in TEST_FIGURES} <= set(tags)
    # history.csv holds what TensorBoard shows, epoch by epoch, to the last epoch.
    history = read_history(tmp_path)
    for row, point in zip(history, run.Scalars("val/sse_per_curve"), strict=True):
        assert float(row["val_sse_per_curve"]) == pytest.approx(point.value, rel=1e-6)
    for row, point in zip(history, run.Scalars("train/lr"), strict=True):
        assert float(row["lr"]) == pytest.approx(point.value, rel=1e-6)
    best = run.Scalars("val/sse_per_curve_best")
    assert [p.value for p in best] == pytest.approx(
        [min(float(r["val_sse_per_curve"]) for r in history[: i + 1]) for i in range(3)]
    )


def test_history_and_loss_plot_reach_the_last_epoch_when_the_best_was_earlier(tmp_path, capsys):
    # A learning rate this high makes val/loss jump around, so the best epoch is rarely the last.
    args = [
        *TINY,
        "optimizer.lr=0.05",
        "trainer.max_epochs=6",
        "callbacks.latent_images.every_n_epochs=0",
        f"hydra.run.dir={tmp_path}",
    ]
    code, _, _ = run_script("train.py", args, capsys)
    assert code == 0
    history = read_history(tmp_path)
    assert [int(r["epoch"]) for r in history] == list(range(6))
    best = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)
    vals = [float(r["val_sse_per_curve"]) for r in history]
    assert best["epoch"] == vals.index(min(vals))
    assert "optimizer_states" not in best  # best.ckpt is for loading, last.ckpt for resuming
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 5 and len(last["callbacks"]["History"]["rows"]) == 6


def test_the_vae_logs_its_sse_and_kl_separately_and_its_checkpoint_rebuilds_it(tmp_path, capsys):
    code, out, _ = run_script("train.py", [*TINY, "model=vae", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0 and "model:      VAE" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["val/kl_per_curve"] > 0 and metrics["val/sse_per_curve"] > 0
    tags = events(tmp_path).Tags()["scalars"]
    assert {"train/sse_per_curve", "train/kl_per_curve", "val/sse_per_curve", "val/kl_per_curve"} <= set(tags)
    model = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)["hyper_parameters"]["model"]
    assert model["_target_"] == "betaae.models.VAE" and model["beta"] == 1e-3


def test_activation_and_depth_are_stored_in_the_checkpoint(tmp_path, capsys):
    args = [*TINY, "model.activation=tanh", "model.hidden=[16,8]", "latent_dims=3", f"hydra.run.dir={tmp_path}"]
    code, _, _ = run_script("train.py", args, capsys)
    assert code == 0
    model = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)["hyper_parameters"]["model"]
    assert model["activation"] == "tanh" and model["hidden"] == [16, 8] and model["latent_dims"] == 3


def test_early_stopping_can_be_added_and_stops_the_run(tmp_path, capsys):
    args = [
        *TINY,
        "trainer.max_epochs=20",
        "callbacks=[default,early_stopping]",
        "callbacks.early_stopping.patience=1",
        "callbacks.early_stopping.min_delta=1e9",
        f"hydra.run.dir={tmp_path}",
    ]
    code, _, _ = run_script("train.py", args, capsys)
    assert code == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"] == 2


def test_csv_logger_writes_every_scalar_per_epoch(tmp_path, capsys):
    code, _, _ = run_script("train.py", [*TINY, "logger=csv", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0
    with open(tmp_path / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["step"] for r in rows if r.get("val/sse_per_curve")} == {"0", "1"}
    assert not list(tmp_path.glob("events.out.tfevents.*"))


def test_debug_fdr_runs_a_single_batch_of_each_stage_under_its_own_task_name(tmp_path, capsys):
    tiny = [arg for arg in TINY if not arg.startswith("inversion_score")]  # the preset turns the score off
    code, out, err = run_script("train.py", [*tiny, "debug=fdr", f"paths.log_dir={tmp_path}"], capsys)
    assert code == 0, err
    (run,) = (tmp_path / "debug" / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] == 1 and metrics["epochs"] == 1
    assert "inversion:" not in out and not any(k.startswith("test_inversion/") for k in metrics)
    assert not (tmp_path / "train").exists()


def fit_weights(plugins):
    dm = CurveDataModule(num_train=256, num_val=64, num_test=64, batch_size=32, batches_per_step=4)
    L.seed_everything(0, verbose=False)
    learner = Learner(model={"_target_": "betaae.models.AutoEncoder", "hidden": [16]}, data=dm.spec)
    trainer = quiet_trainer(max_epochs=2, plugins=plugins)
    trainer.fit(learner, datamodule=dm)
    return learner.state_dict(), trainer.global_step


def test_the_lean_loop_trains_exactly_as_lightnings_own_precision_plugin_does():
    lean, lean_steps = fit_weights([LeanPrecision()])
    plain, plain_steps = fit_weights([])
    assert lean_steps == plain_steps == 16  # each minibatch counts as an optimizer step
    for key, value in plain.items():
        assert torch.equal(value, lean[key]), key


class CountingCallback(L.Callback):
    def __init__(self):
        self.calls = {"on_before_backward": 0, "on_train_batch_end": 0}

    def on_before_backward(self, trainer, pl_module, loss):
        self.calls["on_before_backward"] += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.calls["on_train_batch_end"] += 1


def test_no_callback_runs_per_minibatch_in_the_lean_loop():
    counter = CountingCallback()
    dm = CurveDataModule(num_train=256, num_val=64, num_test=64, batch_size=32, batches_per_step=4)
    learner = Learner(model={"_target_": "betaae.models.AutoEncoder", "hidden": [16]}, data=dm.spec)
    quiet_trainer(max_epochs=1, callbacks=[counter], plugins=[LeanPrecision()]).fit(learner, datamodule=dm)
    assert counter.calls == {"on_before_backward": 0, "on_train_batch_end": 2}  # 8 minibatches in 2 groups


def test_usage_line_with_latent_dims_runs_on_the_cpu(tmp_path, capsys):
    code, _, _ = run_script("train.py", [*TINY, "latent_dims=3", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0
    checkpoint = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["model"]["latent_dims"] == 3


def test_the_progress_bar_moves_within_a_long_epoch_by_the_share_done(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("betaae.learner.callbacks.REFRESH_S", 0.0)  # every epoch counts as long
    args = [*TINY, "data.batches_per_step=1", "logger=none", f"hydra.run.dir={tmp_path}"]  # 8 steps an epoch
    code, _, err = run_script("train.py", args, capsys)
    assert code == 0, err
    shown = [
        line.split("|")[2].split()[0] for line in err.replace("\r", "\n").splitlines() if line.startswith("train:")
    ]
    assert {"0.12/2", "0.5/2", "1.5/2", "2/2"} <= set(shown), shown
    assert "0.99/2" not in shown and "1.99/2" not in shown  # the last step of an epoch shows the epoch whole
