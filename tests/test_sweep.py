"""Sweeps: a real multirun, TensorBoard's HPARAMS and images read back with its own event reader,
the sweep summary, failed jobs, the joblib launcher and the Optuna sweeper."""

import csv
import importlib.util
import json

import pytest
import yaml
from conftest import TINY, run_subprocess
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from betaae import _dirname


def read_summary(sweep_dir):
    with open(sweep_dir / "summary.csv") as f:
        return list(csv.DictReader(f))


def hparams_of(tensorboard_dir):
    events = EventAccumulator(str(tensorboard_dir), size_guidance={"images": 0, "scalars": 0}).Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    hparams = {k: v.number_value if v.HasField("number_value") else v.string_value for k, v in start.hparams.items()}
    return events, hparams


def test_two_job_multirun_lands_in_one_sweep_dir_with_hparams_metrics_images_and_summary(tmp_path):
    result = run_subprocess("train.py", ["-m", "latent_dims=1,2", *TINY, f"hydra.sweep.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(d for d in tmp_path.iterdir() if d.is_dir())
    assert [d.name.split("_")[0] for d in jobs] == ["0", "1"]
    assert "latent_dims=1" in jobs[0].name and "latent_dims=2" in jobs[1].name  # run names show the overrides
    for job, latent_dims in zip(jobs, (1, 2)):
        metrics = json.loads((job / "metrics.json").read_text())
        events, hparams = hparams_of(job / "tensorboard")
        config = yaml.safe_load((job / "config.yaml").read_text())
        assert hparams["latent_dims"] == latent_dims and hparams["model.lr"] == pytest.approx(config["model"]["lr"])
        assert hparams["model.hidden"] == "[128]"
        final = {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"]}
        assert final["hparams/val_sse_per_curve_best"] == pytest.approx(metrics["val/sse_per_curve_best"], rel=1e-5)
        assert final["hparams/test_sse_per_curve"] == pytest.approx(metrics["test/sse_per_curve"], rel=1e-5)
        assert final["hparams/train_time_s"] == pytest.approx(metrics["train_time_s"], rel=1e-5)
        assert "hp_metric" not in final
        images = set(events.Tags()["images"])
        assert {"images/reconstructions", "images/latent_by_alpha", "images/latent_by_beta"} <= images
        assert len(events.Images("images/reconstructions")) == 2  # every_n_epochs=1, 2 epochs
    rows = read_summary(tmp_path)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    values = [float(r["val/sse_per_curve_best"]) for r in rows]
    assert values == sorted(values)
    assert {r["overrides"].split()[0] for r in rows} == {"latent_dims=1", "latent_dims=2"}
    assert (tmp_path / "summary.png").stat().st_size > 5000


def test_a_failed_job_is_recorded_while_the_others_still_run_and_the_exit_code_says_so(tmp_path):
    result = run_subprocess("train.py", ["-m", *TINY, "data.batch_size=0,64", f"hydra.sweep.dir={tmp_path}"])
    assert result.returncode == 1
    assert "1 job(s) of the sweep failed" in result.stderr
    rows = {
        next(o for o in r["overrides"].split() if o.startswith("data.batch_size")): r for r in read_summary(tmp_path)
    }
    assert rows["data.batch_size=64"]["status"] == "ok"
    failed = rows["data.batch_size=0"]
    assert failed["status"] == "failed" and "data.batch_size=0 is not allowed" in failed["error"]
    assert failed["val/sse_per_curve_best"] == ""
    (failed_dir,) = [d for d in tmp_path.iterdir() if d.name.startswith("0_")]
    assert "data.batch_size=0 is not allowed" in (failed_dir / "error.txt").read_text()
    assert read_summary(tmp_path)[0]["status"] == "ok"  # best first, failures last


def test_joblib_launcher_runs_jobs_in_parallel_with_one_thread_each(tmp_path):
    result = run_subprocess(
        "train.py", ["-m", "hydra/launcher=joblib", "latent_dims=1,2", *TINY, f"hydra.sweep.dir={tmp_path}"]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_summary(tmp_path)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert [r["num_threads"] for r in rows] == ["1", "1"]  # 2 cores shared by 2 jobs


@pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None, reason="needs the [optuna] extra"
)
def test_optuna_search_minimizes_the_metric_train_py_returns(tmp_path):
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
    best = (tmp_path / "optimization_results.yaml").read_text()
    assert f"best_value: {float(rows[0]['val/sse_per_curve_best'])}"[:18] in best


def test_job_directory_names_stay_short():
    long = ",".join(f"model.lr=0.00{i}34567891234" for i in range(30))
    name = _dirname(long)
    assert len(name) <= 150 and name.startswith("model.lr=0.0003457,model.lr=0.001346,")
    assert _dirname("latent_dims=2,model.lr=0.003") == "latent_dims=2,model.lr=0.003"
