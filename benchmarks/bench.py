"""Side-by-side measurements on this machine: `python benchmarks/bench.py` prints a table and writes JSON.

(a) data: the notebook's per-curve loop against the data module's vectorized build;
(b) steps: the project's Lightning loop (Learner) against a plain PyTorch loop with the same model,
    optimizer, batch size and data, in steps per second;
(c) end to end: a default `python train.py` (its whole train_time_s: validation, checkpoints, images
    and logging included) against a careful plain loop with the same architecture and settings that
    also validates every epoch; plus time to quality;
(d) presets: experiment=quick (and, on a GPU, experiment=gpu_fast), wall time and quality;
(e) inversion: Nelder-Mead per target against the batched optimizer on many targets;
(f) answers: how fast a bad option, --help, --cfg job and one inversion come back;
(g) on a GPU only: online data drawn on the device at large batch, in curves per second.
Timings are medians or bests of repeats, never asserted anywhere: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from betaae.checkpoints import load_model
from betaae.console import quiet_lightning
from betaae.data import CurveDataModule, OnlineBatches, TensorBatches
from betaae.evaluation import QUALITY_MARKS
from betaae.inversion import invert
from betaae.learner import Learner
from betaae.lightning_plugins import LeanPrecision
from betaae.model import build_model
from betaae.optimizers import build_optimizer, build_scheduler
from betaae.outputs import write_json

ROOT = Path(__file__).resolve().parents[1]


def default_config(overrides: list[str] | None = None) -> tuple[dict, dict, dict, int]:
    """(model spec, training options, data options, epochs) of `python train.py overrides`."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides or [])
    plain = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("model", "data", "optimizer", "scheduler")}
    data = plain["data"]
    data.pop("_target_")
    training = {"optimizer": plain["optimizer"], "scheduler": plain["scheduler"]}
    return plain["model"], training, data, int(cfg.trainer.max_epochs)


def seed_style_curves(n: int, num_points: int = 100) -> torch.Tensor:
    """The notebook's way: one Beta distribution object and one log_prob call per curve."""
    uniform = torch.distributions.Uniform(0, 5)
    grid = torch.linspace(0.01, 0.99, num_points)
    rows = []
    for _ in range(n):
        alpha, beta = uniform.sample(), uniform.sample()
        rows.append(torch.distributions.Beta(alpha, beta).log_prob(grid))
    return torch.vstack(rows)


def bench_data(n: int, repeats: int) -> dict:
    started = time.perf_counter()
    seed_style_curves(n)
    loop_s = time.perf_counter() - started
    dm = CurveDataModule(num_train=n)
    dm.build_split("train", n)  # warm-up: first-call allocations and kernel selection
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        dm.build_split("train", n)
        times.append(time.perf_counter() - started)
    ours = statistics.median(times)
    return {"curves": n, "loop_s": loop_s, "vectorized_s": ours, "speedup": loop_s / ours}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class _StepClock(L.Callback):
    """Steps per second over every epoch after the first (which pays for warm-up)."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == 1:
            _sync(pl_module.device)
            self.started, self.first_step = time.perf_counter(), trainer.global_step

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        _sync(pl_module.device)
        self.rate = (trainer.global_step - self.first_step) / (time.perf_counter() - self.started)


def lightning_rate(spec: dict, training: dict, batch_size: int, num_train: int, epochs: int, device: str) -> float:
    dm = CurveDataModule(num_train=num_train, num_val=100, num_test=100, batch_size=batch_size)
    torch.manual_seed(0)
    learner = Learner(model=spec, **training, data=dm.spec)
    clock = _StepClock()
    with quiet_lightning():  # as quiet as a run
        trainer = L.Trainer(
            max_epochs=epochs,
            accelerator=device,
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            log_every_n_steps=1,
            callbacks=[clock],
            plugins=[LeanPrecision()],
        )
        trainer.fit(learner, datamodule=dm)
    return clock.rate


def plain_rate(spec: dict, training: dict, batch_size: int, num_train: int, epochs: int, device: str) -> float:
    """The reference: a hand-written loop, same model, optimizer, schedule and batches, data on the device."""
    dev = torch.device("cuda" if device == "gpu" else device)
    dm = CurveDataModule(num_train=num_train, num_val=100, num_test=100, batch_size=batch_size)
    dm.setup()
    torch.manual_seed(0)
    learner = Learner(model=spec, **training, data=dm.spec).to(dev)
    # The module's own optimizer and schedule, so that both loops step exactly the same way.
    (optimizer,), (schedule,) = learner.configure_optimizers()
    model = learner.model
    now = {"epoch": 0}
    batches = TensorBatches(
        tuple(t.to(dev) for t in dm.splits["train"]), batch_size, True, 0, epoch=lambda: now["epoch"]
    )
    steps, started = 0, time.perf_counter()
    for epoch in range(epochs):
        if epoch == 1:
            _sync(dev)
            started = time.perf_counter()
        now["epoch"] = epoch
        for curves, _ in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = (model(curves) - curves).pow(2).sum()
            loss.backward()
            optimizer.step()
            steps += epoch >= 1
        schedule.step()
    _sync(dev)
    return steps / (time.perf_counter() - started)


def bench_steps(batch_sizes: list[int], steps_per_epoch: int, repeats: int, device: str) -> list[dict]:
    spec, training, _, _ = default_config()
    rows = []
    for batch_size in batch_sizes:
        plain, lightning = [], []
        for _ in range(repeats):  # interleaved, so that a noisy moment hurts both sides alike
            plain.append(plain_rate(spec, training, batch_size, batch_size * steps_per_epoch, 3, device))
            lightning.append(lightning_rate(spec, training, batch_size, batch_size * steps_per_epoch, 3, device))
        rows.append(
            {
                "batch_size": batch_size,
                "plain_steps_per_s": max(plain),
                "lightning_steps_per_s": max(lightning),
                "ratio": max(lightning) / max(plain),
            }
        )
    return rows


def plain_run(overrides: list[str], device: str) -> dict:
    """A careful plain PyTorch loop with the run's architecture and settings, end to end: every epoch trains
    on whole-batch slices of a reshuffled tensor on the device and measures val SSE per curve (kept on the
    device), as the run does; no checkpoints, images or logging. Timed like train_time_s."""
    dev = torch.device("cuda" if device == "gpu" else device)
    spec, training, data, epochs = default_config(overrides)
    dm = CurveDataModule(**data)
    dm.setup()
    train, val, test = (dm.splits[s][0].to(dev) for s in ("train", "val", "test"))
    torch.manual_seed(data["seed"])
    model = build_model(spec, data["num_points"]).to(dev)
    optimizer = build_optimizer(training["optimizer"], model.parameters(), dev.type)
    schedule = build_scheduler(training["scheduler"], optimizer)
    generator = torch.Generator().manual_seed(data["seed"])
    batch, vals = data["batch_size"], []
    _sync(dev)
    started = time.perf_counter()
    elapsed = []
    for _ in range(epochs):
        shuffled = train[torch.randperm(train.shape[0], generator=generator).to(dev)]
        model.train()
        for start in range(0, shuffled.shape[0], batch):
            curves = shuffled[start : start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = (model(curves) - curves).pow(2).sum()
            loss.backward()
            optimizer.step()
        schedule.step()
        model.eval()
        with torch.no_grad():
            vals.append((model(val) - val).pow(2).sum(dim=1).mean())
        elapsed.append(time.perf_counter() - started)
    _sync(dev)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        test_sse = float((model(test) - test).pow(2).sum(dim=1).mean())
    val_curve = torch.stack(vals).cpu().numpy()
    reached = {f"s_to_sse_{m:g}": next((t for t, v in zip(elapsed, val_curve) if v <= m), None) for m in QUALITY_MARKS}
    return {
        "train_s": seconds,
        "test_sse_per_curve": test_sse,
        "val_sse_per_curve_best": float(val_curve.min()),
        **reached,
    }


def train_script(out_dir: Path, overrides: list[str]) -> dict:
    """`python train.py overrides` as a user runs it: wall time from the shell, the rest from metrics.json."""
    started = time.time()
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), f"hydra.run.dir={out_dir}", *overrides],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.time() - started
    if result.returncode != 0:
        raise RuntimeError(f"train.py {' '.join(overrides)} failed: {result.stderr.strip().splitlines()[-1:]}")
    metrics = json.loads((out_dir / "metrics.json").read_text())
    return {
        "overrides": overrides,
        "wall_s": wall,
        "train_time_s": metrics["train_time_s"],
        "epochs": metrics["epochs"],
        "test_sse_per_curve": metrics["test/sse_per_curve"],
        "val_sse_per_curve_best": metrics["val/sse_per_curve_best"],
        **{f"train_s_to_sse_{m:g}": metrics[f"train_s_to_sse_{m:g}"] for m in QUALITY_MARKS},
        "smooth_end": metrics["late_val_spikes"] == 0,
    }


def bench_end_to_end(tmp: Path, device: str, repeats: int, extra: list[str]) -> dict:
    overrides = [f"trainer.accelerator={device}", *extra]
    runs, plains = [], []
    for i in range(repeats):  # interleaved, so that a noisy moment hurts both sides alike
        runs.append(train_script(tmp / f"default{i}", overrides))
        plains.append(plain_run(extra, device))
    run = min(runs, key=lambda r: r["train_time_s"])
    plain = min(plains, key=lambda r: r["train_s"])
    return {"run": run, "plain": plain, "ratio": run["train_time_s"] / plain["train_s"], "repeats": repeats}


def bench_inversion(run_dir: Path, count: int, nelder_mead_count: int) -> dict:
    loaded = load_model(run_dir)
    params = torch.tensor(np.random.default_rng(0).uniform(0.2, 5.0, size=(count, 2)))
    targets = loaded.family.log_pdf(loaded.grid.double(), params).float()
    nelder_mead = invert(loaded.model, targets[:nelder_mead_count], "nelder-mead")
    batched = invert(loaded.model, targets, "adam")
    return {
        "targets": count,
        "nelder_mead_targets": nelder_mead_count,
        "nelder_mead_s_per_target": nelder_mead.seconds / nelder_mead_count,
        "nelder_mead_median_residual": float(nelder_mead.residual.median()),
        "batched_s": batched.seconds,
        "batched_median_residual": float(batched.residual.median()),
        "batched_median_residual_same_targets": float(batched.residual[:nelder_mead_count].median()),
    }


def bench_answers(run_dir: Path, tmp: Path, repeats: int) -> dict:
    """Wall seconds, from the shell, for the quick answers a user waits on (best of repeats)."""
    commands = {
        "bad option (latent_dims=0)": ["train.py", "latent_dims=0"],
        "bad model option (model.lr=0)": ["train.py", "model.lr=0"],
        "train.py --help": ["train.py", "--help"],
        "train.py --cfg job": ["train.py", "--cfg", "job"],
        "invert.py, one target": ["invert.py", f"ckpt_path={run_dir}", "alpha=2", "beta=4", f"paths.log_dir={tmp}"],
    }
    timings = {}
    for name, command in commands.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True)
            times.append(time.perf_counter() - started)
        timings[name] = min(times)
    return timings


def bench_online(batch_size: int, steps: int, device: str) -> dict:
    """Fresh curves drawn on the device at a large batch: curves per second."""
    dev = torch.device("cuda" if device == "gpu" else device)
    dm = CurveDataModule()
    batches = OnlineBatches(dm.family, dm.grid.to(dev), dm.low, dm.high, batch_size, steps, seed=0)
    next(iter(OnlineBatches(dm.family, dm.grid.to(dev), dm.low, dm.high, batch_size, 2, seed=1)))  # warm-up
    _sync(dev)
    started = time.perf_counter()
    for _ in batches:
        pass
    _sync(dev)
    return {"batch_size": batch_size, "curves_per_s": batch_size * steps / (time.perf_counter() - started)}


def print_table(results: dict) -> None:
    lines = [
        f"# betaae benchmark on {results['machine']} (torch {results['torch']})",
        "",
        "| figure | measured |",
        "| --- | --- |",
    ]
    if "data" in results:
        d = results["data"]
        lines.append(
            f"| (a) data, {d['curves']:,} curves | loop {d['loop_s']:.2f} s, vectorized "
            f"{1000 * d['vectorized_s']:.1f} ms: {d['speedup']:.0f}x |"
        )
    for row in results.get("steps", []):
        lines.append(
            f"| (b) steps/s, batch size {row['batch_size']:,} | plain {row['plain_steps_per_s']:.0f}, "
            f"Lightning {row['lightning_steps_per_s']:.0f}: {row['ratio']:.2f}x |"
        )
    for key, label in (("end_to_end", "default train.py"), ("gpu_fast", "experiment=gpu_fast")):
        if key in results:
            e = results[key]
            run, plain = e["run"], e["plain"]
            marks = ", ".join(
                f"{m:g} after {run[f'train_s_to_sse_{m:g}']:.1f} s" if run[f"train_s_to_sse_{m:g}"] else f"{m:g} never"
                for m in QUALITY_MARKS
            )
            lines.append(
                f"| (c) {label} | wall {run['wall_s']:.1f} s, train_time_s {run['train_time_s']:.1f} s vs plain "
                f"loop {plain['train_s']:.1f} s: {e['ratio']:.2f}x; test SSE/curve {run['test_sse_per_curve']:.2e} "
                f"(plain {plain['test_sse_per_curve']:.2e}); val reached {marks}; smooth end: {run['smooth_end']} |"
            )
    if "quick" in results:
        q = results["quick"]
        lines.append(
            f"| (d) experiment=quick | wall {q['wall_s']:.1f} s, test SSE/curve {q['test_sse_per_curve']:.2e} |"
        )
    if "inversion" in results:
        i = results["inversion"]
        lines += [
            f"| (e) Nelder-Mead | {1000 * i['nelder_mead_s_per_target']:.2f} ms/target, median residual "
            f"{i['nelder_mead_median_residual']:.4f} ({i['nelder_mead_targets']} targets) |",
            f"| (e) batched | {i['targets']:,} targets in {i['batched_s']:.2f} s, median residual "
            f"{i['batched_median_residual']:.4f} ({i['batched_median_residual_same_targets']:.4f} on the same "
            f"targets as Nelder-Mead) |",
        ]
    for name, seconds in results.get("answers", {}).items():
        lines.append(f"| (f) {name} | {seconds:.2f} s wall |")
    for row in results.get("online", []):
        lines.append(f"| (g) online data, batch {row['batch_size']:,} | {row['curves_per_s']:,.0f} curves/s |")
    print("\n".join(lines), flush=True)


SECTIONS = ("data", "steps", "end_to_end", "quick", "inversion", "answers")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench.json"))
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that the benchmark runs")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--repeats", type=int, default=2, help="end-to-end repeats, interleaved with the plain loop")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    quick, device = args.quick, args.device
    tiny = ["data.num_train=256", "data.num_val=64", "data.num_test=64", "trainer.max_epochs=2"] if quick else []
    name = torch.cuda.get_device_name() if device == "gpu" else f"CPU, {os.cpu_count()} cores"
    results: dict = {"machine": name, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if "data" in only:
        results["data"] = bench_data(500 if quick else 10_000, 3 if quick else 7)
    if "steps" in only:
        sizes = [128, 1024, 16384] if device == "gpu" else [1, 128]
        results["steps"] = bench_steps(sizes, 20 if quick else 300, 1 if quick else 3, device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "end_to_end" in only:
            results["end_to_end"] = bench_end_to_end(tmp, device, 1 if quick else args.repeats, tiny)
            if device == "gpu":
                results["gpu_fast"] = bench_end_to_end(tmp, device, 1, ["experiment=gpu_fast", *tiny])
        if "quick" in only:
            results["quick"] = train_script(tmp / "quick", [f"trainer.accelerator={device}", "experiment=quick", *tiny])
        run = tmp / "default0" if "end_to_end" in only else None
        if run is None and ({"inversion", "answers"} & only):
            run = tmp / "small"
            train_script(run, [f"trainer.accelerator={device}", "experiment=quick", *tiny])
        if "inversion" in only:
            results["inversion"] = bench_inversion(run, 50 if quick else 1000, 10 if quick else 1000)
        if "answers" in only:
            results["answers"] = bench_answers(run, tmp, 1 if quick else 3)
    if device == "gpu":
        results["online"] = [bench_online(b, 20 if quick else 200, device) for b in (16_384, 262_144)]
    write_json(args.out, results)
    print_table(results)
    print(f"\nwritten: {args.out}")
    return results


if __name__ == "__main__":
    main()
