"""What the entry points share: errors and interruptions become one line and an exit code, never a traceback.

- A BetaaeError (bad option, bad checkpoint, bad target, full disk, non-finite loss) prints `error: ...`
  and exits 2; Ctrl-C exits 130 and SIGTERM 143, wherever they land, each with one line that says what was
  kept and how to continue; a sweep with failed jobs exits 1.
- Hydra's own composition errors (unknown key, unknown group option, bad override syntax) are folded
  into one line and exit 2 as well. Hydra re-raises them, instead of printing them itself, when
  HYDRA_FULL_ERROR is set: main() sets it for this purpose.
- A run refused before it began leaves nothing behind: the directory made for it is removed again.
- Inside a sweep, a failing job records its error in its own directory and returns NaN, so the other jobs
  still run; an interrupted job stops the whole sweep, which can then be continued.
- `verbose=true`, or HYDRA_FULL_ERROR=1 set by the user, shows full tracebacks instead.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from betaae.config.moved import MOVED
from betaae.core import job, signals
from betaae.core.errors import (
    Abort,
    BetaaeError,
    ConfigError,
    DistributedError,
    InterruptedRun,
    ResourceError,
    chain,
    ours_in,
)
from betaae.core.files import DISK_ERRORS, atomic_write_bytes
from betaae.runs import directories as rundirs
from betaae.sweep import callback as sweep_callback
from betaae.sweep import naming as sweep_naming
from betaae.sweep import record as sweep_record

log = logging.getLogger("betaae")
SET_BY_US = "BETAAE_SET_HYDRA_FULL_ERROR"  # tells this process's children (DDP ranks) who set it
QUOTING = (
    "quote a value that holds spaces, '=', ',', quotes or non-ASCII letters for Hydra, inside shell quotes: "
    "'paths.log_dir=\"/data/my runs\"'"
)


def register_resolvers() -> None:
    """The resolvers conf/hydra/default.yaml names run and sweep directories with; call before composing."""
    OmegaConf.register_new_resolver("unique_dir", rundirs.unique_dir, replace=True, use_cache=True)
    OmegaConf.register_new_resolver("run_dir", rundirs.run_dir, replace=True, use_cache=True)
    OmegaConf.register_new_resolver("hydra_subdir", rundirs.hydra_subdir, replace=True)
    OmegaConf.register_new_resolver("job_dirname", sweep_naming.job_dirname, replace=True)
    OmegaConf.register_new_resolver("sweep_jobs", sweep_record.sweep_jobs, replace=True, use_cache=True)


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
        if key in MOVED:
            return f"unknown option {key}: it moved to {MOVED[key]} (e.g. {MOVED[key]}=...)"
        message = (
            f"unknown option {key}: it is not in the config (check the spelling, or add a new key with +{key}=...)"
        )
    elif message.startswith("Key '") and "is not in struct" in message:
        key = message.split("'")[1]
        message = (
            f"~{key}: {key} cannot be removed, every run needs it (or it is not in the config); "
            f"set it instead with {key}=... (python train.py --help lists the options)"
        )
    elif "LexerNoViableAltException" in message or "mismatched input" in message or "token recognition" in message:
        message = f"{message}; {QUOTING}"
    return message


def tracebacks_wanted(cfg: DictConfig | None = None) -> bool:
    by_user = bool(os.environ.get("HYDRA_FULL_ERROR")) and not os.environ.get(SET_BY_US)
    return by_user or bool(cfg is not None and cfg.get("verbose")) or "verbose=true" in sys.argv[1:]


def task(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap a Hydra task function with the project's error handling (see the module docstring)."""

    @functools.wraps(fn)
    def wrapped(cfg: DictConfig) -> Any:
        if job.is_ddp_child() or sweep_record.in_worker():
            signals.stop_when_orphaned()
        try:
            return fn(cfg)
        except InterruptedRun as error:
            if job.in_multirun():  # stop the whole sweep, not only this job: it can be continued
                raise Abort(error) from None
            return _fail(cfg, error)
        except Exception as error:
            if signals.requested():  # the stop, disguised by the import or C code it landed in
                raise signals.Terminated() from None
            if isinstance(error, OmegaConfBaseException):
                # A key deleted or mistyped in a way composition let through is still a config problem.
                return _fail(cfg, ConfigError(one_line(error)))
            return _fail(cfg, _known(error) or error)

    return wrapped


def _known(error: BaseException) -> BetaaeError | None:
    """The project's own error anywhere in an exception's chain, or one made for a full or read-only disk
    or a lost DDP process (which surface from any writer and from torch.distributed), or None."""
    for link in chain(error):
        if isinstance(link, BetaaeError):
            return link
        if isinstance(link, OSError) and link.errno in DISK_ERRORS:
            where = f"writing {link.filename}" if link.filename else "writing the run's files"
            return ResourceError(f"{DISK_ERRORS[link.errno]} while {where}; free some space or use paths.log_dir=...")
        if _lost_process(link):
            out = job.current_run()
            how = f"; resume with: {_resume_hint(out)}" if out is not None else ""
            return DistributedError(
                f"training stopped: a DDP process of this run was lost ({one_line(link)[:120]}){how}"
            )
    return None


def _lost_process(error: BaseException) -> bool:
    """A collective that failed because another rank is gone (gloo or NCCL, as torch reports it)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and isinstance(error, getattr(dist, "DistError", ())):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("gloo" in text or "NCCL" in text) and "Connection" in text


def _resume_hint(out: Path) -> str:
    from betaae.core.commands import override, script

    return script("train.py", override("resume", out))


def _fail(cfg: DictConfig, error: Exception) -> None:
    """Record a task's error; in a sweep return None (no value: Optuna records the trial as failed, where a NaN
    makes it raise), else print it (or raise it on, for a traceback)."""
    ours = isinstance(error, BetaaeError)
    message = one_line(error) if ours else f"{type(error).__name__}: {one_line(error)}"
    out = job.current_run()
    if out is not None and not cfg.get("resume"):
        if job.in_multirun() or job.worth_keeping():
            # The disk that failed the run may refuse this too; the message still reaches the console.
            with contextlib.suppress(ResourceError):
                detail = message if ours else traceback.format_exc()
                atomic_write_bytes(out / "error.txt", (detail + "\n").encode())
        else:
            rundirs.remove_created(out)  # refused before it began: nothing of it is left
    if job.in_multirun():
        log.error("job failed: %s", message)
        return None
    if ours and not tracebacks_wanted(cfg):
        # Exiting here, rather than raising through Hydra, keeps Hydra from adding a line of its own.
        print(f"{_prefix(error)}: {message}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)
    raise error


def _prefix(error: BaseException) -> str:
    """`stopped:` for a stop the user asked for (Ctrl-C, SIGTERM), `error:` for everything else."""
    return "stopped" if isinstance(error, InterruptedRun) else "error"


def _stopped(stop: BaseException) -> BetaaeError:
    """The one line for an interruption that arrived outside training, or for an aborted sweep."""
    if isinstance(stop, Abort):
        return stop.error
    what, code = ("Ctrl-C", 130) if isinstance(stop, KeyboardInterrupt) else ("SIGTERM", 143)
    out = job.current_run()
    if out is None:
        return InterruptedRun(f"interrupted by {what}; nothing was written", code)
    if not job.worth_keeping():
        rundirs.remove_created(out)
        before = "before its results were written" if job.kind() == "invert" else "before training began"
        return InterruptedRun(f"interrupted by {what} {before}; nothing was kept", code)
    if job.kind() == "invert":
        written = sorted(p.name for p in out.glob("inversion.*"))
        return InterruptedRun(
            f"interrupted by {what} while writing the results; {', '.join(written) or 'none of them'} in {out} "
            "(each complete); run the inversion again for the rest",
            code,
        )
    return InterruptedRun(
        f"interrupted by {what} after training, while writing the results; the checkpoints are complete; "
        f"write the results with: {_resume_hint(out)}",
        code,
    )


def _cannot_create(error: OSError) -> str:
    """One line for a run, sweep or job directory that Hydra could not create, naming the option that chose it."""
    option = "hydra.sweep.dir" if job.in_multirun() or {"-m", "--multirun"} & set(sys.argv[1:]) else "hydra.run.dir"
    reason = DISK_ERRORS.get(error.errno, error.strerror or type(error).__name__)
    way_out = f"choose a writable place with {option}=... or paths.log_dir=..."
    return f"{option}: cannot create {error.filename}: {reason}; {way_out}"


def _check_argv_text() -> None:
    """Refuse an argument that this locale could not decode (non-ASCII under LC_ALL=C with UTF-8 mode off):
    Python keeps its bytes as surrogates, which no file name, YAML file or log line can hold."""
    for arg in sys.argv[1:]:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            encoding = sys.getfilesystemencoding()
            print(
                f"error: {shown}: holds letters this locale cannot read ({encoding}); run with a UTF-8 locale "
                "(LC_ALL=C.UTF-8) or PYTHONUTF8=1, or use ASCII",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(2)


_THREAD_ERRORS: list[BetaaeError] = []


def _thread_failed(args: threading.ExceptHookArgs) -> None:
    """A full or read-only disk met by a writer thread (TensorBoard's) is kept for the one-line report,
    not printed as a thread's traceback; the main thread meets the same disk and stops the run."""
    known = _known(args.exc_value) if args.exc_value is not None else None
    if known is None or tracebacks_wanted():
        threading.__excepthook__(args)
    else:
        _THREAD_ERRORS.append(known)


def main(hydra_main: Callable[[], Any]) -> None:
    """Run a @hydra.main function, turning project and config errors into one line and an exit code."""
    _check_argv_text()
    register_resolvers()
    signals.install()
    threading.excepthook = _thread_failed
    if not tracebacks_wanted():
        os.environ["HYDRA_FULL_ERROR"] = os.environ[SET_BY_US] = "1"
    try:
        hydra_main()
        if _THREAD_ERRORS:  # only a writer thread failed: the run's record is incomplete
            print(f"error: {one_line(_THREAD_ERRORS[0])}", file=sys.stderr, flush=True)
            sys.exit(_THREAD_ERRORS[0].exit_code)
    except (Abort, KeyboardInterrupt, signals.Terminated) as stop:
        if tracebacks_wanted() and not isinstance(stop, Abort):
            raise
        error = _stopped(stop)
        message = sweep_callback.interrupted(error) if isinstance(error, InterruptedRun) else one_line(error)
        print(f"{_prefix(error)}: {message}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)
    except (BetaaeError, HydraException, OmegaConfBaseException) as error:
        if tracebacks_wanted():
            raise
        error = ours_in(error) or error  # raised in a resolver
        print(f"error: {one_line(error)}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code if isinstance(error, BetaaeError) else 2)
    except OSError as error:  # after HydraException: Hydra's MissingConfigException is an OSError too
        # Hydra creates the run, sweep and job directories itself, before any task runs; once a task has
        # begun, its own OSErrors are handled (or raised for a traceback) by `task`.
        if tracebacks_wanted() or job.current_run() is not None or not error.filename:
            raise
        print(f"error: {_cannot_create(error)}", file=sys.stderr, flush=True)
        sys.exit(2)
