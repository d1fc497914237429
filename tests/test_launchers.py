"""Launchers past one process: a sweep through real submitit local jobs runs, stops and continues, and no job
outlives the sweep that was stopped."""

import json
import subprocess
import sys

import pytest
from helpers import ROOT, TINY, error_lines, interrupt_when

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")


def submitit_processes(sweep) -> list[str]:
    found = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    return [line for line in found if "submitit" in line and str(sweep) in line]


@pytest.mark.slow  # two submitit jobs stopped mid-training, then continued: about 40 s
def test_a_sweep_of_submitit_local_jobs_stops_every_job_and_continues_from_their_checkpoints(tmp_path):
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "hydra/launcher=submitit_local",
        "seed=0,1",
        *TINY,
        "data.num_train=4096",
        "trainer.max_epochs=300",
        "callbacks.latent_images.every_n_epochs=0",
        f"hydra.sweep.dir={sweep}",
    ]
    both = [sweep / f"seed={s}" / "checkpoints" / "last.ckpt" for s in (0, 1)]
    stopped = interrupt_when(args, lambda: all(p.is_file() for p in both), "a checkpoint of each job")
    stderr = stopped.stderr
    assert stopped.returncode == 143, stderr[-3000:]
    (line,) = error_lines(stderr)
    assert "sweep stopped by SIGTERM: 0 job(s) finished, 2 interrupted" in line, line
    assert submitit_processes(sweep) == []  # the stop reached the jobs: none goes on writing into the sweep
    command = line.split("continue with: ", 1)[1]
    env = {"PATH": f"{sys.executable.rsplit('/', 1)[0]}:/usr/bin:/bin"}
    again = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    for seed in (0, 1):
        job = sweep / f"seed={seed}"
        assert json.loads((job / "metrics.json").read_text())["epochs"] == 300
        assert (job / "resumes").is_dir()  # carried on from its last checkpoint
    assert "[HYDRA]" not in again.stdout + again.stderr  # the launcher's own lines per job are quiet
