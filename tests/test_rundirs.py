"""Nothing a run writes is lost, mixed or corrupted: unique directories, relocatable and checked resumes,
finished runs, full disks, umask, memory, non-finite losses, interruption, atomic files."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import ROOT, TINY, error_lines, events, interrupt, run_script, run_subprocess, tree

from betaae.core.commands import tool
from betaae.core.files import atomic_write_bytes
from betaae.learner.plugins import AtomicCheckpointIO

QUIET = [*TINY, "callbacks.latent_images.every_n_epochs=0"]


@pytest.mark.slow
def test_four_runs_and_two_sweeps_started_together_leave_directories_of_their_own(tmp_path):
    commands = [[*QUIET, f"seed={seed}"] for seed in range(4)] + [["-m", *QUIET, f"seed={seed}"] for seed in (7, 8)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), *args, f"paths.log_dir={tmp_path}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-2000:]
    sweeps = sorted((tmp_path / "train" / "multiruns").iterdir())
    assert len(sweeps) == 2
    assert {(sweep / "job0" / "config.yaml").read_text().split("seed: ")[1].split()[0] for sweep in sweeps} == {
        "7",
        "8",
    }
    runs = sorted((tmp_path / "train" / "runs").iterdir())
    assert len(runs) == 4
    seeds = set()
    for run in runs:
        config = (run / "config.yaml").read_text()
        seed = int(next(line for line in config.splitlines() if line.startswith("seed:")).split(":")[1])
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["best_checkpoint"] == str(run / "checkpoints" / "best.ckpt")
        assert len(list(run.glob("events.out.tfevents.*"))) >= 1
        assert len(events(run).Scalars("val/sse_per_curve")) == 2  # one run's events, not two runs' interleaved
        seeds.add(seed)
    assert seeds == {0, 1, 2, 3}


@pytest.mark.slow  # two subprocess runs: about 25 s
def test_a_moved_run_resumes_only_under_its_new_location(finished_run, tmp_path):
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    finished_run.rename(moved)
    result = run_subprocess("train.py", [f"resume={moved}", "trainer.max_epochs=3"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert not finished_run.exists()  # the old place is not recreated
    metrics = json.loads((moved / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["best_checkpoint"].startswith(str(moved))
    assert torch.load(moved / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2
    assert str(finished_run) not in (moved / "resumes").glob("*/config.yaml").__next__().read_text()


def test_a_resume_that_cannot_work_is_refused_before_anything_is_written(finished_run, capsys):
    before = tree(finished_run)
    code, _, err = run_script("train.py", [f"resume={finished_run}", "model.hidden=[64]"], capsys)
    assert code == 2
    (line,) = error_lines(err)
    assert "model.hidden=[64] cannot change on resume" in line and "trainer.max_epochs" in line
    assert tree(finished_run) == before
    code, _, err = run_script("train.py", [f"resume={finished_run}", "trainer.max_epochs=3"], capsys)
    assert code == 0, err  # a plain resume still works afterwards


def test_resuming_a_finished_run_says_so_and_changes_nothing(finished_run, capsys):
    before = tree(finished_run)
    code, out, err = run_script("train.py", [f"resume={finished_run}"], capsys)
    assert code == 0 and "is complete (2 of 2 epochs) and was left as it is" in out, err
    assert tree(finished_run) == before


def test_a_resume_keeps_the_runs_record_and_records_itself(finished_run, capsys):
    config = (finished_run / "config.yaml").read_bytes()
    overrides = (finished_run / ".hydra" / "overrides.yaml").read_bytes()
    first = json.loads((finished_run / "metrics.json").read_text())
    code, _, err = run_script("train.py", [f"resume={finished_run}", "trainer.max_epochs=4"], capsys)
    assert code == 0, err
    assert (finished_run / "config.yaml").read_bytes() == config
    assert (finished_run / ".hydra" / "overrides.yaml").read_bytes() == overrides
    (record,) = (finished_run / "resumes").iterdir()
    assert (record / "overrides.yaml").read_text().strip() == "- trainer.max_epochs=4"
    metrics = json.loads((finished_run / "metrics.json").read_text())
    assert metrics["epochs"] == 4 and metrics["train_time_s"] > first["train_time_s"]  # training time in all


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run: (run / "config.yaml").write_text("model: [unclosed\n"), "config.yaml is not valid YAML text"),
        (lambda run: (run / "config.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff"), "config.yaml is not valid YAML"),
        (lambda run: (run / "config.yaml").write_text("- a list\n"), "does not hold a betaae training config"),
        (lambda run: (run / "checkpoints" / "last.ckpt").write_bytes(b"truncated"), "cannot be read as a checkpoint"),
        (lambda run: (run / "checkpoints" / "last.ckpt").unlink(), "the run has no checkpoints/last.ckpt"),
    ],
    ids=["bad-yaml", "binary-config", "not-a-config", "truncated-checkpoint", "no-checkpoint"],
)
def test_a_damaged_run_gets_one_line_on_resume(finished_run, damage, message, capsys):
    damage(finished_run)
    before = tree(finished_run)
    code, _, err = run_script("train.py", [f"resume={finished_run}", "trainer.max_epochs=3"], capsys)
    assert code == 2, err
    (line,) = error_lines(err)
    assert message in line and "Traceback" not in err
    assert tree(finished_run) == before


def test_an_architecture_that_no_longer_matches_its_checkpoint_is_refused(finished_run, capsys):
    config = finished_run / "config.yaml"
    config.write_text(config.read_text().replace("- 32", "- 48"))  # hidden [32] -> [48], edited by hand
    code, _, err = run_script("train.py", [f"resume={finished_run}", "trainer.max_epochs=3"], capsys)
    assert code == 2 and "does not match" in error_lines(err)[0], err


def test_resuming_a_missing_directory_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "run"
    code, _, err = run_script("train.py", [f"resume={missing}"], capsys)
    assert code == 2 and f"resume={missing}: no such run directory" in error_lines(err)[0]
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("where", ["under-a-file", "in-proc"])
def test_an_impossible_log_dir_gets_one_line(where, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    log_dir = tmp_path / "file" / "sub" if where == "under-a-file" else Path("/proc/betaae")
    code, _, err = run_script("train.py", [*QUIET, f"paths.log_dir={log_dir}"], capsys)
    assert code == 2, err
    (line,) = error_lines(err)
    assert "cannot create the run directory" in line and "Traceback" not in err


@pytest.mark.parametrize(
    ("script", "args", "option"),
    [
        ("train.py", [*QUIET, "hydra.run.dir={bad}"], "hydra.run.dir"),
        ("train.py", ["-m", *QUIET, "seed=1,2", "hydra.sweep.dir={bad}"], "hydra.sweep.dir"),
        ("invert.py", ["ckpt_path={ckpt}", "alpha=2", "beta=3", "hydra.run.dir={bad}"], "hydra.run.dir"),
    ],
)
def test_a_directory_given_to_hydra_that_cannot_be_made_gets_one_line(script, args, option, tmp_path):
    # Hydra makes these directories itself, before any task runs; under a file stands for any refusal (as
    # root, a read-only directory is still writable).
    (tmp_path / "file").write_text("x")
    bad = tmp_path / "file" / "x"
    ckpt = ROOT / "tests" / "fixtures" / "release-0.3" / "run"
    result = run_subprocess(script, [a.format(bad=bad, ckpt=ckpt) for a in args])
    assert result.returncode == 2, result.stderr[-2000:]
    assert error_lines(result.stderr) == [
        f"error: {option}: cannot create {bad}: Not a directory; choose a writable place with {option}=... or "
        "paths.log_dir=..."
    ]
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr


def test_splits_too_big_for_memory_are_refused_with_the_way_out(tmp_path, capsys):
    overrides = [*QUIET, "data.online=false", "data.num_train=1000000000", f"hydra.run.dir={tmp_path}"]
    code, _, err = run_script("train.py", overrides, capsys)
    assert code == 2 and not any(tmp_path.iterdir())
    (line,) = error_lines(err)
    assert "GiB of memory" in line and "data.online=true" in line and "smaller data.num_train" in line


@pytest.mark.parametrize(
    ("umask", "mode"),
    [
        pytest.param(0o077, 0o600, marks=pytest.mark.slow),  # each a subprocess run: about 10 s
        pytest.param(0o022, 0o644, marks=pytest.mark.slow),
        pytest.param(0o002, 0o664, marks=pytest.mark.slow),
    ],
)
def test_result_files_follow_the_umask(umask, mode, tmp_path):
    code = (
        f"import os; os.umask({umask}); import runpy, sys; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "train.py"), *QUIET, f"hydra.run.dir={run}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in (
        "metrics.json",
        "config.yaml",
        "history.csv",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "figures/loss_history.png",
    ):
        assert (run / name).stat().st_mode & 0o777 == mode, name


def test_a_full_disk_ends_the_run_with_one_line_and_the_last_checkpoint_still_loads(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("this machine does not allow mounting a small tmpfs")
    try:
        run = disk / "run"
        args = [*TINY, "trainer.max_epochs=50", "callbacks.latent_images.every_n_epochs=1", f"hydra.run.dir={run}"]
        result = run_subprocess("train.py", args)
        assert result.returncode == 2, result.stderr[-3000:]
        lines = error_lines(result.stderr)
        assert len(lines) == 1 and "the disk is full" in lines[0], result.stderr[-3000:]
        assert "Traceback" not in result.stderr
        last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
        assert all(torch.isfinite(v).all() for v in last["state_dict"].values())
        assert not list(run.rglob(".*.tmp"))  # no half-written file is left behind
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_non_finite_loss_stops_with_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    code, _, err = run_script(
        "train.py", [*QUIET, "optimizer.lr=1e12", "trainer.max_epochs=3", f"hydra.run.dir={tmp_path}"], capsys
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


# Slow enough per epoch (250 steps) that a signal lands mid-training, small enough to finish in seconds.
# Long enough (about 4 s) that the signal, sent once the first epoch is done, lands during training.
RESUMABLE = [*QUIET, "data.num_train=2000", "data.batch_size=8", "optimizer.lr=1e-3", "trainer.max_epochs=12"]


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 143)])
def test_interrupted_and_resumed_run_ends_like_an_uninterrupted_one(tmp_path, signum, exit_code):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert run_subprocess("train.py", [*RESUMABLE, f"hydra.run.dir={whole}"]).returncode == 0
    stopped = interrupt([*RESUMABLE, f"hydra.run.dir={parts}"], parts, after_epochs=1, signum=signum)
    stderr = stopped.stderr
    assert stopped.returncode == exit_code, stderr[-2000:]
    (line,) = error_lines(stderr)
    assert "training interrupted" in line and f"resume with: {tool('python')} train.py resume={parts}" in line
    assert torch.load(parts / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] < 11

    resumed = run_subprocess("train.py", [f"resume={parts}"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole_weights, whole_metrics = final_state(whole)
    parts_weights, parts_metrics = final_state(parts)
    for key, value in whole_weights.items():
        assert torch.equal(value, parts_weights[key]), key
    for key in ("train/sse_per_curve", "val/sse_per_curve", "test/sse_per_curve", "global_step", "epochs"):
        assert parts_metrics[key] == whole_metrics[key], key
    # The TensorBoard curves carry on in the same directory: one val point per epoch, none missing.
    steps = sorted({e.step for e in events(parts).Scalars("val/sse_per_curve")})
    assert steps == sorted({e.step for e in events(whole).Scalars("val/sse_per_curve")}) == list(range(12))


def test_atomic_write_keeps_the_old_file_and_says_why_when_the_disk_is_full(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fsync", full)
    with pytest.raises(Exception, match="the disk is full; the previous file, if any, is unchanged"):
        atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


KILLED_WRITER = """
import os, signal, sys, torch
from betaae.learner.plugins import AtomicCheckpointIO
io = AtomicCheckpointIO()
io.save_checkpoint({"i": 0, "w": torch.zeros(1_000_000)}, sys.argv[1])
# The process is killed from inside the second write: its bytes are on their way to disk, the write has
# not returned. A writer that wrote into the checkpoint itself would leave it half-written here.
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
io.save_checkpoint({"i": 1, "w": torch.ones(1_000_000)}, sys.argv[1])
"""


def test_a_checkpoint_killed_mid_write_is_never_half_written(tmp_path):
    target = tmp_path / "last.ckpt"
    process = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], capture_output=True, text=True)
    assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
    checkpoint = torch.load(target, weights_only=True)  # the first checkpoint, whole
    assert checkpoint["i"] == 0 and torch.equal(checkpoint["w"], torch.zeros(1_000_000))


def test_checkpoint_io_writes_loadable_files(tmp_path):
    AtomicCheckpointIO().save_checkpoint({"a": torch.ones(3)}, tmp_path / "x.ckpt")
    assert torch.equal(torch.load(tmp_path / "x.ckpt", weights_only=True)["a"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["x.ckpt"]
    current = os.umask(0)
    os.umask(current)
    assert os.stat(tmp_path / "x.ckpt").st_mode & 0o777 == 0o666 & ~current


def as_another_user(args: list[str]) -> subprocess.CompletedProcess:
    """Run as root without the capabilities that let root read anyone's files: as another user would."""
    command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", sys.executable, *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture
def someone_elses(tmp_path):
    """The release-0.3 run and sweep, copied as another user with umask 077 would have written them."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to stand for another user's files")
    for name in ("run", "sweep"):
        shutil.copytree(ROOT / "tests" / "fixtures" / "release-0.3" / name, tmp_path / name)
    for path in [
        tmp_path / "run",
        tmp_path / "sweep",
        *(tmp_path / "run").rglob("*"),
        *(tmp_path / "sweep").rglob("*"),
    ]:
        os.chown(path, 65534, 65534)
        path.chmod(0o700 if path.is_dir() else 0o600)
    if as_another_user(["-c", f"open({str(tmp_path / 'run' / 'config.yaml')!r})"]).returncode == 0:
        pytest.skip("this container does not let setpriv drop the capabilities")
    return tmp_path


def test_another_users_run_and_sweep_get_one_line_each(someone_elses):
    run, sweep = someone_elses / "run", someone_elses / "sweep"
    commands = {
        "invert": [str(ROOT / "invert.py"), f"ckpt_path={run}", "alpha=2", "beta=3", f"hydra.run.dir={run}-inv"],
        "resume": [str(ROOT / "train.py"), f"resume={run}"],
        "summary": ["-m", "betaae.sweep", str(sweep)],
    }
    for what, args in commands.items():
        result = as_another_user(args)
        assert result.returncode == 2, (what, result.stderr[-2000:])
        (line,) = error_lines(result.stderr)
        assert "permission denied (another user's files?" in line, (what, line)
        assert result.stderr.strip() == line, (what, result.stderr)  # no warning, no traceback
    assert not (someone_elses / "run-inv").exists()


def test_a_sweep_others_may_read_but_not_write_is_shown_without_rewriting_it(someone_elses):
    sweep = someone_elses / "sweep"
    for path in [sweep, *sweep.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    before = tree(sweep)
    result = as_another_user(["-m", "betaae.sweep", str(sweep)])
    assert result.returncode == 0, result.stderr
    assert "(not rewritten: the sweep directory is not writable by you)" in result.stdout
    assert f"checkpoint: {sweep / 'latent_dims=1' / 'checkpoints' / 'best.ckpt'}" in result.stdout  # where it is now
    assert tree(sweep) == before


@pytest.mark.parametrize("script", ["train.py", "invert.py"])
def test_non_ascii_arguments_under_an_ascii_locale_get_one_line(script, tmp_path):
    # LC_ALL=C with UTF-8 mode off: Python keeps the undecodable bytes of argv as surrogates.
    env = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    result = run_subprocess(script, [f'paths.log_dir="{tmp_path}/lcé"'], env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = error_lines(result.stderr)
    assert "holds letters this locale cannot read" in line and "LC_ALL=C.UTF-8" in line
    assert result.stderr.strip() == line and list(tmp_path.iterdir()) == []


def stop_as_it_starts(args: list[str]) -> subprocess.CompletedProcess:
    """SIGTERM to `python train.py ARGS` the moment it prints its model line, while Lightning's fit sets up (its
    own SIGTERM handler is not in place yet)."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if line.startswith("model:"):
            break
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_a_resume_stopped_as_it_starts_stops_keeps_its_run_and_logs_nothing_of_other_libraries(finished_run):
    before = set(os.listdir(finished_run))
    stopped = stop_as_it_starts([f"resume={finished_run}", "trainer.max_epochs=300"])
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    (line,) = error_lines(stopped.stderr)
    # Before, the stop was lost while fit set up: the resume trained on to the end and exited 0.
    assert line.startswith("stopped: training interrupted by SIGTERM "), line
    assert f"holds the last completed epoch; resume with: {tool('python')} train.py resume={finished_run}" in line
    # torch logs its FakeTensor cache statistics at exit; they belong in neither train.log nor the console.
    assert "train.log" not in set(os.listdir(finished_run)) - before
    assert "FakeTensor" not in stopped.stderr and stopped.stderr.strip().endswith(line)


def test_a_new_run_stopped_as_it_starts_leaves_nothing(tmp_path):
    stopped = stop_as_it_starts([*QUIET, "trainer.max_epochs=300", f"paths.log_dir={tmp_path}"])
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    assert error_lines(stopped.stderr) == ["stopped: interrupted by SIGTERM before training began; nothing was kept"]
    assert list(tmp_path.iterdir()) == []
