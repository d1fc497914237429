"""`compile=auto|true|false`: when a run compiles its training step, and that a compiled run trains, resumes
exactly and says what compiling cost."""

import json

import pytest
import torch
from helpers import QUIET, TINY, compose_config, error_lines, interrupt, run_script, run_subprocess

from betaae.learner.compiling import AUTO_MIN_STEPS, parse, plan
from betaae.runs.training import planned_steps


@pytest.mark.parametrize(
    ("setting", "device", "steps", "compiles"),
    [
        ("auto", "cpu", 11_700, False),  # the default run
        ("auto", "cpu", float("inf"), False),  # on a CPU it measured no faster, however long the run
        ("auto", "cuda", 2 * 78, False),  # a two-epoch debug run never compiles
        ("auto", "cuda", AUTO_MIN_STEPS["cuda"], True),
        ("auto", "mps", 10**9, False),
        (True, "cpu", 1, True),
        ("true", "cpu", 1, True),
        (False, "cuda", 10**9, False),
        ("FALSE", "cuda", 10**9, False),
    ],
)
def test_the_plan_follows_the_setting_and_the_runs_length(setting, device, steps, compiles):
    chosen = plan(setting, device, steps)
    assert chosen.compile is compiles
    assert chosen.mode == ("reduce-overhead" if compiles and device == "cuda" else None)
    assert chosen.reason.startswith("compile=")


def test_anything_else_is_not_a_setting():
    with pytest.raises(ValueError):
        parse("maybe")


@pytest.mark.parametrize(
    ("overrides", "steps"),
    [
        ([], 150 * 78),  # the default run
        (["debug=fdr"], None),
        (["data.steps_per_epoch=1000", "trainer.max_epochs=3"], 3000),
        (["data.online=false", "data.num_train=1000", "data.batch_size=100", "trainer.max_epochs=4"], 40),
        (["trainer.max_epochs=-1"], float("inf")),
    ],
)
def test_the_steps_auto_decides_on_are_the_runs_optimizer_steps(overrides, steps):
    cfg = compose_config("train", overrides)
    if steps is None:  # a debug preset: whatever it counts, far below where compiling pays
        assert planned_steps(cfg) < min(AUTO_MIN_STEPS.values())
    else:
        assert planned_steps(cfg) == steps


def test_a_compiled_run_trains_close_to_an_eager_one_and_reports_the_compile(tmp_path, capsys):
    results = {}
    for setting in ("false", "true"):
        out = tmp_path / setting
        code, stdout, err = run_script(
            "train.py", [*TINY, *QUIET, f"compile={setting}", f"hydra.run.dir={out}"], capsys
        )
        assert code == 0, err
        results[setting] = (stdout, json.loads((out / "metrics.json").read_text()))
    (eager_out, eager), (compiled_out, compiled) = results["false"], results["true"]
    assert not eager["compiled"] and eager["compile_s"] is None and "compiling" not in eager_out
    assert compiled["compiled"] and compiled["compile_s"] > 0
    assert "training step compiled (compile=true)" in compiled_out
    assert f"of which {compiled['compile_s']:.1f} s compiling" in compiled_out
    # Inductor fuses and reorders the arithmetic: the same training, not the same bits.
    for key in ("train/sse_per_curve", "val/sse_per_curve", "test/sse_per_curve"):
        assert compiled[key] == pytest.approx(eager[key], rel=1e-3), key


RESUMABLE = [*QUIET, "data.num_train=2000", "data.batch_size=8", "optimizer.lr=1e-3", "trainer.max_epochs=8"]


@pytest.mark.slow
def test_a_compiled_run_interrupted_and_resumed_ends_like_an_uninterrupted_one(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    args = [*RESUMABLE, "compile=true"]
    done = run_subprocess("train.py", [*args, f"hydra.run.dir={whole}"])
    assert done.returncode == 0, done.stderr[-2000:]
    stopped = interrupt([*args, f"hydra.run.dir={parts}"], parts, after_epochs=1)
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    assert len(error_lines(stopped.stderr)) == 1
    resumed = run_subprocess("train.py", [f"resume={parts}"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "training step compiled" in resumed.stdout  # it compiles as the run did at its start
    weights = [torch.load(d / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"] for d in (whole, parts)]
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


@pytest.mark.slow
def test_ddp_ranks_compile_alike_and_train_as_eager_ddp_does(tmp_path):
    args = [*TINY, *QUIET, "trainer=ddp_cpu", "data.online=false"]
    runs = {}
    for setting in ("false", "true"):
        done = run_subprocess("train.py", [*args, f"compile={setting}", f"hydra.run.dir={tmp_path / setting}"])
        assert done.returncode == 0, done.stderr[-3000:]
        runs[setting] = (done.stdout, json.loads((tmp_path / setting / "metrics.json").read_text()))
    assert "training step compiled" in runs["true"][0] and "2 processes" in runs["true"][0]
    eager, compiled = runs["false"][1], runs["true"][1]
    assert compiled["global_step"] == eager["global_step"]
    assert compiled["test/sse_per_curve"] == pytest.approx(eager["test/sse_per_curve"], rel=1e-3)
