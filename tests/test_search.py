"""Optuna searches through the real entry points: the study in a real SQLite file, journal file and PostgreSQL
server; searches that stop and continue; workers that share a study; pruning; and every refusal before
anything trains."""

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from helpers import ROOT, TINY, error_lines, free_port, interrupt_when, postgres_server, run_script, run_subprocess

SMALL = [*TINY, "callbacks.latent_images.every_n_epochs=0"]
SEARCH = ["hparams_search=optuna", "hydra/launcher=basic", *SMALL]


def study(url: str, name: str = "betaae"):
    from betaae.search.storage import open_storage, resolve

    return optuna.load_study(study_name=name, storage=open_storage(resolve(url, ".")))


def counted(trials):
    from betaae.search.study import counted as is_counted

    return [t for t in trials if is_counted(t)]


def read_summary(sweep_dir: Path) -> list[dict]:
    with open(sweep_dir / "summary.csv") as f:
        return list(csv.DictReader(f))


# --- refusals: one line, exit 2, nothing made ---


def _refused(args, capsys, tmp_path):
    sweep = tmp_path / "search"
    started = time.monotonic()
    code, _, err = run_script("train.py", [*SEARCH, f"hydra.sweep.dir={sweep}", *args], capsys)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1, err[-3000:]
    assert "Traceback" not in err and not sweep.exists()
    return lines[0], time.monotonic() - started


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["hydra.sweeper.storage=redis://127.0.0.1/0"], "hydra.sweeper.storage=redis://127.0.0.1/0: not a storage"),
        (["hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials=0"),
        (["hydra.sweeper.n_jobs=-1"], "hydra.sweeper.n_jobs=-1"),
        (["hydra.sweeper.direction=up"], "hydra.sweeper.direction=up: not a direction"),
        (["hydra.sweeper.pruner._target_=collections.OrderedDict"], "not an Optuna pruner"),
        (["hydra.sweeper.sampler._target_=collections.OrderedDict"], "not an Optuna sampler"),
        (["hydra.sweeper.pruner._target_=optuna.pruners.NoSuchPruner"], "hydra.sweeper.pruner._target_="),
        (["optimizer.lr=interval(0.1,0.01)"], "an interval needs low < high"),
        (["hydra/launcher=slurm"], "hydra/launcher=slurm: sbatch is not on this machine's PATH"),
    ],
)
def test_a_bad_search_option_is_one_line_and_exit_2_before_anything_is_made(args, expected, capsys, tmp_path):
    line, _ = _refused(args, capsys, tmp_path)
    assert expected in line, line


def test_a_database_that_cannot_be_reached_is_refused_in_seconds_naming_its_host_and_port(capsys, tmp_path):
    port = free_port()  # nothing listens there
    line, seconds = _refused(
        [f"hydra.sweeper.storage=postgresql://someone:secret@127.0.0.1:{port}/db"], capsys, tmp_path
    )
    assert f"cannot reach the database at 127.0.0.1:{port}" in line and "secret" not in line, line
    assert seconds < 15


def test_a_study_of_the_same_name_made_by_another_search_is_refused_and_left_as_it_is(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    other = optuna.create_study(storage=url, study_name="betaae", direction="maximize")
    other.enqueue_trial({"x": 1.0})
    line, _ = _refused([f"hydra.sweeper.storage={url}"], capsys, tmp_path)
    assert "hydra.sweeper.study_name=betaae: the study in this storage is to maximize" in line, line
    assert len(study(url).trials) == 1  # nothing in the study changed


def test_a_study_of_the_same_name_that_searches_other_settings_is_refused(capsys, tmp_path):
    from betaae.search.study import SPACE

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    other = optuna.create_study(storage=url, study_name="betaae")
    other.set_user_attr(SPACE, {"optimizer.lr": "{}"})
    line, _ = _refused([f"hydra.sweeper.storage={url}"], capsys, tmp_path)
    assert "searches other settings or ranges (optimizer.lr, scheduler.gamma differ)" in line


# --- real searches ---


@pytest.mark.slow  # a 4-trial search: about 25 s
def test_a_hopeless_trial_is_pruned_recorded_as_pruned_and_the_search_exits_0(tmp_path):
    sweep = tmp_path / "search"
    args = [
        *SEARCH,
        "hydra.sweeper.n_trials=4",
        "optimizer.lr=choice(3e-3,1e-7)",  # 1e-7 learns nothing: worse than the median at every epoch
        "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.pruner.n_warmup_steps=1",
        "trainer.max_epochs=6",
        f"hydra.sweep.dir={sweep}",
    ]
    result = run_subprocess("train.py", args)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = study(f"sqlite:///{sweep / 'optuna.db'}").trials
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and all(t.params["optimizer.lr"] == 1e-7 for t in pruned)
    rows = {r["trial"]: r for r in read_summary(sweep)}
    for trial in pruned:
        row = rows[str(trial.number)]
        assert row["status"] == "pruned" and int(row["pruned_at_epoch"]) < 6
        metrics = json.loads((Path(trial.user_attrs["job_dir"]) / "metrics.json").read_text())
        assert metrics["status"] == "pruned" and "test/sse_per_curve" not in metrics
    assert "pruned after epoch" in result.stdout and " pruned; best first by" in result.stdout


@pytest.mark.slow  # a search stopped in its second trial, then continued: about 45 s
def test_a_search_stopped_by_sigterm_continues_with_only_the_trials_it_owes(tmp_path):
    sweep = tmp_path / "search"
    args = [*SEARCH, "hydra.sweeper.n_trials=3", "trainer.max_epochs=150", "hydra.sweeper.pruner=null"]
    args.append(f"hydra.sweep.dir={sweep}")

    def ready() -> bool:  # the first trial finished, the second has a checkpoint to resume from
        jobs = [d for d in sweep.glob("*/") if (d / ".hydra").is_dir()] if sweep.is_dir() else []
        finished = [(d / "metrics.json").is_file() for d in jobs]
        resumable = [(d / "checkpoints" / "last.ckpt").is_file() for d in jobs]
        return any(finished) and any(r and not f for r, f in zip(resumable, finished))

    stopped = interrupt_when(args, ready, "a finished trial and a resumable one")
    stderr = stopped.stderr
    assert stopped.returncode == 143, stderr[-3000:]
    (line,) = error_lines(stderr)
    assert line.startswith("stopped: sweep stopped by SIGTERM: 1 job(s) finished, 1 interrupted"), line
    url = f"sqlite:///{sweep / 'optuna.db'}"
    before = study(url).trials
    assert [t.state.name for t in before] == ["COMPLETE", "FAIL"] and before[1].user_attrs["interrupted"]
    first = Path(before[0].user_attrs["job_dir"])
    kept = (first / "metrics.json").read_bytes()
    command = line.split("continue with: ", 1)[1]
    env = {"PATH": f"{sys.executable.rsplit('/', 1)[0]}:/usr/bin:/bin"}
    again = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 of 3 trials to run, 1 interrupted to run again" in again.stdout, again.stdout
    after = study(url).trials
    done = counted(after)
    assert len(done) == 3 and all(t.state.name == "COMPLETE" for t in done)  # n_trials, no more
    assert len({t.number for t in after}) == len(after)
    retry = next(t for t in after if t.user_attrs.get("retry_of") == before[1].number)
    assert retry.params == before[1].params and retry.user_attrs["job_dir"] == str(
        sweep / Path(retry.user_attrs["job_dir"]).name
    )
    interrupted_dir = Path(retry.user_attrs["job_dir"])
    assert (interrupted_dir / "resumes").is_dir()  # it carried on from its last checkpoint
    assert json.loads((interrupted_dir / "metrics.json").read_text())["epochs"] == 150
    assert (first / "metrics.json").read_bytes() == kept  # nothing overwritten
    jobs = [d for d in sweep.iterdir() if (d / ".hydra").is_dir()]
    assert len(jobs) == 3
    # The sampler saw the whole history: the continued worker's new trial was asked of a study of 3 trials.
    assert max(t.number for t in after) == 3


def _worker(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow  # two workers of a 6-trial search side by side: about 40 s
@pytest.mark.parametrize("kind", ["journal", "postgresql"])
def test_two_workers_on_one_study_run_n_trials_between_them_and_each_summary_lists_all(kind, tmp_path):
    with postgres_server() if kind == "postgresql" else _nothing(f"journal:///{tmp_path / 'study.log'}") as url:
        common = [*SEARCH, "hydra.sweeper.n_trials=6", "hydra.sweeper.pruner=null", f"hydra.sweeper.storage={url}"]
        workers = [_worker([*common, f"hydra.sweep.dir={tmp_path / name}"]) for name in ("one", "two")]
        outputs = [w.communicate(timeout=600) for w in workers]
        for worker, (_, err) in zip(workers, outputs):
            assert worker.returncode == 0, err[-3000:]
        trials = study(url).trials
        assert len(counted(trials)) == 6 and all(t.state.name == "COMPLETE" for t in counted(trials))
        assert len({t.number for t in trials}) == len(trials)
        ran = {
            name: [t for t in counted(trials) if t.user_attrs["sweep_dir"] == str(tmp_path / name)]
            for name in ("one", "two")
        }
        assert all(ran.values()), "each worker ran trials"
        numbers = sorted(t.number for t in counted(trials))
        for name in ("one", "two"):
            # Written as the worker ended: a trial the other worker was still running is listed as running.
            rows = [r for r in read_summary(tmp_path / name) if r["status"] != "over seeds"]  # trials, not settings
            assert sorted(int(r["trial"]) for r in rows) == numbers
            assert {r["status"] for r in rows} <= {"ok", "running"}
            rebuilt = subprocess.run(
                [sys.executable, "-m", "betaae.sweep", str(tmp_path / name)], cwd=ROOT, capture_output=True, text=True
            )
            assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
            rows = [
                r for r in read_summary(tmp_path / name) if r["status"] != "over seeds"
            ]  # rebuilt from the study afterwards: every trial, as it ended
            assert sorted(int(r["trial"]) for r in rows) == numbers and all(r["status"] == "ok" for r in rows)
            theirs = [r for r in rows if r.get("worker")]
            assert len(theirs) == len(ran["two" if name == "one" else "one"])


class _nothing:
    """A stand-in for postgres_server() when the storage is a file."""

    def __init__(self, url):
        self.url = url

    def __enter__(self):
        return self.url

    def __exit__(self, *exc):
        return False


@pytest.mark.slow  # a DDP trial under pruning (2 CPU processes per trial): about 60 s
def test_a_ddp_trial_is_pruned_on_every_rank_together(tmp_path):
    sweep = tmp_path / "search"
    args = [
        *SEARCH,
        "trainer=ddp_cpu",
        "hydra.sweeper.n_trials=3",
        "optimizer.lr=choice(3e-3,1e-7)",
        "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.pruner.n_warmup_steps=1",
        "trainer.max_epochs=6",
        f"hydra.sweep.dir={sweep}",
    ]
    result = run_subprocess("train.py", args, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = study(f"sqlite:///{sweep / 'optuna.db'}").trials
    states = {t.params["optimizer.lr"]: t.state.name for t in trials if t.state.name != "COMPLETE"}
    assert "PRUNED" in states.values() and set(states) == {1e-7}, [(t.params, t.state.name) for t in trials]


@pytest.mark.slow  # a 4-trial search, two trials at a time in joblib workers: about 30 s
def test_n_jobs_runs_that_many_trials_at_once_in_one_worker(tmp_path):
    sweep = tmp_path / "search"
    args = ["hparams_search=optuna", *SMALL, "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2"]
    result = run_subprocess("train.py", [*args, "hydra.sweeper.pruner=null", f"hydra.sweep.dir={sweep}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 of 4 trials to run (no trials yet), 2 at a time" in result.stdout
    trials = study(f"sqlite:///{sweep / 'optuna.db'}").trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    # Trials 0 and 1 ran side by side: each job started before the other ended.
    spans = [
        ((Path(t.user_attrs["job_dir"]) / ".hydra" / "config.yaml").stat().st_mtime, t.datetime_complete.timestamp())
        for t in trials[:2]
    ]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans
