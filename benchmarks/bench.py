"""Side-by-side measurements on this machine: `python benchmarks/bench.py [--only a,b] [--quick]` prints a
table and writes bench-results/bench.json (docs/performance.md shows and explains the figures).

(a) data: the notebook's per-curve loop against the data module's vectorized build;
(b) steps: the Lightning loop (Learner) against a plain loop, same model, optimizer and batches;
(c) seeds: the default `python train.py` and `experiment=quick` at seeds 0-4, each alone: wall time from the
    shell and every quality figure, as mean ± sd over the seeds;
(d) against the plain loop: the default run's train_time_s against a careful plain PyTorch loop with the same
    settings (benchmarks/plain_loop.py), under the same conditions: alone, two started together, and beside
    a busy process of our own (a bounded busy loop on one core). The plain loop uses torch's own thread
    count alone and one thread when the CPU is shared (two threads per process collapse then);
(e) threads: the default run alone against fixed thread counts, to check that following the load costs
    nothing on an idle machine;
(f) sweeps: a 4-job sweep of the default model with the default launcher (jobs side by side) against the
    basic launcher (one after another);
(g) the test set: the default checkpoint's test mean on several independent draws of the test set, against
    plain uniform draws of the same size (why the test set is importance-sampled);
(h) inversion: 1,000 targets with intervals, Nelder-Mead and the batched method;
(i) answers: how fast a refusal, --help, --cfg job and one inversion come back;
(j) compile: the default model for 60 epochs eager, compiled with an empty Inductor cache (cold) and compiled
    again with that cache (cached): the compile's cost, the saving per step, and where compiling repays itself;
(k) startup: where the time to the first training step goes, by package (`python -X importtime`).
Timings are medians or bests of repeats, never asserted anywhere: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

from betaae.core.files import write_json
from betaae.learner.datamodule import CurveDataModule, TensorBatches
from betaae.learner.module import Learner
from betaae.learner.plugins import LeanPrecision
from betaae.learner.quiet import quiet_lightning

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["callbacks.latent_images.every_n_epochs=0"]
FIGURES = (
    "test/sse_per_curve",
    "test/sse_per_curve_median",
    "test/sse_per_curve_p90",
    "test/sse_per_curve_p99",
    "test/sse_per_curve_max",
    "test/sse_per_curve_edge",
    "val/sse_per_curve_best",
    "train_time_s",
    "late_val_spikes",
    "start_s",
    "global_step",
    "compile_s",
)


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
    dm = CurveDataModule(num_train=n, online=False)
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


def _learner(batch_size: int, num_train: int) -> tuple[CurveDataModule, Learner]:
    dm = CurveDataModule(num_train=num_train, num_val=100, num_test=100, batch_size=batch_size, online=False)
    torch.manual_seed(0)
    return dm, Learner(model={"_target_": "betaae.models.AutoEncoder"}, data=dm.spec)


def lightning_rate(batch_size: int, num_train: int, epochs: int, device: str) -> float:
    dm, learner = _learner(batch_size, num_train)
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


def plain_rate(batch_size: int, num_train: int, epochs: int, device: str) -> float:
    """A hand-written loop with the module's own optimizer and schedule, the same batches, data on the device."""
    dev = torch.device("cuda" if device == "gpu" else device)
    dm, learner = _learner(batch_size, num_train)
    dm.setup()
    learner = learner.to(dev)
    (optimizer,), (schedule,) = learner.configure_optimizers()
    model = learner.model
    now = {"epoch": 0}
    batches = TensorBatches(
        tuple(t.to(dev) for t in dm.splits["train"]), batch_size, True, 0, epoch=lambda: now["epoch"]
    )
    steps, started = 0, time.perf_counter()
    for epoch in range(epochs):
        if epoch == 1:
            started = time.perf_counter()
        now["epoch"] = epoch
        for curves, _ in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = (model(curves) - curves).pow(2).sum()
            loss.backward()
            optimizer.step()
            steps += epoch >= 1
        schedule.step()
    return steps / (time.perf_counter() - started)


def bench_steps(batch_sizes: list[int], steps_per_epoch: int, repeats: int, device: str) -> list[dict]:
    rows = []
    for batch_size in batch_sizes:
        plain, lightning = [], []
        for _ in range(repeats):  # interleaved, so that a noisy moment hurts both sides alike
            plain.append(plain_rate(batch_size, batch_size * steps_per_epoch, 3, device))
            lightning.append(lightning_rate(batch_size, batch_size * steps_per_epoch, 3, device))
        best_plain, best_ours = max(plain), max(lightning)
        rows.append(
            {
                "batch_size": batch_size,
                "plain_steps_per_s": best_plain,
                "lightning_steps_per_s": best_ours,
                "ratio": best_ours / best_plain,
            }
        )
    return rows


def start_train(out_dir: Path, overrides: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), f"hydra.run.dir={out_dir}", *overrides],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_train(process: subprocess.Popen, out_dir: Path, started: float) -> dict:
    stdout, stderr = process.communicate()
    wall = time.time() - started
    if process.returncode != 0:
        raise RuntimeError(f"train.py failed: {stderr.strip().splitlines()[-1:]}")
    metrics = json.loads((out_dir / "metrics.json").read_text())
    figures = {k: metrics.get(k) for k in FIGURES}
    return {"wall_s": wall, **figures, "gflop_per_s": gflop_rate(out_dir, metrics), "stdout": stdout}


def gflop_rate(out_dir: Path, metrics: dict) -> float | None:
    """The training's arithmetic rate: 6 FLOP per parameter per curve per step (forward 2, backward 4)."""
    import yaml

    checkpoint = out_dir / "checkpoints" / "best.ckpt"
    if not checkpoint.is_file() or not metrics.get("train_time_s"):
        return None
    weights = torch.load(checkpoint, weights_only=True, map_location="cpu")["state_dict"]
    params = sum(v.numel() for v in weights.values())
    batch = yaml.safe_load((out_dir / "config.yaml").read_text())["data"]["batch_size"]
    return 6 * params * batch * metrics["global_step"] / metrics["train_time_s"] / 1e9


def train_script(out_dir: Path, overrides: list[str]) -> dict:
    """`python train.py overrides` as a user runs it: wall time from the shell, the rest from metrics.json."""
    started = time.time()
    return finish_train(start_train(out_dir, overrides), out_dir, started)


def start_plain(overrides: list[str], threads: int | None, out: Path) -> subprocess.Popen:
    args = [sys.executable, str(ROOT / "benchmarks" / "plain_loop.py"), "--out", str(out)]
    args += ["--threads", str(threads)] if threads else []
    return subprocess.Popen([*args, *overrides], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish_plain(process: subprocess.Popen, out: Path) -> dict:
    _, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"plain_loop.py failed: {stderr.strip().splitlines()[-1:]}")
    return json.loads(out.read_text())


def busy_loop(seconds: float) -> subprocess.Popen:
    """A CPU-bound process on one core that stops by itself."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def spread(values: list[float]) -> dict:
    values = [float(v) for v in values if v is not None]
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def bench_seeds(tmp: Path, overrides: list[str], seeds: list[int], name: str) -> dict:
    runs = [train_script(tmp / f"{name}{seed}", [*overrides, f"seed={seed}"]) for seed in seeds]
    keys = ["wall_s", "gflop_per_s", *FIGURES]
    return {
        "seeds": seeds,
        "overrides": overrides,
        "console": runs[0]["stdout"],  # what the first run printed, as a user sees it
        **{k: spread([r[k] for r in runs]) for k in keys if runs[0].get(k) is not None},
    }


def bench_conditions(tmp: Path, overrides: list[str], busy_s: float) -> dict:
    """The default run and the plain loop alone, two of each started together, and each beside a busy loop."""
    out: dict = {}
    cores = os.cpu_count() or 1
    # Alone: the best of three of each, interleaved, since this machine's speed drifts by a quarter within minutes.
    runs, plains = [], []
    for rep in range(3):
        started = time.time()
        runs.append(finish_train(start_train(tmp / f"alone{rep}", overrides), tmp / f"alone{rep}", started))
        plains.append(
            finish_plain(start_plain(overrides, None, tmp / f"p_alone{rep}.json"), tmp / f"p_alone{rep}.json")
        )
    out["alone"] = {
        "run": min(runs, key=lambda r: r["train_time_s"]),
        "plain": min(plains, key=lambda p: p["train_s"]),
        "repeats": {"run": [r["train_time_s"] for r in runs], "plain": [p["train_s"] for p in plains]},
    }
    started = time.time()
    pair = [start_train(tmp / f"pair{i}", overrides) for i in range(2)]
    out["two together"] = {"run": [finish_train(p, tmp / f"pair{i}", started) for i, p in enumerate(pair)]}
    pair = [start_plain(overrides, 1 if cores <= 2 else None, tmp / f"p_pair{i}.json") for i in range(2)]
    out["two together"]["plain"] = [finish_plain(p, tmp / f"p_pair{i}.json") for i, p in enumerate(pair)]
    busy, started = busy_loop(busy_s), time.time()
    out["beside a busy loop"] = {"run": finish_train(start_train(tmp / "busy", overrides), tmp / "busy", started)}
    busy.wait()
    busy = busy_loop(busy_s)
    plain = start_plain(overrides, 1 if cores <= 2 else None, tmp / "p_busy.json")
    out["beside a busy loop"]["plain"] = finish_plain(plain, tmp / "p_busy.json")
    busy.wait()
    alone = out["alone"]["run"]["train_time_s"]
    for case in out.values():
        runs = case["run"] if isinstance(case["run"], list) else [case["run"]]
        plains = case["plain"] if isinstance(case["plain"], list) else [case["plain"]]
        for r in runs:
            r.pop("stdout", None)
        case["slowdown_vs_alone"] = [r["train_time_s"] / alone for r in runs]
        case["ratio_to_plain"] = [r["train_time_s"] / p["train_s"] for r, p in zip(runs, plains)]
    return out


def bench_threads(tmp: Path, overrides: list[str]) -> dict:
    """The default model (threads following the load) against each fixed thread count, alone, interleaved,
    for 60 epochs a run (the length the thread study used)."""
    overrides = [*overrides, "trainer.max_epochs=60"]
    counts = sorted({1, os.cpu_count() or 1})
    times: dict[str, list[float]] = {"follow the load": []}
    for rep in range(2):
        times["follow the load"].append(train_script(tmp / f"follow{rep}", overrides)["train_time_s"])
        for n in counts:
            times.setdefault(f"num_threads={n}", []).append(
                train_script(tmp / f"t{n}_{rep}", [*overrides, f"num_threads={n}"])["train_time_s"]
            )
    best = {k: min(v) for k, v in times.items()}
    fastest_fixed = min(v for k, v in best.items() if k != "follow the load")
    return {"train_time_s": best, "ratio_to_fastest_fixed": best["follow the load"] / fastest_fixed}


def bench_sweeps(tmp: Path, extra: list[str]) -> dict:
    sweep = ["-m", "optimizer.lr=3e-3,5e-3", "scheduler.gamma=0.95,0.97", *QUIET, *extra]
    out = {}
    for launcher, args in (
        ("one after another (hydra/launcher=basic)", ["hydra/launcher=basic"]),
        ("side by side (the default)", []),
    ):
        started = time.time()
        result = subprocess.run(
            [sys.executable, str(ROOT / "train.py"), *sweep, *args, f"hydra.sweep.dir={tmp / launcher[:4]}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"sweep failed: {result.stderr.strip().splitlines()[-1:]}")
        out[launcher] = time.time() - started
    first, second = out.values()
    out["ratio"] = second / first
    return out


def bench_test_set(run_dir: Path, draws: int) -> dict:
    """The test mean of one checkpoint on several independent draws of the test set, importance-sampled as a
    run's is, and drawn plainly (uniformly) with as many curves."""
    from betaae.families.sampling import sample_params
    from betaae.models.checkpoints import rebuild
    from betaae.models.scoring import score

    loaded = rebuild(run_dir)
    model, family = loaded.model, loaded.family
    sampled, uniform = [], []
    for seed in range(draws):
        dm = CurveDataModule(test_seed=1000 + seed)
        sampled.append(score(model, dm, "test").mean())
        generator = torch.Generator().manual_seed(5000 + seed)
        params = sample_params(dm.low, dm.high, dm.hparams.num_test, generator)
        errors = []
        with torch.no_grad():
            for chunk in params.split(100_000):
                curves = family.log_pdf(dm.grid.double(), chunk).float()
                errors.append((model.reconstruct(curves) - curves).double().pow(2).sum(dim=1))
        uniform.append(float(torch.cat(errors).mean()))
    return {
        "curves": CurveDataModule().hparams.num_test,
        "draws": draws,
        "importance_sampled": spread(sampled),
        "uniform": spread(uniform),
    }


def bench_inversion(run_dir: Path, count: int) -> dict:
    from betaae.inversion.api import invert, load_model

    model = load_model(run_dir)
    rng = np.random.default_rng(0)
    true = 0.2 + 4.8 * rng.random((count, 2))
    curves = model.curves(true) + rng.normal(0, 0.05, (count, len(model.grid)))
    invert(model, curves[:5], method="adam")  # warm-up
    out = {"targets": count}
    for method in ("adam", "nelder-mead"):
        started = time.perf_counter()
        result = invert(model, curves, method=method, noise_sd=0.05)
        out[method] = {
            "seconds": time.perf_counter() - started,
            "median_residual": float(np.median(result.residual_decoded_vs_target)),
            "median_abs_error_alpha": float(np.median(np.abs(result.params[:, 0] - true[:, 0]))),
        }
    return out


def bench_answers(run_dir: Path, tmp: Path, repeats: int) -> dict:
    """Wall seconds, from the shell, for the quick answers a user waits on (best of repeats)."""
    (tmp / "bad.csv").write_text("1,2,3\n")
    commands = {
        "bad option (latent_dims=0)": ["train.py", "latent_dims=0"],
        "bad optimizer option (optimizer.lr=0)": ["train.py", "optimizer.lr=0"],
        "bad model option (model.hidden=[0])": ["train.py", "model.hidden=[0]"],
        "no such GPU (trainer.accelerator=mps)": ["train.py", "trainer.accelerator=mps"],
        "trainer.devices=0": ["train.py", "trainer.devices=0"],
        "a finished run resumed with fewer epochs": ["train.py", f"resume={run_dir}", "trainer.max_epochs=1"],
        "train.py --help": ["train.py", "--help"],
        "train.py --cfg job": ["train.py", "--cfg", "job"],
        "invert.py, a bad target file": ["invert.py", f"ckpt_path={run_dir}", f"targets={tmp / 'bad.csv'}"],
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


def bench_compile(tmp: Path, overrides: list[str], epochs: int) -> dict:
    """Eager against compiled, 60 epochs each: cold (an empty Inductor cache), then cached (three times,
    interleaved with eager runs, best of each)."""
    overrides = [*overrides, f"trainer.max_epochs={epochs}"]
    cache = tmp / "inductor-cache"
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache)}

    def one(name: str, setting: str) -> dict:
        out = tmp / name
        started = time.time()
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), f"hydra.run.dir={out}", *overrides, f"compile={setting}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        result = finish_train(process, out, started)
        result.pop("stdout")
        return result

    cold = one("cold", "true")
    eager, cached = [], []
    for rep in range(3):
        eager.append(one(f"eager{rep}", "false"))
        cached.append(one(f"cached{rep}", "true"))
    best_eager = min(eager, key=lambda r: r["train_time_s"])
    best_cached = min(cached, key=lambda r: r["train_time_s"])
    steps = best_eager["global_step"]
    # The compiled step's own time: training less the first step, which holds the compile.
    per_step_saving = (best_eager["train_time_s"] - (best_cached["train_time_s"] - best_cached["compile_s"])) / steps
    return {
        "epochs": epochs,
        "steps": steps,
        "eager_train_s": best_eager["train_time_s"],
        "cached_train_s": best_cached["train_time_s"],
        "cold_train_s": cold["train_time_s"],
        "compile_cold_s": cold["compile_s"],
        "compile_cached_s": best_cached["compile_s"],
        "saving_per_step_ms": 1000 * per_step_saving,
        "saving_share": per_step_saving * steps / best_eager["train_time_s"],
        "break_even_steps_cold": cold["compile_s"] / per_step_saving if per_step_saving > 0 else None,
        "break_even_steps_cached": best_cached["compile_s"] / per_step_saving if per_step_saving > 0 else None,
        "test_eager": best_eager["test/sse_per_curve"],
        "test_compiled": best_cached["test/sse_per_curve"],
    }


STARTUP_MODULES = (
    "torch",
    "torch._dynamo",
    "scipy.signal",
    "matplotlib",
    "lightning",
    "hydra",
    "omegaconf",
    "betaae.cli.train",
    "betaae.runs.training",
)


def bench_startup(repeats: int) -> dict:
    """Cumulative import seconds of the packages train.py loads before its first step (best of repeats), from
    `python -X importtime`, in the order train.py imports them."""
    best: dict[str, float] = {}
    for _ in range(repeats):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import betaae.cli.train, betaae.runs.training"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line:
                continue
            _, cumulative, name = line.split("|")
            name = name.strip()
            if name in STARTUP_MODULES and cumulative.strip().isdigit():
                seconds_ = int(cumulative) / 1e6
                best[name] = min(best.get(name, seconds_), seconds_)
    return {name: best[name] for name in STARTUP_MODULES if name in best}


SECTIONS = (
    "data",
    "steps",
    "seeds",
    "conditions",
    "threads",
    "sweeps",
    "test_set",
    "inversion",
    "answers",
    "compile",
    "startup",
)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench.json"))
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that the benchmark runs")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--merge", action="store_true", help="update the sections measured in an existing --out")
    parser.add_argument("--keep-run", type=Path, help="copy the default run of seed 0 here (for inversion_check.py)")
    args = parser.parse_args(argv)
    only, quick, device = set(args.only.split(",")), args.quick, args.device
    tiny = ["data.num_train=256", "data.num_val=64", "data.num_test=2000", "trainer.max_epochs=2"] if quick else []
    base = [f"trainer.accelerator={device}", *QUIET, *tiny]
    seeds = list(range(2 if quick else args.seeds))
    name = torch.cuda.get_device_name() if device == "gpu" else f"CPU, {os.cpu_count()} cores"
    results: dict = {"machine": name, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
    if "data" in only:
        results["data"] = bench_data(500 if quick else 10_000, 3 if quick else 7)
    if "steps" in only:
        sizes = [128, 1024, 16384] if device == "gpu" else [1, 128]
        results["steps"] = bench_steps(sizes, 20 if quick else 300, 1 if quick else 3, device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "seeds" in only:
            results["default"] = bench_seeds(tmp, base, seeds, "default")
            results["quick"] = bench_seeds(tmp, [*base, "experiment=quick"], seeds, "quick")
            if device == "gpu":
                results["gpu_fast"] = bench_seeds(tmp, [*base, "experiment=gpu_fast"], seeds[:1], "gpu_fast")
        if "conditions" in only and device == "cpu":
            results["conditions"] = bench_conditions(tmp, base, 30 if quick else 120)
        if "threads" in only and device == "cpu":
            results["threads"] = bench_threads(tmp, base)
        if "compile" in only:
            results["compile"] = bench_compile(tmp, base, 2 if quick else 60)
        if "startup" in only:
            results["startup"] = bench_startup(1 if quick else 3)
        if "sweeps" in only:
            results["sweeps"] = bench_sweeps(tmp, [f"trainer.accelerator={device}", *tiny])
        run = tmp / "default0"
        if not (run / "metrics.json").exists() and ({"test_set", "inversion", "answers"} & only):
            train_script(run, base)
        if "test_set" in only:
            results["test_set"] = bench_test_set(run, 3 if quick else 10)
        if "inversion" in only:
            results["inversion"] = bench_inversion(run, 50 if quick else 1000)
        if "answers" in only:
            results["answers"] = bench_answers(run, tmp, 1 if quick else 3)
        if args.keep_run is not None and run.is_dir():
            shutil.copytree(run, args.keep_run)
    measured = [k for k in results if k not in ("machine", "torch", "date")]
    if args.merge and args.out.is_file():
        earlier = json.loads(args.out.read_text())
        # Each section keeps the date it was measured on: a merge measures only some of them again.
        dates = earlier.get("dates") or {
            k: earlier.get("date") for k in earlier if k not in ("machine", "torch", "date")
        }
        results = {**earlier, **results, "dates": {**dates, **dict.fromkeys(measured, results["date"])}}
    write_json(args.out, results)
    print(json.dumps(results, indent=1, default=str))
    print(f"\nwritten: {args.out}")
    return results


if __name__ == "__main__":
    main()
