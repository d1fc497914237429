"""Helpers the tests share: compose configs the way Hydra does, run the two scripts in-process or as
real subprocesses, and read back what TensorBoard would show."""

from __future__ import annotations

import contextlib
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# Small enough to train in about a second on 2 CPU cores, yet every stage runs for real.
TINY = [
    "data.num_train=512",
    "data.num_val=128",
    "data.num_test=128",
    "data.batch_size=64",
    "model.hidden=[32]",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "callbacks.latent_images.every_n_epochs=1",
    "inversion_score.targets=20",  # the score's code paths, at a tenth of its cost
]


# What tests that only read a run's outputs leave out: images, the TensorBoard logger, the progress bar.
QUIET = ["callbacks.latent_images.every_n_epochs=0", "logger=none", "trainer.enable_progress_bar=false"]


def compose_config(name: str, overrides: list[str], output_dir: Path | None = None) -> DictConfig:
    """The config Hydra would build for `python {name}.py overrides`, with its outputs in output_dir."""
    from betaae.cli.main import register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
            cfg.hydra.job.num = 0
        HydraConfig().set_config(cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
    return cfg


def train_in_process(overrides: list[str], output_dir: Path) -> dict:
    """Check and train a composed config in this process, as train.py does; returns its metrics."""
    from betaae.cli.train import prepare
    from betaae.runs.training import train

    prepared = prepare(compose_config("train", overrides, output_dir))
    return train(*prepared)


def run_script(script: str, args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """Run train.py or invert.py in this process through its real entry point; (exit code, stdout, stderr)."""
    argv = sys.argv
    sys.argv = [str(ROOT / script), *args]
    GlobalHydra.instance().clear()
    try:
        runpy.run_path(str(ROOT / script), run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
        os.environ.pop("BETAAE_SET_HYDRA_FULL_ERROR", None)
        os.environ.pop("HYDRA_FULL_ERROR", None)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_subprocess(script: str, args: list[str], timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run a script as a user would, in a fresh Python process."""
    env = {**os.environ, **kwargs.pop("env", {})}
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=kwargs.pop("cwd", ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def tree(path: Path) -> dict[str, bytes]:
    """Every file under path with its bytes: a fingerprint of a run directory."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def epochs_done(run_dir: Path) -> int:
    """Epochs a run has completed, read from its last.ckpt: a marker the run itself writes, atomically, at
    the end of every epoch (so it is never read half-written)."""
    import torch

    try:
        checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return 0
    return int(checkpoint["epoch"]) + 1 if int(checkpoint.get("global_step", 0)) > 0 else 0


def interrupt(
    args: list[str], run_dir: Path, after_epochs: int, signum: int = signal.SIGTERM, timeout: float = 240
) -> subprocess.CompletedProcess:
    """Start `python train.py ARGS` as a real process, wait until `run_dir` has completed `after_epochs` epochs,
    then send it `signum`; its exit code and output. The run must be long enough to still be training then:
    one that ends first fails here with that reason, instead of letting the signal miss."""
    return interrupt_when(
        args, lambda: epochs_done(run_dir) >= after_epochs, f"{after_epochs} epoch(s) in {run_dir}", signum, timeout
    )


def interrupt_when(
    args: list[str], ready, what: str, signum: int = signal.SIGTERM, timeout: float = 240
) -> subprocess.CompletedProcess:
    """Start `python train.py ARGS` as a real process, wait until `ready()` (`what`, in words), then send it
    `signum`; its exit code and output. A process that ends first, or a wait past `timeout`, fails here."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), *args],
            cwd=ROOT,
            stdout=out,  # files, not pipes: a full pipe would stall the run while it is waited for
            stderr=err,
            text=True,
            # A background job of a shell ignores SIGINT, and its children inherit that: give Ctrl-C back.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        deadline = time.monotonic() + timeout
        try:
            while not ready():
                if process.poll() is not None:
                    err.seek(0)
                    raise AssertionError(
                        f"the run ended (exit {process.returncode}) before {what}: give it more epochs\n"
                        f"{err.read()[-2000:]}"
                    )
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {what} after {timeout} s")
                time.sleep(0.02)
            process.send_signal(signum)
            process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(process.args, process.returncode, out.read(), err.read())


def error_lines(stderr: str) -> list[str]:
    """The one-line reports: `error:` for a failure, `stopped:` for a stop the user asked for."""
    return [line for line in stderr.splitlines() if line.startswith(("error:", "stopped:"))]


def events(logdir: Path):
    """TensorBoard's own reader over a run directory's event files (every point of every series)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    return EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0, "tensors": 0}).Reload()


def hparams_plugin_data(logdir: Path) -> dict:
    """The HPARAMS records in one directory's event files, by tag (experiment, session start and end)."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    try:
        contents = events(logdir).PluginTagToContent("hparams")
    except KeyError:  # no HPARAMS record in this directory
        return {}
    return {tag: plugin_data_pb2.HParamsPluginData.FromString(content) for tag, content in contents.items()}


def quiet_trainer(accelerator: str = "cpu", **kwargs):
    """A Lightning trainer that writes nothing: no logger, checkpoints, progress bar or summary."""
    import lightning as L

    return L.Trainer(
        accelerator=accelerator,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        **kwargs,
    )


def exact_beta_model(grid_low: float = 0.01, grid_high: float = 0.99, num_points: int = 100):
    """An api.Model whose decoder is the Beta family itself: code (log alpha, log beta) -> the exact log-pdf,
    and whose encoder is exact too (a least-squares fit on the family's sufficient statistics). Inverting
    through it is least squares on the family: what the uncertainty and verdict machinery is checked against."""
    import torch

    from betaae.families import get_family, make_grid
    from betaae.inversion.api import Model
    from betaae.models.base import CurveModel
    from betaae.models.checkpoints import Checkpointed

    family = get_family("beta")

    class ExactBeta(CurveModel):
        def __init__(self) -> None:
            super().__init__(num_points, 2)
            grid = make_grid(grid_low, grid_high, num_points).double()
            self.register_buffer("grid", grid)
            self.register_buffer("stats", torch.stack([grid.log(), (-grid).log1p(), torch.ones_like(grid)], dim=1))
            self.scale = torch.nn.Parameter(torch.ones(()))  # a parameter, so that the model has a dtype

        def decode(self, codes: torch.Tensor) -> torch.Tensor:
            return family.log_pdf(self.grid, codes.double().exp()).to(codes.dtype) * self.scale

        def encode(self, curves: torch.Tensor) -> torch.Tensor:
            coefficients = torch.linalg.lstsq(self.stats, curves.double().T).solution.T  # (alpha-1, beta-1, c)
            return (coefficients[:, :2] + 1).clamp_min(1e-6).log().to(curves.dtype)

    data = {"family": "beta", "params": {"alpha": [0.0, 5.0], "beta": [0.0, 5.0]}, "grid_low": grid_low,
            "grid_high": grid_high, "num_points": num_points}  # fmt: skip
    return Model(Checkpointed(ExactBeta().eval().requires_grad_(False), data, "exact-beta", None))


@contextlib.contextmanager
def tensorboard_server(logdir: Path):
    """A real TensorBoard server on 127.0.0.1 reading logdir; yields its base URL once it answers."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tensorboard = Path(sys.executable).parent / "tensorboard"
    server = subprocess.Popen(
        [str(tensorboard), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port), "--load_fast=false"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/data/runs", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.time() > deadline:
                    raise AssertionError("TensorBoard did not start") from None
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_binaries() -> Path | None:
    """The folder of PostgreSQL's initdb and pg_ctl (Debian keeps them out of PATH), or None."""
    import glob
    import shutil

    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return Path(folders[-1]) if folders else None


@contextlib.contextmanager
def postgres_server():
    """A real PostgreSQL server of its own on 127.0.0.1, in a temporary directory, stopped and removed after;
    yields its URL. PostgreSQL refuses to run as root: as root, it runs as the `postgres` user Debian makes."""
    import pwd
    import shutil
    import tempfile

    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install -y postgresql)")
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="betaae-pg-"))  # not under pytest's root-only tmp_path
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            pytest.skip("running as root, and there is no postgres user to run PostgreSQL as")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
    data, port = folder / "data", free_port()
    run = lambda *args: subprocess.run([*prefix, *map(str, args)], capture_output=True, text=True, timeout=120)  # noqa: E731
    try:
        made = run(binaries / "initdb", "-D", data, "-U", "betaae", "--auth=trust", "--no-sync")
        assert made.returncode == 0, made.stderr[-2000:]
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        started = run(binaries / "pg_ctl", "-D", data, "-o", options, "-l", folder / "log", "-w", "start")
        assert started.returncode == 0, started.stderr[-2000:] + (folder / "log").read_text()[-2000:]
        yield f"postgresql://betaae@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            run(binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
