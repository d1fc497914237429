"""Nothing lost, nothing half-written: non-finite losses, interruption and resume, atomic files."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, TINY, error_lines, run_script, run_subprocess
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from betaae.checkpoints import AtomicCheckpointIO
from betaae.outputs import atomic_write_bytes

# Slow enough per epoch (250 steps) that a signal lands mid-training, small enough to finish in seconds.
RESUMABLE = [
    *TINY,
    "data.num_train=2000",
    "data.batch_size=8",
    "model.lr=1e-3",
    "trainer.max_epochs=5",
    "callbacks.latent_images.every_n_epochs=0",
]


def test_non_finite_loss_stops_with_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    code, _, err = run_script(
        "train.py", [*TINY, "model.lr=1e12", "trainer.max_epochs=3", f"hydra.run.dir={tmp_path}"], capsys
    )
    assert code == 2
    (line,) = error_lines(err)
    assert "the loss became non-finite at epoch 0, step" in line and "last good checkpoint" in line
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())
    assert not (tmp_path / "checkpoints" / "best.ckpt").exists()
    assert not (tmp_path / "metrics.json").exists()


def final_state(run_dir):
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    return checkpoint["state_dict"], json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_and_resumed_run_ends_like_an_uninterrupted_one(tmp_path, signum, exit_code):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert run_subprocess("train.py", [*RESUMABLE, f"hydra.run.dir={whole}"]).returncode == 0

    process = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *RESUMABLE, f"hydra.run.dir={parts}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not (parts / "checkpoints" / "best.ckpt").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == exit_code, stderr[-2000:]
    (line,) = error_lines(stderr)
    assert "training interrupted" in line and f"resume with: python train.py resume={parts}" in line
    assert torch.load(parts / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] < 4

    resumed = run_subprocess("train.py", [f"resume={parts}"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole_weights, whole_metrics = final_state(whole)
    parts_weights, parts_metrics = final_state(parts)
    for key, value in whole_weights.items():
        assert torch.equal(value, parts_weights[key]), key
    for key in ("train/sse_per_curve", "val/sse_per_curve", "test/sse_per_curve", "global_step", "epochs"):
        assert parts_metrics[key] == whole_metrics[key], key
    # The TensorBoard curves carry on in the same directory: one val point per epoch, none missing.
    events = EventAccumulator(str(parts / "tensorboard"), size_guidance={"scalars": 0}).Reload()
    assert sorted({e.step for e in events.Scalars("val/sse_per_curve")}) == sorted(
        {e.step for e in EventAccumulator(str(whole / "tensorboard")).Reload().Scalars("val/sse_per_curve")}
    )


def test_resume_from_a_truncated_checkpoint_gets_one_line(tmp_path, capsys):
    code, _, _ = run_script("train.py", [*TINY, f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    code, _, err = run_script("train.py", [f"resume={tmp_path}"], capsys)
    assert code == 2
    (line,) = error_lines(err)
    assert "cannot be read as a checkpoint (truncated or corrupt?)" in line


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", broken_fsync)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


KILLED_WRITER = """
import sys, torch
from betaae.checkpoints import AtomicCheckpointIO
io = AtomicCheckpointIO()
for i in range(10_000):
    io.save_checkpoint({"i": i, "w": torch.full((4_000_000,), float(i))}, sys.argv[1])
    print(i, flush=True)
"""


def test_a_checkpoint_killed_mid_write_is_never_half_written(tmp_path):
    target = tmp_path / "last.ckpt"
    process = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    process.stdout.readline()  # at least one whole checkpoint exists
    process.stdout.readline()
    time.sleep(0.15)
    process.kill()
    process.wait()
    checkpoint = torch.load(target, weights_only=True)
    assert torch.equal(checkpoint["w"], torch.full((4_000_000,), float(checkpoint["i"])))


def test_checkpoint_io_writes_loadable_files(tmp_path):
    AtomicCheckpointIO().save_checkpoint({"a": torch.ones(3)}, tmp_path / "x.ckpt")
    assert torch.equal(torch.load(tmp_path / "x.ckpt", weights_only=True)["a"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["x.ckpt"]
