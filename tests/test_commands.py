"""Every command the project prints works when pasted into bash, whatever the path holds and wherever the
shell is: each is taken from the real output and run through a real bash."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, TINY, interrupt, run_subprocess
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from betaae.core.commands import hydra_value, override, script, shell, tool

SMALL = [*TINY, "callbacks.latent_images.every_n_epochs=0", "trainer.enable_progress_bar=false"]
ODD = ["a b", "x=1,y=2", "dollar$HOME", "quote'd", 'double"q', "ünï", "semi;colon", "back\\slash", "brace${x}"]


@pytest.mark.parametrize("name", ODD)
def test_hydra_reads_every_quoted_value_back_as_it_was(name):
    value = f"/tmp/{name}/run"
    parsed = OverridesParser.create().parse_override(f"resume={hydra_value('resume', value)}").value()
    assert OmegaConf.create({"v": parsed}).v == value  # as the composed config holds it


def paste(line: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a printed command line in bash, with this environment's python first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def printed(output: str, label: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith(label)]
    return line.split(label, 1)[1].strip()


@pytest.mark.slow  # two subprocess runs and two pasted commands: about 20 s each
@pytest.mark.parametrize("name", ["a b,c=d", "dollar $HOME 'q' ünï"])
def test_the_invert_and_resume_commands_a_run_prints_work_when_pasted(name, tmp_path):
    """The run is started from another folder than the scripts' (python /path/to/train.py), as the commands
    are then pasted: they name the scripts so that they work there."""
    run = tmp_path / name / "run"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_subprocess("train.py", [*SMALL, override("hydra.run.dir", run)], cwd=elsewhere)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (run / "metrics.json").is_file()
    inverted = paste(printed(result.stdout, "invert:"), elsewhere)
    assert inverted.returncode == 0, inverted.stderr[-2000:]
    # The refusal of a second run in the same directory prints how to continue it: that works too.
    again = run_subprocess("train.py", [*SMALL, override("hydra.run.dir", run)], cwd=elsewhere)
    assert again.returncode == 2
    command = re.search(r"continue it with: (.*), or choose a new directory", again.stderr).group(1)
    resumed = paste(command, elsewhere)
    assert resumed.returncode == 0 and "is complete" in resumed.stdout, resumed.stderr[-2000:]


@pytest.mark.slow  # an interrupted subprocess run, then its resume: about 15 s
def test_the_resume_command_of_an_interrupted_run_works_when_pasted(tmp_path):
    run = tmp_path / "odd, dir=1" / "run"
    stopped = interrupt([*SMALL, "trainer.max_epochs=40", override("hydra.run.dir", run)], run, after_epochs=1)
    err = stopped.stderr
    assert stopped.returncode == 143, err
    resumed = paste(printed(err, "stopped:").split("resume with: ", 1)[1], ROOT)  # where the run was started
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert '"epochs": 40' in (run / "metrics.json").read_text()


@pytest.mark.slow  # a sweep through a subprocess: about 15 s
def test_a_sweeps_printed_paths_and_commands_work_for_job_directories_with_equals_and_commas(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_subprocess(
        "train.py", ["-m", *SMALL, "latent_dims=1,2", "optimizer.lr=3e-3", override("hydra.sweep.dir", sweep)]
    )
    assert result.returncode == 0, result.stderr[-2000:]
    checkpoint = Path(printed(result.stdout, "checkpoint:"))
    assert checkpoint.is_file() and "=" in checkpoint.parent.parent.name
    inverted = paste(script("invert.py", override("ckpt_path", checkpoint), "alpha=2", "beta=4"), ROOT)
    assert inverted.returncode == 0, inverted.stderr[-2000:]
    compare = printed(result.stdout, "compare:")
    assert (
        compare.startswith(f"{tool('tensorboard')} --logdir ")
        and Path(compare.split("--logdir ", 1)[1].strip("'")) == sweep
    )


@pytest.mark.parametrize("activated", [True, False])
def test_printed_commands_name_the_python_and_tensorboard_that_ran(activated, monkeypatch, tmp_path):
    # After `make setup` without activating .venv, a plain `python` is another interpreter (or none):
    # `bash: python: command not found` when the printed line was pasted.
    bin_dir = str(Path(sys.executable).parent)
    others = [p for p in os.environ["PATH"].split(os.pathsep) if os.path.abspath(p) != os.path.abspath(bin_dir)]
    monkeypatch.setenv("PATH", os.pathsep.join([bin_dir, *others] if activated else others))
    monkeypatch.chdir(tmp_path)  # outside the checkout: the path is absolute
    if activated:
        assert tool("python") == "python" and tool("tensorboard") == "tensorboard"
        assert script("train.py", "seed=1").startswith("python ")
    else:
        assert Path(tool("python")) == Path(sys.executable).absolute()
        assert Path(tool("tensorboard")) == Path(bin_dir, "tensorboard").absolute()
        assert script("train.py", "seed=1").startswith(shell(str(Path(sys.executable).absolute())) + " ")
        ran = subprocess.run(
            [
                *shlex.split(script("train.py", "--help")),
            ],
            capture_output=True,
            text=True,
        )
        assert ran.returncode == 0 and "train.py" in ran.stdout
