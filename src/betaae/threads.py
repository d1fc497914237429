"""How many CPU threads torch uses for a run."""

from __future__ import annotations

import os

from omegaconf import DictConfig


def limit_threads(cfg: DictConfig) -> None:
    """Honour num_threads; under the joblib launcher, share the cores between parallel jobs."""
    import torch
    from hydra.core.hydra_config import HydraConfig

    threads = cfg.get("num_threads")
    if threads is None and HydraConfig.initialized():
        launcher = HydraConfig.get().launcher
        if "joblib" in str(launcher.get("_target_", "")).lower():
            jobs = launcher.get("n_jobs", -1)
            jobs = os.cpu_count() if jobs in (None, -1) else jobs
            threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    if threads:
        torch.set_num_threads(int(threads))
