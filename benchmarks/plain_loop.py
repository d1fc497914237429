"""A careful plain PyTorch loop with the settings of `python train.py OVERRIDES`, the reference the benchmark
times the project against: `python benchmarks/plain_loop.py [--threads N] [--out FILE] [OVERRIDES ...]`.

Same model, optimizer, schedule, batch size, steps and data as the run (fresh curves drawn for each epoch
in one vectorized call, or a reshuffled fixed set), the val split scored every epoch as the run does, and
nothing else: no checkpoints, images, logging or figures. Timed like the run's train_time_s. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from betaae.cli.main import register_resolvers
from betaae.families.sampling import sample_params, split_seed
from betaae.learner.datamodule import CurveDataModule
from betaae.models.base import build_model
from betaae.models.optimizers import build_optimizer, build_scheduler
from betaae.models.scoring import score

ROOT = Path(__file__).resolve().parents[1]


def settings(overrides: list[str]) -> dict:
    register_resolvers()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    plain = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("model", "data", "optimizer", "scheduler")}
    plain["data"].pop("_target_")
    plain["epochs"] = int(cfg.trainer.max_epochs)
    plain["seed"] = int(cfg.seed)
    return plain


def run(overrides: list[str], threads: int | None = None, device: str = "cpu") -> dict:
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device("cuda" if device == "gpu" else device)
    config = settings(overrides)
    data = config["data"]
    dm = CurveDataModule(**data)
    dm.setup()
    val_curves, _, val_weights = (t.to(dev) for t in dm.splits["val"])
    torch.manual_seed(config["seed"])
    model = build_model(config["model"], data["num_points"]).to(dev)
    optimizer = build_optimizer(config["optimizer"], model.parameters(), dev.type)
    schedule = build_scheduler(config["scheduler"], optimizer)
    batch = data["batch_size"]
    steps = data.get("steps_per_epoch") or max(1, data["num_train"] // batch)
    grid = dm.grid.double()
    fixed = None if data["online"] else dm.splits["train"][0].to(dev)
    generator = torch.Generator().manual_seed(split_seed(config["seed"], "train"))

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    sync()
    started = time.perf_counter()
    vals = []
    for _ in range(config["epochs"]):
        if fixed is None:  # a whole epoch of fresh curves in one call
            params = sample_params(dm.low, dm.high, steps * batch, generator)
            epoch = dm.family.log_pdf(grid, params).float().to(dev)
        else:
            epoch = fixed[torch.randperm(fixed.shape[0], generator=generator).to(dev)]
        model.train()
        for start in range(0, steps * batch if fixed is None else epoch.shape[0], batch):
            curves = epoch[start : start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = (model.reconstruct(curves) - curves).pow(2).sum()
            loss.backward()
            optimizer.step()
        schedule.step()
        model.eval()
        with torch.no_grad():
            errors = (model.reconstruct(val_curves) - val_curves).pow(2).sum(dim=1)
            vals.append((val_weights * errors).sum() / val_weights.sum())
    sync()
    seconds = time.perf_counter() - started
    figures = score(model, dm, "test", device=dev).figures()
    val = torch.stack(vals).cpu()
    return {
        "overrides": overrides,
        "threads": torch.get_num_threads(),
        "train_s": seconds,
        "val_sse_per_curve_best": float(val.min()),
        **{k.replace("/", "_"): v for k, v in figures.items()},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    result = run(args.overrides, args.threads, args.device)
    text = json.dumps(result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text, flush=True)
    return result


if __name__ == "__main__":
    main()
