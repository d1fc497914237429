"""Sweeps: jobs named by what varies, TensorBoard's HPARAMS columns in order, the summary, failed jobs,
the joblib launcher and the Optuna sweeper, read back with TensorBoard's own event reader."""

import csv
import importlib.util
import json
import math
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, TINY, error_lines, events, hparams_plugin_data, run_subprocess, tensorboard_server

from betaae.runs.hparams import CHANGED, DEFINING, METRICS, RANKING
from betaae.sweep.naming import short_value

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


def test_each_job_records_its_settings_and_ranking_figure_in_its_own_tensorboard_run(sweep):
    sweep_dir, _ = sweep
    assert "_hparams_/experiment" not in hparams_plugin_data(sweep_dir)  # no summary to override the others
    for job in (d for d in sweep_dir.iterdir() if (d / ".hydra").is_dir()):
        assert not (job / "hparams").exists()  # one run, one TensorBoard entry
        records = hparams_plugin_data(job)
        start = records["_hparams_/session_start_info"].session_start_info
        assert set(start.hparams) == {CHANGED, "latent_dims", "optimizer.lr", *DEFINING}  # no paths or flags
        assert start.hparams["model.hidden"].string_value == "[32]" and not start.group_name
        assert start.hparams[CHANGED].string_value.startswith(job.name.replace(",", " ").replace("optimizer.", ""))
        assert "max_epochs=2" in start.hparams[CHANGED].string_value
        assert records["_hparams_/session_end_info"].session_end_info.status == 1  # STATUS_SUCCESS
        run = events(job)
        assert set(METRICS) <= set(run.Tags()["scalars"])
        assert sorted(run.Tags()["scalars"])[: len(METRICS)] == list(METRICS)  # the columns TensorBoard ticks
        metrics = json.loads((job / "metrics.json").read_text())
        (point,) = run.Scalars(RANKING)
        assert point.value == pytest.approx(metrics["val/sse_per_curve_best"], rel=1e-6) and point.step == 1
        (point,) = run.Scalars("test/log10_sse_per_curve")
        assert point.value == pytest.approx(math.log10(metrics["test/sse_per_curve"]), rel=1e-6)


def tensorboard_experiment(logdir: Path) -> tuple[dict, list]:
    """What TensorBoard's HPARAMS tab shows for a logdir: its experiment (columns) and session groups (rows),
    from a real TensorBoard server."""
    import urllib.request

    with tensorboard_server(logdir) as url:

        def post(path: str, body: dict) -> dict:
            request = urllib.request.Request(
                f"{url}/data/plugin/hparams/{path}",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "X-XSRF-Protected": "1"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())

        deadline, experiment = time.time() + 60, {}
        while time.time() < deadline:  # until the server has read every run
            experiment = post("experiment", {"experimentName": ""})
            groups = post(
                "session_groups",
                {"experimentName": "", "allowedStatuses": ["STATUS_SUCCESS", "STATUS_UNKNOWN"],
                 "colParams": [], "startIndex": 0, "sliceSize": 100},
            ).get("sessionGroups", [])  # fmt: skip
            if len(groups) == 9 and len(experiment.get("metricInfos", [])) >= len(METRICS):
                return experiment, groups
            time.sleep(0.5)
        raise AssertionError(f"TensorBoard did not show the runs: {experiment}")


@pytest.mark.slow  # a real TensorBoard server reading nine runs: about 15 s
def test_tensorboard_compares_sweeps_and_single_runs_under_one_logdir(sweep, finished_template, tmp_path):
    """Two sweeps and a single run under one logdir: HPARAMS lists what differs across all of them first,
    the ranking figure as its first metric, and names each row by its path (sweep and job), once."""
    sweep_dir, _ = sweep
    logdir = tmp_path / "outputs"
    shutil.copytree(sweep_dir, logdir / "sweep_a")
    shutil.copytree(sweep_dir, logdir / "sweep_b")
    shutil.copytree(finished_template, logdir / "single")
    experiment, groups = tensorboard_experiment(logdir)
    infos = {i["name"]: i.get("differs", False) for i in experiment["hparamInfos"]}
    assert infos[CHANGED] and infos["latent_dims"] and infos["optimizer.lr"]  # swept, not set in the single run
    assert not infos["data.family"]
    first = [i["name"] for i in experiment["hparamInfos"]][: sum(infos.values())]
    assert all(infos[name] for name in first) and first[0] == CHANGED  # what differs comes first
    assert [m["name"]["tag"] for m in experiment["metricInfos"]][: len(METRICS)] == list(METRICS)
    names = sorted(g["name"] for g in groups)
    assert len(names) == 9 and len(set(names)) == 9 and "." not in names
    assert "sweep_a/latent_dims=1,optimizer.lr=0.003" in names and "single" in names


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


@pytest.mark.slow  # a sweep through a subprocess: about 12 s
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


@pytest.mark.slow  # a sweep through a subprocess: about 22 s
def test_jobs_whose_names_round_alike_still_get_directories_of_their_own(tmp_path):
    # Repeated values are refused, but distinct values can still share a name once rounded to 4 digits.
    lrs = "optimizer.lr=0.0012341,0.0012342"
    result = run_subprocess("train.py", ["-m", *TINY, "trainer.max_epochs=1", lrs, f"hydra.sweep.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-2000:]
    names = sorted(d.name for d in tmp_path.iterdir() if d.is_dir())
    assert names == ["optimizer.lr=0.001234", "optimizer.lr=0.001234-1"]


@pytest.mark.slow  # two jobs side by side in joblib workers: about 22 s
def test_the_default_launcher_runs_the_jobs_side_by_side(tmp_path):
    result = run_subprocess("train.py", ["-m", "latent_dims=1,2", *TINY, f"hydra.sweep.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_summary(tmp_path)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert {r["job"] for r in rows} == {"latent_dims=1", "latent_dims=2"}
    # Each job's config is written as it starts and its metrics as it ends: side by side, each started
    # before the other ended.
    spans = [((d / ".hydra" / "config.yaml").stat().st_mtime, (d / "metrics.json").stat().st_mtime)
             for d in (tmp_path / "latent_dims=1", tmp_path / "latent_dims=2")]  # fmt: skip
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans


@pytest.mark.slow  # an Optuna search of several trials: about 37 s
@pytest.mark.skipif(importlib.util.find_spec("optuna") is None, reason="needs the [optuna] extra")
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


def test_the_changed_setting_is_each_key_once_with_its_latest_value_rounded_like_names():
    from betaae.runs.hparams import changed

    resumed = ["seed=3", "trainer.max_epochs=1", "paths.log_dir=/x", "trainer.max_epochs=2"]
    assert changed(resumed) == "seed=3 max_epochs=2"  # where it writes is not a setting; the resume's epochs win
    assert changed(["optimizer.lr=0.0012142404210404064", "data.params.alpha=[0.1234567,5]"]) == (
        f"lr={short_value('0.0012142404210404064')} alpha=[0.1235,5]"
    )
    assert changed([]) == "defaults"


def test_long_values_are_rounded_in_names():
    assert short_value("0.0012345678") == "0.001235"
    assert short_value("[256,128]") == "[256,128]" and short_value("3e-3") == "0.003"
    assert short_value("/tmp/x") == "_tmp_x"


def fake_job(sweep: Path, name: str, overrides: list[str], metrics: dict | None) -> None:
    """A job directory as a sweep leaves it: Hydra's record of its overrides, and its metrics or its error."""
    (sweep / name / ".hydra").mkdir(parents=True)
    (sweep / name / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is None:
        (sweep / name / "error.txt").write_text("training stopped: the loss became non-finite\n")
    else:
        (sweep / name / "metrics.json").write_text(json.dumps(metrics))


def test_the_frontier_chart_groups_seeds_chooses_on_val_and_rings_the_default(tmp_path, capsys):
    from frontier import main, pareto_front

    varying = ["scheduler.gamma", "trainer.max_epochs", "seed"]
    # (gamma, epochs): (train time, val, test) at seeds 0 and 1. c is best on test but not on val: the front,
    # chosen on val, must not pick it; a is the default (gamma 0.96, 150 epochs).
    settings = {
        ("0.96", "150"): [(30, 2e-4, 3e-4), (32, 2.2e-4, 3.2e-4)],
        ("0.95", "100"): [(10, 2e-3, 2e-3), (11, 2.1e-3, 2.2e-3)],
        ("0.95", "200"): [(31, 1e-3, 1e-4), (33, 1.1e-3, 1.2e-4)],
    }
    for part, keys in (("one", list(settings)[:2]), ("two", list(settings)[2:])):
        sweep = tmp_path / part
        sweep.mkdir()
        (sweep / "sweep.yaml").write_text(yaml.safe_dump({"varying": varying}))
        for gamma, epochs in keys:
            for seed, (time_s, val, test) in enumerate(settings[gamma, epochs]):
                overrides = [f"scheduler.gamma={gamma}", f"trainer.max_epochs={epochs}", f"seed={seed}"]
                metrics = {"train_time_s": time_s, "val/sse_per_curve_best": val, "test/sse_per_curve": test}
                fake_job(sweep, ",".join(overrides), overrides, metrics)
        if part == "two":
            fake_job(sweep, "failed", ["scheduler.gamma=0.9", "trainer.max_epochs=200", "seed=0"], None)
    front = main([str(tmp_path / "one"), str(tmp_path / "two"), "--out", str(tmp_path / "frontier.png")])
    assert [(r["scheduler.gamma"], r["trainer.max_epochs"]) for r in front] == [("0.95", "100"), ("0.96", "150")]
    assert front[1]["seeds"] == 2 and front[1]["train_time_s"] == pytest.approx(31)
    assert front[1]["val/sse_per_curve_best_sd"] == pytest.approx(statistics.stdev([2e-4, 2.2e-4]))
    assert "<- default" in capsys.readouterr().out
    assert (tmp_path / "frontier.png").stat().st_size > 10_000
    assert pareto_front([]) == []


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("metrics.json", '{"val/sse_per_curve_best": 1.', "its metrics.json cannot be read"),
        ("metrics.json", "[1, 2]", "its metrics.json cannot be read"),
        ("error.txt", "", "failed (its error.txt is empty)"),
    ],
)
def test_a_sweep_summary_survives_a_damaged_job_file(tmp_path, name, text, error):
    sweep = shutil.copytree(ROOT / "tests" / "fixtures" / "release-0.3" / "sweep", tmp_path / "sweep")
    (sweep / "latent_dims=1" / name).write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "betaae.sweep", str(sweep)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "failed" in done.stdout
    assert error in (sweep / "summary.csv").read_text()


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ("latent_dims=range(1,1)", "latent_dims=range(1,1): sweeps no values"),
        ("latent_dims=2,2", "latent_dims=2,2: 2 appears more than once"),
    ],
)
def test_a_sweep_of_no_jobs_or_repeated_jobs_is_refused_and_leaves_nothing(tmp_path, sweep, message):
    done = run_subprocess("train.py", ["-m", sweep, f"hydra.sweep.dir={tmp_path / 'sw'}"])
    assert done.returncode == 2, done.stderr
    (line,) = error_lines(done.stderr)
    assert message in line
    assert not (tmp_path / "sw").exists()


@pytest.mark.slow  # two DDP jobs of 2 CPU processes each, one after another: about 30 s
def test_a_sweep_of_ddp_jobs_runs_each_job_as_its_own_ranks(tmp_path):
    # Lightning starts a DDP job's other ranks with the process's command line: in a sweep, the whole sweep's.
    # And it keeps its process group and variables when a job ends: the second job would talk to the first's.
    args = ["-m", "hydra/launcher=basic", "trainer=ddp_cpu", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}"]
    result = run_subprocess("train.py", args, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r["status"] for r in read_summary(tmp_path)] == ["ok", "ok", "over seeds"]
    assert sorted(d.name for d in tmp_path.iterdir() if (d / ".hydra").is_dir()) == ["seed=0", "seed=1"]
