"""A search three ways, on this machine: `python benchmarks/search_bench.py [--trials 16] [--quick]` prints a
table and writes bench-results/search.json (docs/scaling.md shows the figures).

(a) today's way: `hparams_search=optuna` in one process, no pruning;
(b) one process with the preset's pruner (MedianPruner);
(c) two workers with pruning on one study (a SQLite file), started together, one thread each.

Each uses the same preset, the same sampler seed and the same number of trials. Reported: the wall time until
the last worker ended, the epochs trained in all (a pruned trial's count up to its pruning), and the best
`val/sse_per_curve_best` of the study. Never asserted anywhere: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "data.num_train=2048",
    "data.num_val=256",
    "data.num_test=256",
    "trainer.max_epochs=30",
    "inversion_score=null",
]


def search(args: list[str], sweep: Path) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "train.py"), "hparams_search=optuna", *args, f"hydra.sweep.dir={sweep}"]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def measure(name: str, workers: list[list[str]], root: Path, storage: str) -> dict:
    started = time.perf_counter()
    processes = [search(args, root / f"{name}-{i}") for i, args in enumerate(workers)]
    errors = [p.communicate()[1] for p in processes]
    wall = time.perf_counter() - started
    for process, err in zip(processes, errors):
        if process.returncode != 0:
            raise SystemExit(f"{name}: a worker failed (exit {process.returncode})\n{err[-3000:]}")
    study = optuna.load_study(study_name="betaae", storage=storage)
    states = [t.state.name.lower() for t in study.trials]
    epochs = 0
    for trial in study.trials:
        job = Path(trial.user_attrs.get("job_dir", ""))
        metrics = json.loads((job / "metrics.json").read_text()) if (job / "metrics.json").is_file() else {}
        epochs += int(metrics.get("epochs", 0))
    return {
        "way": name,
        "workers": len(workers),
        "wall_s": wall,
        "epochs": epochs,
        "best_val": study.best_value,
        "complete": states.count("complete"),
        "pruned": states.count("pruned"),
        "failed": states.count("fail"),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results/search.json"))
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that the benchmark runs")
    parser.add_argument("--only", default="today,pruned,two", help="comma-separated ways of today,pruned,two")
    parser.add_argument("--warmup", type=int, help="the pruner's n_warmup_steps, in place of the preset's")
    parser.add_argument("--merge", action="store_true", help="add to the ways measured in an existing --out")
    parser.add_argument("--keep", type=Path, help="copy each way's study (its SQLite file) into this folder")
    options = parser.parse_args(argv)
    base = [f"hydra.sweeper.n_trials={options.trials}", *(QUICK if options.quick else [])]
    if options.quick:
        base.append("hydra.sweeper.pruner.n_warmup_steps=5")
    if options.warmup is not None:
        base.append(f"hydra.sweeper.pruner.n_warmup_steps={options.warmup}")
    results = []
    with tempfile.TemporaryDirectory(prefix="betaae-search-bench-") as tmp:
        root = Path(tmp)
        for way in options.only.split(","):
            storage = f"sqlite:///{root / way}.db"
            args = [*base, f"hydra.sweeper.storage={storage}"]
            if way == "today":
                workers = [[*args, "hydra.sweeper.pruner=null"]]
            elif way == "pruned":
                workers = [args]
            else:
                workers = [[*args, "num_threads=1"], [*args, "num_threads=1"]]
            results.append(measure(way, workers, root, storage))
            results[-1]["warmup"] = options.warmup
            results[-1]["best_trial"] = optuna.load_study(study_name="betaae", storage=storage).best_trial.number
            if options.keep is not None:
                options.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(root / f"{way}.db", options.keep / f"{way}-warmup{options.warmup}.db")
            print(json.dumps(results[-1]), flush=True)
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
        "trials": options.trials,
        "quick": options.quick,
        "results": results,
    }
    if options.merge and options.out.is_file():
        earlier = json.loads(options.out.read_text())
        record["results"] = [*earlier["results"], *results]
        results = record["results"]
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(record, indent=2) + "\n")
    today = next((r for r in results if r["way"] == "today"), None)
    results = record["results"]
    print("| way | wall (s) | epochs in all | best val | trials complete / pruned |")
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        ratio = f" ({r['wall_s'] / today['wall_s']:.0%} of today's)" if today and r is not today else ""
        warmup = f", warm-up {r['warmup']} epochs" if r.get("warmup") is not None else ""
        print(
            f"| {r['way']}{warmup} | {r['wall_s']:.0f}{ratio} | {r['epochs']} | {r['best_val']:.3g} | "
            f"{r['complete']} / {r['pruned']} |"
        )
    return record


if __name__ == "__main__":
    main()
