"""Sweeps: jobs named by what varies, TensorBoard's HPARAMS columns in order, the summary, failed jobs,
the joblib launcher and the Optuna sweeper, read back with TensorBoard's own event reader."""

import csv
import importlib.util
import re

import pytest
import yaml
from helpers import TINY, events, hparams_plugin_data, run_subprocess

from betaae.hparams import DEFINING, METRICS, SETTINGS
from betaae.sweep import short_value

SWEEP = ["-m", "latent_dims=1,2", "optimizer.lr=3e-3,1e-2", *TINY]


def read_summary(sweep_dir):
    with open(sweep_dir / "summary.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("sweep")
    result = run_subprocess("train.py", [*SWEEP, f"hydra.sweep.dir={sweep_dir}"])
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep_dir, result


def test_jobs_are_named_by_the_settings_that_vary(sweep):
    sweep_dir, _ = sweep
    names = {d.name for d in sweep_dir.iterdir() if d.is_dir()}
    assert names == {
        "latent_dims=1,optimizer.lr=0.003",
        "latent_dims=1,optimizer.lr=0.01",
        "latent_dims=2,optimizer.lr=0.003",
        "latent_dims=2,optimizer.lr=0.01",
    }
    record = yaml.safe_load((sweep_dir / "sweep.yaml").read_text())
    assert record["varying"] == ["latent_dims", "optimizer.lr"] and "trainer.max_epochs=2" in record["constant"]
    for name in names:  # the constant overrides are in the job's files, not in its name
        assert "trainer.max_epochs=2" in (sweep_dir / name / ".hydra" / "overrides.yaml").read_text()
        assert list((sweep_dir / name).glob("events.out.tfevents.*"))  # the TensorBoard run is the job directory


def test_hparams_show_the_swept_settings_first_then_the_defining_ones_and_the_metrics(sweep):
    sweep_dir, _ = sweep
    experiment = hparams_plugin_data(sweep_dir)["_hparams_/experiment"].experiment
    infos = list(experiment.hparam_infos)
    # The swept settings first, marked as differing, then one column for the rest: at most 5 settings are
    # ticked, at about 150 pixels each, so the metrics still fit a 1600-pixel screen.
    assert [(i.name, i.differs) for i in infos] == [("latent_dims", True), ("optimizer.lr", True), (SETTINGS, False)]
    assert [m.name.tag for m in experiment.metric_infos] == list(METRICS)
    for job in (d for d in sweep_dir.iterdir() if d.is_dir()):
        records = hparams_plugin_data(job)
        assert "_hparams_/experiment" not in records  # only the sweep's, so TensorBoard cannot pick a job's
        start = records["_hparams_/session_start_info"].session_start_info
        assert set(start.hparams) == {"latent_dims", "optimizer.lr", *DEFINING, SETTINGS}  # no paths, flags, duplicates
        assert start.hparams["model.hidden"].string_value == "[32]"
        summary = start.hparams[SETTINGS].string_value
        assert summary == "beta, autoencoder, [32], gelu, gamma 0.97, batch 64, 2 epochs"  # not the swept ones
        assert records["_hparams_/session_end_info"].session_end_info.status == 1  # STATUS_SUCCESS
        scalars = set(events(job).Tags()["scalars"])
        assert set(METRICS) <= scalars  # every metric column is a real scalar of the run


def test_summary_has_one_column_per_swept_setting_rounded_values_and_a_chart(sweep):
    sweep_dir, _ = sweep
    rows = read_summary(sweep_dir)
    assert list(rows[0])[:4] == ["job", "status", "latent_dims", "optimizer.lr"]
    assert {(r["latent_dims"], r["optimizer.lr"]) for r in rows} == {
        ("1", "0.003"),
        ("1", "0.01"),
        ("2", "0.003"),
        ("2", "0.01"),
    }
    values = [float(r["val/sse_per_curve_best"]) for r in rows]
    assert values == sorted(values)
    assert all(len(re.sub(r"[-.e+]", "", r["val/sse_per_curve_best"]).lstrip("0")) <= 4 for r in rows)
    assert (sweep_dir / "summary.png").stat().st_size > 5000


def test_the_console_shows_one_line_per_job_and_a_table_best_first(sweep):
    sweep_dir, result = sweep
    out = result.stdout
    job_lines = [line for line in out.splitlines() if line.startswith("#")]
    assert len(job_lines) == 4 and all("val best" in line for line in job_lines)
    assert "Launching" not in result.stderr + out and "GPU available" not in result.stderr + out
    assert "sweep: 4 jobs, 0 failed; best first by val/sse_per_curve_best" in out
    best = read_summary(sweep_dir)[0]["job"]
    assert f"best job:   {sweep_dir / best}" in out
    assert f"checkpoint: {sweep_dir / best / 'checkpoints' / 'best.ckpt'}" in out
    assert out.count("invert:") == 0  # no per-job hints


def test_a_failed_job_is_recorded_while_the_others_still_run_and_the_exit_code_says_so(tmp_path):
    result = run_subprocess("train.py", ["-m", *TINY, "data.batch_size=0,64", f"hydra.sweep.dir={tmp_path}"])
    assert result.returncode == 1
    assert "error: 1 job(s) of the sweep failed" in result.stderr
    rows = {r["data.batch_size"]: r for r in read_summary(tmp_path)}
    assert rows["64"]["status"] == "ok"
    failed = rows["0"]
    assert failed["status"] == "failed" and "data.batch_size=0 is not allowed" in failed["error"]
    assert failed["val/sse_per_curve_best"] == ""
    assert "data.batch_size=0 is not allowed" in (tmp_path / "data.batch_size=0" / "error.txt").read_text()
    assert read_summary(tmp_path)[0]["status"] == "ok"  # best first, failures last


def test_jobs_with_the_same_values_still_get_directories_of_their_own(tmp_path):
    result = run_subprocess(
        "train.py", ["-m", *TINY, "trainer.max_epochs=1", "seed=1,1", f"hydra.sweep.dir={tmp_path}"]
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(d.name for d in tmp_path.iterdir() if d.is_dir()) == ["seed=1", "seed=1-1"]


def test_joblib_launcher_runs_jobs_in_parallel_with_one_thread_each(tmp_path):
    result = run_subprocess(
        "train.py", ["-m", "hydra/launcher=joblib", "latent_dims=1,2", *TINY, f"hydra.sweep.dir={tmp_path}"]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_summary(tmp_path)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert [r["num_threads"] for r in rows] == ["1", "1"]  # 2 cores shared by 2 jobs
    assert {r["job"] for r in rows} == {"latent_dims=1", "latent_dims=2"}


@pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None, reason="needs the [optuna] extra"
)
def test_optuna_search_minimizes_the_metric_train_py_returns_and_names_trials_by_rounded_values(tmp_path):
    result = run_subprocess(
        "train.py",
        [
            "hparams_search=optuna",
            "hydra.sweeper.n_trials=3",
            "hydra.sweeper.sampler.n_startup_trials=2",
            *TINY,
            f"hydra.sweep.dir={tmp_path}",
        ],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_summary(tmp_path)
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
    best = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())["best_value"]
    assert float(rows[0]["val/sse_per_curve_best"]) == pytest.approx(best, rel=1e-3)  # the CSV keeps 4 digits
    for row in rows:
        assert row["job"].startswith("optimizer.lr=") and "scheduler.gamma=" in row["job"]
        lr = re.search(r"optimizer\.lr=([^,]+)", row["job"]).group(1)
        assert len(re.sub(r"[-.e+]", "", lr).lstrip("0")) <= 4, row["job"]


def test_long_values_are_rounded_in_names():
    assert short_value("0.0012345678") == "0.001235"
    assert short_value("[256,128]") == "[256,128]" and short_value("3e-3") == "0.003"
    assert short_value("/tmp/x") == "_tmp_x"


def test_the_frontier_chart_marks_the_pareto_front_and_the_default(tmp_path, capsys):
    from frontier import main, pareto_front

    rows = [
        {"job": "a", "status": "ok", "scheduler.gamma": "0.97", "trainer.max_epochs": "300", "train_time_s": "30",
         "test/sse_per_curve": "0.0002", "late_val_spikes": "0"},
        {"job": "b", "status": "ok", "scheduler.gamma": "0.95", "trainer.max_epochs": "100", "train_time_s": "10",
         "test/sse_per_curve": "0.002", "late_val_spikes": "0"},
        {"job": "c", "status": "ok", "scheduler.gamma": "0.95", "trainer.max_epochs": "300", "train_time_s": "31",
         "test/sse_per_curve": "0.001", "late_val_spikes": "0"},
        {"job": "d", "status": "failed", "scheduler.gamma": "0.9", "trainer.max_epochs": "300", "train_time_s": "",
         "test/sse_per_curve": "", "late_val_spikes": ""},
    ]  # fmt: skip
    for part, chunk in (("one", rows[:2]), ("two", rows[2:])):
        sweep = tmp_path / part
        sweep.mkdir()
        (sweep / "sweep.yaml").write_text(yaml.safe_dump({"varying": ["scheduler.gamma", "trainer.max_epochs"]}))
        with open(sweep / "summary.csv", "w") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(chunk)
    front = main([str(tmp_path / "one"), str(tmp_path / "two"), "--out", str(tmp_path / "frontier.png")])
    assert [r["job"] for r in front] == ["b", "a"]  # c is slower than a and worse
    assert "<- default" in capsys.readouterr().out  # a has the default gamma and epochs
    assert (tmp_path / "frontier.png").stat().st_size > 10_000
    assert pareto_front([]) == []
