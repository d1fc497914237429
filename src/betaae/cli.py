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
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from betaae.errors import BetaaeError, ConfigError, InterruptedRun
from betaae.outputs import atomic_write_bytes

log = logging.getLogger("betaae")


def one_line(error: BaseException) -> str:
    """An exception's message on one line: a list after a colon becomes comma-separated, and
    Hydra's search-path dump and HYDRA_FULL_ERROR hint are dropped."""
    text = str(error).split("Config search path:")[0]
    folded: list[str] = []
    for line in (line.strip() for line in text.splitlines()):
        if not line or "HYDRA_FULL_ERROR" in line:
            continue
        if folded and folded[-1].endswith((":", ",")):
            folded[-1] = f"{folded[-1]} {line}{'' if line.endswith(':') else ','}"
        else:
            folded.append(line)
    message = "; ".join(part.rstrip(",") for part in folded) or type(error).__name__
    if message.startswith("Could not override '"):
        key = message.split("'")[1]
        message = (
            f"unknown option {key}: it is not in the config (check the spelling, or add a new key with +{key}=...)"
        )
    return message


def _verbose(cfg: DictConfig | None = None) -> bool:
    return bool(os.environ.get("HYDRA_FULL_ERROR")) or bool(cfg is not None and cfg.get("verbose"))


def task(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap a Hydra task function with the project's error handling (see the module docstring)."""

    @functools.wraps(fn)
    def wrapped(cfg: DictConfig) -> Any:
        try:
            return fn(cfg)
        except OmegaConfBaseException as error:
            # A key deleted or mistyped in a way composition let through is still a config problem.
            return _fail(cfg, ConfigError(one_line(error)))
        except Exception as error:
            return _fail(cfg, error)

    return wrapped


def _fail(cfg: DictConfig, error: Exception) -> float:
    """Record a task's error in its output directory; in a multirun return NaN, else report and exit."""
    ours = isinstance(error, BetaaeError)
    message = one_line(error) if ours else f"{type(error).__name__}: {one_line(error)}"
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    if HydraConfig.initialized():
        detail = message if ours else traceback.format_exc()
        atomic_write_bytes(Path(HydraConfig.get().runtime.output_dir) / "error.txt", (detail + "\n").encode())
    if multirun:
        log.error("job failed: %s", message)
        return float("nan")
    if ours and not _verbose(cfg):
        print(f"error: {message}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code if isinstance(error, InterruptedRun) else 2)
    raise error


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
        print(
            f"error: {SweepSummary.failed_jobs} job(s) of the sweep failed; see {SweepSummary.last_summary}",
            file=sys.stderr,
        )
        sys.exit(1)
