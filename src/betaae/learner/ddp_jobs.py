"""DDP inside a sweep's job. Lightning starts the other ranks of a DDP run by running the script again with
the process's own command line and `hydra.run.dir` set to the run's directory. In a sweep that command line
is the whole sweep's: each rank would start a sweep of its own. Here each rank runs the job instead: the
job's own overrides, as a single run, in the job's directory."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def job_command(local_rank: int) -> tuple[Sequence[str], str]:
    """The command and folder that start rank `local_rank` of the current sweep job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_original_cwd, to_absolute_path

    import __main__

    hydra = HydraConfig.get()
    if __main__.__spec__ is None:
        command = [sys.executable, to_absolute_path(sys.argv[0])]
    else:
        command = [sys.executable, "-m", __main__.__spec__.name]
    command += [*hydra.overrides.task]
    command += [
        "hydra.mode=RUN",  # a search's preset sets MULTIRUN: a rank is one run
        f'hydra.run.dir="{hydra.runtime.output_dir}"',  # quoted: a job directory's name holds commas
        f"hydra.job.name=train_ddp_process_{local_rank}",
        "hydra.output_subdir=null",
    ]
    return command, get_original_cwd()


# What Lightning sets in its own process for a DDP run and leaves there when the run ends.
DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "GROUP_RANK", "RANK")


def install() -> None:
    """Start the other DDP ranks of a sweep's job with `job_command` (this process only), and forget what an
    earlier DDP job in this process left behind: Lightning keeps its process group, whose other ranks have
    ended (the next job would talk to them), and its variables (with LOCAL_RANK set, it would take the next
    job's ranks to be started by someone else)."""
    import os

    import torch.distributed as dist

    from betaae.core.job import is_ddp_child

    if not is_ddp_child():
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key in DDP_ENV:
            os.environ.pop(key, None)
    from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
    from lightning.pytorch.strategies.launchers import subprocess_script as trainer_launcher

    # Lightning's Trainer imports the function by name from Fabric's module: both names are replaced.
    fabric_launcher._hydra_subprocess_cmd = job_command
    trainer_launcher._hydra_subprocess_cmd = job_command
