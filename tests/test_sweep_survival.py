"""Sweeps that stop cleanly and continue, summaries over seeds, and nothing chosen on test figures, through
the real entry points."""

import csv
import json
import subprocess
import sys

import pytest
from helpers import ROOT, TINY, error_lines, interrupt, run_script, run_subprocess

from betaae.core.commands import tool

SMALL = [*TINY, "callbacks.latent_images.every_n_epochs=0"]


def read_summary(sweep_dir):
    with open(sweep_dir / "summary.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    "override",
    ["optimized_metric=test/sse_per_curve", "callbacks.model_checkpoint.monitor=test/sse_per_curve"],
)
def test_nothing_can_be_chosen_by_a_test_figure(override, tmp_path, capsys):
    code, _, err = run_script("train.py", [*SMALL, override, f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    assert code == 2
    (line,) = error_lines(err)
    assert "test figures are reported, never used to choose" in line and not (tmp_path / "run").exists()


@pytest.mark.slow  # a 4-job sweep and a rebuild, through subprocesses: about 25 s
def test_a_sweep_over_seeds_is_summarized_per_setting_and_rebuilt_on_its_own(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_subprocess("train.py", ["-m", *SMALL, "latent_dims=1,2", "seed=0,1", f"hydra.sweep.dir={sweep}"])
    assert result.returncode == 0, result.stderr[-2000:]
    rows = read_summary(sweep)
    jobs = [r for r in rows if r["status"] == "ok"]
    settings = [r for r in rows if r["status"] == "over seeds"]
    assert len(jobs) == 4 and len(settings) == 2
    for row in settings:
        members = [float(j["val/sse_per_curve_best"]) for j in jobs if j["latent_dims"] == row["latent_dims"]]
        assert float(row["val/sse_per_curve_best"]) == pytest.approx(sum(members) / 2, rel=1e-3)
        assert float(row["val/sse_per_curve_best_sd"]) >= 0
    assert "over seeds" in result.stdout  # the end-of-sweep table shows the settings' means too
    before = (sweep / "summary.csv").read_text()
    (sweep / "summary.csv").unlink()
    rebuilt = subprocess.run(
        [sys.executable, "-m", "betaae.sweep", str(sweep)], cwd=ROOT, capture_output=True, text=True
    )
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert (sweep / "summary.csv").read_text() == before


@pytest.mark.slow  # two sweeps through subprocesses: about 25 s
def test_a_sweep_directory_holding_another_sweep_is_refused_and_left_as_it_is(tmp_path):
    sweep = tmp_path / "sweep"
    first = run_subprocess("train.py", ["-m", *SMALL, "latent_dims=1", f"hydra.sweep.dir={sweep}"])
    assert first.returncode == 0, first.stderr[-2000:]
    record = (sweep / "sweep.yaml").read_bytes()
    other = run_subprocess("train.py", ["-m", *SMALL, "latent_dims=3", f"hydra.sweep.dir={sweep}"])
    assert other.returncode == 2
    (line,) = error_lines(other.stderr)
    assert f"holds another sweep, which is left as it is; continue that one with: {tool('python')} " in line
    assert (sweep / "sweep.yaml").read_bytes() == record and not (sweep / "latent_dims=3").exists()


@pytest.mark.slow  # a sweep stopped mid-job, then continued: about 60 s
def test_a_sweep_stopped_by_sigterm_continues_where_it_stopped(tmp_path):
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        *SMALL,
        "trainer.max_epochs=40",
        "latent_dims=1,2,3",
        "hydra/launcher=basic",
        f"hydra.sweep.dir={sweep}",
    ]
    # the first job finished, the second has trained an epoch
    stopped = interrupt(args, sweep / "latent_dims=2", after_epochs=1)
    err = stopped.stderr
    assert stopped.returncode == 143, err[-2000:]
    (line,) = error_lines(err)
    assert line.startswith("stopped: sweep stopped by SIGTERM: 1 job(s) finished, 1 interrupted"), line
    first = (sweep / "latent_dims=1" / "metrics.json").read_bytes()
    command = line.split("continue with: ", 1)[1]
    env_path = f"{sys.executable.rsplit('/', 1)[0]}:/usr/bin:/bin"
    resumed = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=600, env={"PATH": env_path}
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (sweep / "latent_dims=1" / "metrics.json").read_bytes() == first  # a finished job is kept as it is
    rows = read_summary(sweep)
    assert sorted(r["latent_dims"] for r in rows if r["status"] == "ok") == ["1", "2", "3"]
    for job in ("latent_dims=2", "latent_dims=3"):
        assert json.loads((sweep / job / "metrics.json").read_text())["epochs"] == 40
    assert (sweep / "latent_dims=2" / "resumes").is_dir()  # the interrupted job resumed from its checkpoint


@pytest.mark.slow  # an Optuna search with one failing trial: about 40 s
def test_a_failed_optuna_trial_is_recorded_and_the_search_goes_on(tmp_path):
    pytest.importorskip("optuna")
    sweep = tmp_path / "search"
    args = [
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=4",
        "hydra/launcher=basic",
        "optimizer.lr=choice(1e12,3e-3)",  # the sampler is seeded: the same trials fail every time
        *SMALL,
        f"hydra.sweep.dir={sweep}",
    ]
    result = run_subprocess("train.py", args, timeout=600)
    rows = read_summary(sweep)
    assert {r["status"] for r in rows} >= {"failed", "ok"}, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and len(rows) == 4


@pytest.mark.slow  # a sweep, then its continuation, through subprocesses: about 25 s
def test_a_continued_sweep_runs_again_a_job_whose_results_were_damaged_and_keeps_the_others(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", *SMALL, "seed=1,2", f"hydra.sweep.dir={sweep}"]
    first = run_subprocess("train.py", args)
    assert first.returncode == 0, first.stderr[-2000:]
    (sweep / "seed=1" / "metrics.json").write_text('{"val')  # truncated after the job ended
    kept = (sweep / "seed=2" / "metrics.json").read_bytes()
    again = run_subprocess("train.py", args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Warning" not in again.stderr and "job failed" not in again.stderr
    assert "seed=2: kept (finished before)" in again.stdout
    assert "continued: 1 job(s) finished before are kept" in again.stdout  # not the damaged one
    assert isinstance(json.loads((sweep / "seed=1" / "metrics.json").read_text()), dict)
    assert (sweep / "seed=2" / "metrics.json").read_bytes() == kept
    assert [r["status"] for r in read_summary(sweep)] == ["ok", "ok", "over seeds"]
