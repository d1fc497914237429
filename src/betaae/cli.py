"""What the entry points share: errors become one line and an exit code, never a traceback.

- A BetaaeError (bad option, bad checkpoint, bad target, full disk, non-finite loss) prints `error: ...`
  and exits 2; an interrupted run exits 130 (Ctrl-C) or 143 (SIGTERM); a sweep with failed jobs exits 1.
- Hydra's own composition errors (unknown key, unknown group option, bad override syntax) are folded
  into one line and exit 2 as well. Hydra re-raises them, instead of printing them itself, when
  HYDRA_FULL_ERROR is set: main() sets it for this purpose.
- Inside a multirun, a failing job records its error in its own directory and returns NaN, so the other
  jobs still run; the sweep's exit code then reports the failure.
- `verbose=true`, or HYDRA_FULL_ERROR=1 set by the user, shows full tracebacks instead.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from betaae.errors import BetaaeError, ConfigError, ResourceError
from betaae.outputs import DISK_ERRORS, atomic_write_bytes

log = logging.getLogger("betaae")
SET_BY_US = "BETAAE_SET_HYDRA_FULL_ERROR"  # tells this process's children (DDP ranks) who set it


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


def tracebacks_wanted(cfg: DictConfig | None = None) -> bool:
    by_user = bool(os.environ.get("HYDRA_FULL_ERROR")) and not os.environ.get(SET_BY_US)
    return by_user or bool(cfg is not None and cfg.get("verbose")) or "verbose=true" in sys.argv[1:]


def task(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap a Hydra task function with the project's error handling (see the module docstring)."""

    @functools.wraps(fn)
    def wrapped(cfg: DictConfig) -> Any:
        try:
            return fn(cfg)
        except OmegaConfBaseException as error:
            # A key deleted or mistyped in a way composition let through is still a config problem.
            return _fail(cfg, ConfigError(one_line(error)))
        except OSError as error:
            # A full or read-only disk can surface from any writer (TensorBoard's, Lightning's, ours).
            disk = _disk_error(error)
            return _fail(cfg, disk if disk is not None else error)
        except Exception as error:
            return _fail(cfg, _disk_error(error) or error)

    return wrapped


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    """An exception and its causes (or the exceptions it was raised while handling), each once."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        yield error
        seen.add(id(error))
        error = error.__cause__ or error.__context__


def _disk_error(error: BaseException) -> ResourceError | None:
    """A ResourceError for a disk that is full or read-only anywhere in an exception's chain, else None."""
    for link in _chain(error):
        if isinstance(link, ResourceError):
            return link
        if isinstance(link, OSError) and link.errno in DISK_ERRORS:
            where = f"writing {link.filename}" if link.filename else "writing the run's files"
            return ResourceError(f"{DISK_ERRORS[link.errno]} while {where}; free some space or use paths.log_dir=...")
    return None


def _fail(cfg: DictConfig, error: Exception) -> float:
    """Record a task's error in its output directory; in a multirun return NaN, else raise it on."""
    ours = isinstance(error, BetaaeError)
    message = one_line(error) if ours else f"{type(error).__name__}: {one_line(error)}"
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    output_dir = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else None
    # A resume runs in the run's own directory: its record there must not gain an error from a refused resume.
    if output_dir is not None and output_dir.is_dir() and not cfg.get("resume"):
        detail = message if ours else traceback.format_exc()
        # The disk that failed the run may refuse this too; the message still reaches the console.
        with contextlib.suppress(ResourceError):
            atomic_write_bytes(output_dir / "error.txt", (detail + "\n").encode())
    if multirun:
        log.error("job failed: %s", message)
        return float("nan")
    if ours and not tracebacks_wanted(cfg):
        # Exiting here, rather than raising through Hydra, keeps Hydra from adding a line of its own.
        print(f"error: {message}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)
    raise error


def _ours(error: BaseException) -> BetaaeError | None:
    """The project's own error in an exception's chain of causes, if there is one."""
    return next((link for link in _chain(error) if isinstance(link, BetaaeError)), None)


def main(hydra_main: Callable[[], Any]) -> None:
    """Run a @hydra.main function, turning project and config errors into one line and an exit code."""
    if not tracebacks_wanted():
        os.environ["HYDRA_FULL_ERROR"] = os.environ[SET_BY_US] = "1"
    try:
        hydra_main()
    except (BetaaeError, HydraException, OmegaConfBaseException) as error:
        if tracebacks_wanted():
            raise
        error = _ours(error) or error  # a BetaaeError raised inside a resolver arrives wrapped by OmegaConf
        print(f"error: {one_line(error)}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code if isinstance(error, BetaaeError) else 2)
