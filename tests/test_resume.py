"""Runs that survive anything: a run is never overwritten, has one writer, and every resume that cannot work
is refused in one line that changes nothing; every logger keeps its history across resumes."""

import csv
import json
import subprocess
import sys

import pytest
from helpers import ROOT, TINY, error_lines, interrupt, run_script, run_subprocess, tree

from betaae.core.commands import tool

SMALL = [*TINY, "callbacks.latent_images.every_n_epochs=0"]


@pytest.mark.parametrize("option", ["hydra.run.dir", "paths.output_dir"])
def test_a_new_run_pointed_at_an_existing_run_is_refused_and_the_run_is_left_as_it_is(option, finished_run, capsys):
    before = tree(finished_run)
    code, _, err = run_script("train.py", [*SMALL, "seed=5", f"{option}={finished_run}"], capsys)
    assert code == 2, err
    (line,) = error_lines(err)
    assert line.startswith(f"error: {option}=") and "hydra.run.dir=" in line, line
    assert tree(finished_run) == before


def test_the_refusal_says_how_to_resume_the_run_instead(finished_run, capsys):
    code, _, err = run_script("train.py", [*SMALL, f"hydra.run.dir={finished_run}"], capsys)
    assert code == 2 and f"continue it with: {tool('python')} train.py resume={finished_run}" in error_lines(err)[0], (
        err
    )


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5"])
def test_a_bad_epoch_count_on_resume_is_refused_and_changes_nothing(value, finished_run, capsys):
    before = tree(finished_run)
    code, out, err = run_script("train.py", [f"resume={finished_run}", f"trainer.max_epochs={value}"], capsys)
    assert code == 2, out + err
    (line,) = error_lines(err)
    assert "trainer.max_epochs=" in line and "is not allowed: must be an integer >= 1" in line
    assert tree(finished_run) == before


def test_resuming_with_fewer_epochs_than_done_is_refused_and_adds_no_record(finished_run, capsys):
    before = tree(finished_run)
    code, _, err = run_script("train.py", [f"resume={finished_run}", "trainer.max_epochs=1"], capsys)
    assert code == 2
    (line,) = error_lines(err)
    assert "trainer.max_epochs=1 is fewer than the 2 epochs the run has done" in line
    assert tree(finished_run) == before and not (finished_run / "resumes").exists()


def test_a_run_in_progress_cannot_be_resumed_or_written_by_a_second_process(finished_run, capsys):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from betaae.runs.directories import lock_run;"
            "lock = lock_run(Path(sys.argv[1]), 'test'); print('locked', flush=True); time.sleep(60)",
            str(finished_run),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = tree(finished_run)
        code, _, err = run_script("train.py", [f"resume={finished_run}", "trainer.max_epochs=4"], capsys)
        assert code == 2
        (line,) = error_lines(err)
        assert f"the run is in use by process {holder.pid}" in line, line
        assert tree(finished_run) == before
    finally:
        holder.kill()
        holder.wait()
    # The kernel drops the lock with its process: no stale lock is left to clear by hand.
    code, _, err = run_script("train.py", [f"resume={finished_run}", "trainer.max_epochs=3"], capsys)
    assert code == 0, err


def test_a_read_only_run_gets_one_line_on_resume(finished_run, capsys):
    finished_run.chmod(0o555)
    try:
        if (finished_run / "probe").exists() or _writable(finished_run):
            pytest.skip("this user can write into read-only directories (root without restrictions)")
        code, _, err = run_script("train.py", [f"resume={finished_run}", "trainer.max_epochs=3"], capsys)
        assert code == 2 and "not writable" in error_lines(err)[0], err
    finally:
        finished_run.chmod(0o755)


def _writable(path) -> bool:
    try:
        (path / ".probe").write_text("")
    except OSError:
        return False
    (path / ".probe").unlink()
    return True


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=1180591620717411303424", "seed=1180591620717411303424 is not allowed: must be an integer >= 0 and <="),
        ("seed=-1", "seed=-1 is not allowed"),
        ("trainer.devices=0", "trainer.devices=0 is not allowed: must be a number of devices >= 1"),
        ("trainer.accelerator=mps", "trainer.accelerator=mps: MPS (Apple's GPU) is not available on this machine"),
        ("data.family=bêta", "quote a value that holds spaces, '=', ',', quotes or non-ASCII letters"),
    ],
)
def test_refused_runs_get_one_line_and_leave_no_directory(override, message, tmp_path, capsys):
    run = tmp_path / "new"
    code, _, err = run_script("train.py", [*SMALL, override, f"hydra.run.dir={run}"], capsys)
    assert code == 2, err
    (line,) = error_lines(err)
    assert message in line, line
    assert not run.exists()  # no .hydra/, train.log or error.txt is left behind


@pytest.mark.parametrize("over", [3500, 10])  # far over; and a log_dir that fits while its run directory does not
def test_a_log_dir_too_long_for_the_file_system_is_refused_before_anything_is_made(tmp_path, capsys, over):
    deep = tmp_path / ("x" * 250) / ("y" * 250)
    if over > 100:
        deep = deep / ("z" * over)
    else:  # names of 200 bytes (each allowed) up to `over` bytes under PATH_MAX: train/runs/<time> crosses it
        while len(str(deep)) + 201 < 4096 - over:
            deep = deep / ("z" * 200)
        deep = deep / ("z" * (4096 - over - len(str(deep)) - 1))
        assert len(str(deep)) == 4096 - over
    code, _, err = run_script("train.py", [*SMALL, f"paths.log_dir={deep}"], capsys)
    assert code == 2
    (line,) = error_lines(err)
    assert "paths.log_dir" in line and "Traceback" not in err
    assert not (tmp_path / ("x" * 250)).exists()


def test_shell_style_variables_in_a_path_are_kept_literally_by_every_writer(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_script("train.py", [*SMALL, "paths.log_dir=out/$HOME"], capsys)
    assert code == 0, err
    (run,) = (tmp_path / "out" / "$HOME" / "train" / "runs").iterdir()
    assert (run / "metrics.json").is_file() and list(run.glob("events.out.tfevents.*"))
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["$HOME"]  # nothing under the expanded name


def test_the_csv_logger_keeps_every_epoch_across_a_resume(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_script("train.py", [*SMALL, "logger=csv", f"hydra.run.dir={run}"], capsys)
    assert code == 0, err
    code, _, err = run_script("train.py", [f"resume={run}", "trainer.max_epochs=4"], capsys)
    assert code == 0, err
    (metrics,) = run.rglob("metrics.csv")
    with open(metrics) as f:
        epochs = sorted({int(r["step"]) for r in csv.DictReader(f)})  # logged against the epoch
    assert epochs == [0, 1, 2, 3]
    assert "Warning" not in err


@pytest.mark.slow  # an interrupted subprocess resume, then a resume: about 10 s
def test_the_epoch_target_of_an_interrupted_resume_is_kept_by_a_plain_resume(finished_run, capsys):
    """Resume to 30 epochs, interrupted a few epochs in; `resume=RUN` alone then trains on to 30, not to 2."""
    stopped = interrupt([f"resume={finished_run}", "trainer.max_epochs=30"], finished_run, after_epochs=4)
    assert stopped.returncode == 143, stopped.stderr  # two epochs into the resume
    history = finished_run / "history.csv"
    code, _, err = run_script("train.py", [f"resume={finished_run}"], capsys)
    assert code == 0, err
    assert json.loads((finished_run / "metrics.json").read_text())["epochs"] == 30
    epochs = [int(line.split(",")[0]) for line in history.read_text().splitlines()[1:]]
    assert epochs == list(range(30))  # every epoch once, none lost or repeated


def test_a_run_resumed_to_the_end_after_a_failure_clears_its_stale_error(finished_run, capsys):
    (finished_run / "error.txt").write_text("training interrupted by SIGTERM during epoch 1\n")
    code, _, err = run_script("train.py", [f"resume={finished_run}", "trainer.max_epochs=3"], capsys)
    assert code == 0, err
    assert not (finished_run / "error.txt").exists()


def test_precision_64_true_trains_evaluates_and_resumes(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_script("train.py", [*SMALL, "trainer.precision=64-true", f"hydra.run.dir={run}"], capsys)
    assert code == 0, err
    assert json.loads((run / "metrics.json").read_text())["test/sse_per_curve"] > 0
    code, _, err = run_script("train.py", [f"resume={run}", "trainer.max_epochs=3"], capsys)
    assert code == 0, err
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 3


def test_a_subprocess_resume_of_a_finished_run_answers_without_training(finished_run):
    result = run_subprocess("train.py", [f"resume={finished_run}"])
    assert result.returncode == 0 and "is complete (2 of 2 epochs)" in result.stdout, result.stderr


def test_options_added_since_a_run_was_saved_resume_with_the_defaults_of_train_yaml():
    from omegaconf import OmegaConf

    from betaae.runs.resume import ADDED_OPTIONS

    defaults = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "train.yaml"))
    assert {key: defaults[key] for key in ADDED_OPTIONS} == ADDED_OPTIONS
