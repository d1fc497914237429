"""What the entry points share: project errors become one line and an exit code, never a traceback.

- A BetaaeError (bad option, bad checkpoint, bad target, non-finite loss) prints `error: ...` and exits 2;
  an interrupted run exits 130 (Ctrl-C) or 143 (SIGTERM).
- Hydra's own composition errors (unknown key, unknown group option, bad override syntax) are folded
  into one line and exit 2 as well.
- Inside a multirun, a failing job records its error in its own directory and returns NaN, so the other
  jobs still run; the sweep's exit code then reports the failure.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from betaae.errors import BetaaeError, InterruptedRun
from betaae.outputs import atomic_write_bytes

log = logging.getLogger("betaae")

# ${if_null:a,b} is a when a is set, else b: a resumed run writes into its own directory.
OmegaConf.register_new_resolver("if_null", lambda value, default: default if value is None else value, replace=True)


def one_line(error: BaseException) -> str:
    """An exception's message folded onto one line, without Hydra's HYDRA_FULL_ERROR hint."""
    parts = [line.strip() for line in str(error).splitlines()]
    return "; ".join(p for p in parts if p and "HYDRA_FULL_ERROR" not in p) or type(error).__name__


def _verbose(cfg: DictConfig | None = None) -> bool:
    return bool(os.environ.get("HYDRA_FULL_ERROR")) or bool(cfg is not None and cfg.get("verbose"))


def task(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap a Hydra task function with the project's error handling (see the module docstring)."""

    @functools.wraps(fn)
    def wrapped(cfg: DictConfig) -> Any:
        multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
        try:
            return fn(cfg)
        except Exception as error:
            message = one_line(error) if isinstance(error, BetaaeError) else f"{type(error).__name__}: {one_line(error)}"
            if HydraConfig.initialized():
                detail = message if isinstance(error, BetaaeError) else traceback.format_exc()
                atomic_write_bytes(Path(HydraConfig.get().runtime.output_dir) / "error.txt", (detail + "\n").encode())
            if multirun:
                log.error("job failed: %s", message)
                return float("nan")
            if isinstance(error, BetaaeError) and not _verbose(cfg):
                print(f"error: {message}", file=sys.stderr, flush=True)
                sys.exit(error.exit_code if isinstance(error, InterruptedRun) else 2)
            raise

    return wrapped


def main(hydra_main: Callable[[], Any]) -> None:
    """Run a @hydra.main function with one-line reports of Hydra's own config errors."""
    import hydra._internal.utils as hydra_utils

    original = hydra_utils.run_and_report

    def report(func: Callable[[], Any]) -> Any:
        def one_line_config_errors() -> Any:
            try:
                return func()
            except (HydraException, OmegaConfBaseException) as error:
                if _verbose():
                    raise
                print(f"error: {one_line(error)}", file=sys.stderr, flush=True)
                sys.exit(2)

        return original(one_line_config_errors)

    hydra_utils.run_and_report = report
    try:
        hydra_main()
    finally:
        hydra_utils.run_and_report = original
    from betaae.sweep import SweepSummary

    if SweepSummary.failed_jobs:
        print(f"error: {SweepSummary.failed_jobs} job(s) of the sweep failed; see {SweepSummary.last_summary}",
              file=sys.stderr)  # fmt: skip
        sys.exit(1)
