"""Side-by-side measurements on this machine: `python -m betaae.bench` prints a table and writes JSON.

(a) data: the notebook's per-curve loop against the data module's vectorized build;
(b) steps: the project's Lightning training loop against a plain PyTorch loop with the same model,
    optimizer, batch size and data, as steps per second;
(c) time to quality: a default `python train.py`, end to end, and when it reached the notebook's quality;
(d) inversion: Nelder-Mead per target against the batched optimizer on many targets.
Timings are medians or bests of repeats, never asserted anywhere: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch

from betaae.checkpoints import load_model
from betaae.data import CurveDataModule, TensorBatches
from betaae.families import get_family
from betaae.inversion import invert
from betaae.model import AutoEncoder
from betaae.outputs import write_json

ROOT = Path(__file__).resolve().parents[2]
SEED_QUALITY = 0.038


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


class _StepClock(L.Callback):
    """Steps per second over every epoch after the first (which pays for warm-up)."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == 1:
            self.started, self.first_step = time.perf_counter(), trainer.global_step

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.rate = (trainer.global_step - self.first_step) / (time.perf_counter() - self.started)


def lightning_rate(batch_size: int, num_train: int, epochs: int, device: str) -> float:
    dm = CurveDataModule(num_train=num_train, num_val=100, num_test=100, batch_size=batch_size)
    torch.manual_seed(0)
    model = AutoEncoder(data=dm.spec)
    clock = _StepClock()
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator=device,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[clock],
    )
    trainer.fit(model, datamodule=dm)
    return clock.rate


def plain_rate(batch_size: int, num_train: int, epochs: int, device: str) -> float:
    """The reference: a hand-written loop, same model, optimizer, schedule and batches, data on the device."""
    dm = CurveDataModule(num_train=num_train, num_val=100, num_test=100, batch_size=batch_size)
    dm.setup()
    dev = torch.device("cuda" if device == "gpu" else device)
    torch.manual_seed(0)
    model = AutoEncoder(data=dm.spec).to(dev)
    # The module's own optimizer and schedule, so that both loops step exactly the same way.
    configured = model.configure_optimizers()
    optimizer, schedule = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    batches = TensorBatches(tuple(t.to(dev) for t in dm.splits["train"]), batch_size, True, 0)
    steps, started = 0, time.perf_counter()
    for epoch in range(epochs):
        if epoch == 1:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        batches.set_epoch(epoch)
        for curves, _ in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = (model(curves) - curves).pow(2).sum()
            loss.backward()
            optimizer.step()
            steps += epoch >= 1
        schedule.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - started)


def bench_steps(batch_sizes: list[int], steps_per_epoch: int, repeats: int, device: str) -> list[dict]:
    rows = []
    for batch_size in batch_sizes:
        plain, lightning = [], []
        for _ in range(repeats):  # interleaved, so that a noisy moment hurts both sides alike
            plain.append(plain_rate(batch_size, batch_size * steps_per_epoch, 3, device))
            lightning.append(lightning_rate(batch_size, batch_size * steps_per_epoch, 3, device))
        rows.append(
            {
                "batch_size": batch_size,
                "plain_steps_per_s": max(plain),
                "lightning_steps_per_s": max(lightning),
                "ratio": max(lightning) / max(plain),
            }
        )
    return rows


def bench_train(out_dir: Path, overrides: list[str]) -> dict:
    started_unix = time.time()
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), f"hydra.run.dir={out_dir}", *overrides],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.time() - started_unix
    if result.returncode != 0:
        raise RuntimeError(f"train.py failed: {result.stderr.strip().splitlines()[-1:]}")
    metrics = json.loads((out_dir / "metrics.json").read_text())
    reached = metrics.get("seconds_to_seed_quality")
    startup = metrics["fit_started_unix"] - started_unix
    return {
        "overrides": overrides,
        "wall_s": wall,
        "startup_s": startup,
        "train_time_s": metrics["train_time_s"],
        "epochs": metrics["epochs"],
        "test_sse_per_curve": metrics["test/sse_per_curve"],
        "val_sse_per_curve": metrics["val/sse_per_curve"],
        "wall_s_to_seed_quality": None if reached is None else startup + reached,
    }


def bench_inversion(run_dir: Path, count: int, nelder_mead_count: int) -> dict:
    model = load_model(run_dir)
    family = get_family(model.hparams.data["family"])
    params = torch.tensor(np.random.default_rng(0).uniform(0.2, 5.0, size=(count, 2)))
    targets = family.log_pdf(model.grid.double(), params).float()
    nelder_mead = invert(model, targets[:nelder_mead_count], "nelder-mead")
    batched = invert(model, targets, "adam")
    return {
        "targets": count,
        "nelder_mead_targets": nelder_mead_count,
        "nelder_mead_s_per_target": nelder_mead["seconds"] / nelder_mead_count,
        "nelder_mead_median_residual": float(nelder_mead["residual"].median()),
        "batched_s": batched["seconds"],
        "batched_s_per_target": batched["seconds"] / count,
        "batched_median_residual": float(batched["residual"].median()),
        "batched_median_residual_same_targets": float(batched["residual"][:nelder_mead_count].median()),
    }


def print_table(results: dict) -> None:
    d, t, i = results["data"], results["train"], results["inversion"]
    lines = [
        f"# betaae benchmark on {results['machine']}",
        "",
        "| figure | measured |",
        "| --- | --- |",
        f"| (a) data, {d['curves']:,} curves | loop {d['loop_s']:.2f} s, vectorized {1000 * d['vectorized_s']:.1f} ms: "
        f"{d['speedup']:.0f}x |",
    ]
    for row in results["steps"]:
        lines.append(
            f"| (b) steps/s, batch size {row['batch_size']} | plain {row['plain_steps_per_s']:.0f}, "
            f"Lightning {row['lightning_steps_per_s']:.0f}: {row['ratio']:.2f}x |"
        )
    quality = t["wall_s_to_seed_quality"]
    lines += [
        f"| (c) default train.py | {t['wall_s']:.1f} s wall ({t['startup_s']:.1f} s start-up, {t['epochs']} epochs), "
        f"test SSE/curve {t['test_sse_per_curve']:.4f}, seed quality ({SEED_QUALITY}) after "
        f"{'n/a' if quality is None else f'{quality:.1f} s'} |",
        f"| (d) Nelder-Mead | {1000 * i['nelder_mead_s_per_target']:.2f} ms/target, median residual "
        f"{i['nelder_mead_median_residual']:.4f} ({i['nelder_mead_targets']} targets) |",
        f"| (d) batched | {i['targets']:,} targets in {i['batched_s']:.2f} s, median residual "
        f"{i['batched_median_residual']:.4f} ({i['batched_median_residual_same_targets']:.4f} on the same "
        f"targets as Nelder-Mead) |",
    ]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench.json"))
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that the benchmark runs")
    parser.add_argument("--train-args", nargs="*", default=[], help="extra overrides for the train.py run")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    quick = args.quick
    device_name = torch.cuda.get_device_name() if args.device == "gpu" else f"CPU, {os.cpu_count()} cores"
    results: dict = {"machine": device_name, "torch": torch.__version__, "threads": torch.get_num_threads()}
    results["data"] = bench_data(500 if quick else 10_000, 3 if quick else 7)
    results["steps"] = bench_steps([1, 128], 20 if quick else 600, 1 if quick else 3, args.device)
    train_overrides = [f"trainer.accelerator={args.device}", *args.train_args]
    if quick:
        train_overrides += ["data.num_train=256", "data.num_val=64", "data.num_test=64", "trainer.max_epochs=2"]
    with tempfile.TemporaryDirectory() as tmp:
        results["train"] = bench_train(Path(tmp) / "run", train_overrides)
        results["inversion"] = bench_inversion(Path(tmp) / "run", 50 if quick else 1000, 10 if quick else 1000)
    write_json(args.out, results)
    print_table(results)
    print(f"\nwritten: {args.out}")
    return results


if __name__ == "__main__":
    main()
