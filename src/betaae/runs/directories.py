"""Run and sweep directories: created exclusively, owned by one process at a time, never overwritten, and
removed again when the run they were made for is refused before it starts.

- A new run or sweep directory is made with an exclusive mkdir by the `unique_dir` resolver, so two runs
  started in the same second never share one: the second gets `<time>-1`.
- A leading `~` in any path option is expanded, the same way for every writer; nothing else is (a `$` in
  a path is a `$`).
- A run directory is locked (an OS file lock on RUN/.lock) for as long as a process trains in it; the
  kernel releases the lock when that process ends, however it ends, so a killed run never leaves a stale
  lock. A second writer, or a resume of a run in progress, is refused with the holder's PID.
- What a process creates for a run that is then refused (the directory, and any parents it had to make)
  is removed again, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import time
from pathlib import Path

from hydra.experimental.callback import Callback

from betaae.core.errors import ResourceError, ResumeError
from betaae.core.files import unreadable
from betaae.core.job import is_ddp_child

# The longest path a run writes below its own directory, with room to spare: a temporary checkpoint file
# (checkpoints/.last.ckpt.<random>.tmp) or a TensorBoard event file (events.out.tfevents.<time>.<host>...).
LONGEST_INSIDE = 160
LOCK = ".lock"
# Process-wide, since Hydra's resolvers and callbacks (which make and enter the directories) and the entry point
# (which removes a refused run's) share nothing else; reset() clears all three.
# Run directories this process created (or is about to), each with the topmost parent it had to create, or
# with None for a directory that existed, empty, before this process wrote into it.
_created: list[tuple[Path, Path | None]] = []


def expand(path: str | os.PathLike) -> str:
    """A path as every writer of the run will use it: a leading ~ or ~user expanded, nothing else."""
    return os.path.expanduser(os.fspath(path))


def _first_missing(path: Path) -> Path | None:
    """The topmost ancestor of path (or path itself) that does not exist yet, or None if path exists."""
    missing = None
    for candidate in [path, *path.parents]:
        if _exists(candidate):
            break
        missing = candidate
    return missing


def note_new(path: str | os.PathLike, top: Path | None = None) -> None:
    """Remember that this process creates the run directory `path` (or fills it, if it exists empty), to
    undo that if the run is refused."""
    leaf = Path(os.path.abspath(path))
    _created.append((leaf, top or _first_missing(leaf)))


def _detach_log_files(folder: Path) -> None:
    """Close the logging handlers that write into `folder` (Hydra's train.log), before it is removed: one
    opened later would fail on a directory that is gone."""
    import logging

    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in list(getattr(logger, "handlers", [])):
            name = getattr(handler, "baseFilename", None)
            if name is not None and Path(name).is_relative_to(folder):
                logger.removeHandler(handler)
                handler.close()


def remove_created(path: str | os.PathLike) -> None:
    """Remove what this process created for the run directory `path`, if it did (a run refused before it
    started): the directory itself, then each parent it had to make, as long as that parent is empty."""
    leaf = Path(os.path.abspath(path))
    for entry in reversed(_created):
        if entry[0] != leaf:
            continue
        _created.remove(entry)
        _detach_log_files(leaf)
        if entry[1] is None:  # it was there, empty: empty it again
            for child in leaf.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            return
        shutil.rmtree(leaf, ignore_errors=True)
        for parent in leaf.parents:
            if parent == entry[1].parent:
                break
            try:
                parent.rmdir()  # only while empty: another run may have made its own directory here since
            except OSError:
                break
        return


def _exists(path: Path) -> bool:
    """Path.exists, with a path the file system cannot even look up (too long: ENAMETOOLONG) as missing."""
    try:
        return path.exists()
    except OSError:
        return False


def check_path_length(path: str, option: str) -> None:
    """Refuse, before anything is created, a directory whose files would exceed the file system's limits."""
    absolute = os.path.abspath(path)
    existing = next(p for p in [Path(absolute), *Path(absolute).parents] if _exists(p))
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
        path_max = os.pathconf(existing, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    longest = max((len(part.encode()) for part in Path(absolute).parts), default=0)
    if longest > name_max:
        raise ResourceError(
            f"{option}: a directory name in {path[:60]}... is {longest} bytes long; this file system allows "
            f"{name_max}; choose a shorter name"
        )
    if len(absolute.encode()) + LONGEST_INSIDE > path_max:
        raise ResourceError(
            f"{option}: the run directory's path would be {len(absolute.encode()):,} bytes long; this file "
            f"system allows {path_max:,} for a whole path and the run's own files need up to {LONGEST_INSIDE} "
            "more; choose a shorter path"
        )


def unique_dir(base: str) -> str:
    """Create and return `base`, or `base-1`, `base-2`, ... if taken: exclusive, so concurrent runs never share."""
    base = expand(base)
    check_path_length(base, "paths.log_dir")
    parent = Path(base).parent
    top = _first_missing(Path(os.path.abspath(base)))
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(10_000):
            candidate = base if attempt == 0 else f"{base}-{attempt}"
            try:
                os.mkdir(candidate)
            except FileExistsError:
                continue
            made = Path(os.path.abspath(candidate))
            note_new(made, top if top is not None and top != Path(os.path.abspath(base)) else made)
            return candidate
    except OSError as err:
        raise ResourceError(
            f"paths.log_dir: cannot create the run directory {base}: {err.strerror or err}; "
            "choose a writable place with paths.log_dir=..."
        ) from None
    raise ResourceError(f"paths.log_dir: {base} and 10,000 numbered variants already exist")


def check_run_dir(path: str) -> Path:
    """The run directory `resume=` names, if it is one: it must hold config.yaml and checkpoints/last.ckpt."""
    try:
        return _check_run_dir(path)
    except OSError as err:  # a directory this user may not enter (another user's run, umask 077)
        raise ResumeError(f"resume={path}: {unreadable(err)}") from None


def _check_run_dir(path: str) -> Path:
    run = Path(expand(path))
    if not run.is_dir():
        raise ResumeError(f"resume={path}: no such run directory")
    if (run / "sweep.yaml").is_file():
        raise ResumeError(
            f"resume={path}: this is a sweep, not a run; continue it with the command the sweep printed "
            "(python train.py -m <its overrides> hydra.sweep.dir=...), or resume one of its jobs"
        )
    if not (run / "config.yaml").is_file():
        raise ResumeError(f"resume={path}: not a betaae run directory (it has no config.yaml)")
    if not (run / "checkpoints" / "last.ckpt").is_file():
        raise ResumeError(f"resume={path}: the run has no checkpoints/last.ckpt to resume from")
    return run


def run_dir(resume: str | None, fresh: str) -> str:
    """Hydra's run directory: the run to resume (checked first), or a new unique one."""
    return str(check_run_dir(resume).resolve()) if resume else unique_dir(fresh)


def holds_files(path: str | os.PathLike) -> bool:
    try:
        return any(Path(path).iterdir())
    except OSError:
        return False


def hydra_subdir(resume: str | None, output_dir: str) -> str | None:
    """Where Hydra records the composition: .hydra in a new, empty directory; nothing for a resume or a
    directory that already holds files (an existing run, or a sweep's job being continued), whose record
    must stay as it is."""
    return None if resume or holds_files(output_dir) else ".hydra"


class RunLock:
    """An exclusive OS lock on a run directory, held until release() or until the process ends."""

    def __init__(self, run: Path, fd: int) -> None:
        self.run, self.fd = run, fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# The locks this process holds, by directory; the kernel drops them with the process.
_held: dict[Path, RunLock] = {}


def holder(run: Path) -> str | None:
    """Who holds the run's lock ("process 1234, since 08:01:02"), or None if nobody does."""
    path = run / LOCK
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = Path(path).read_text(errors="replace").split()
        pid = text[0] if text else "?"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(text[1]))) if len(text) > 1 else "?"
        return f"process {pid} (since {since})"
    finally:
        os.close(fd)
    return None


def lock_run(run: Path, option: str) -> RunLock:
    """Take the run's lock for this process, or raise a ResumeError that names the process holding it."""
    run = Path(run).resolve()
    if run in _held:
        return _held[run]
    try:
        fd = os.open(run / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise ResumeError(f"{option}={run}: the run directory is not writable ({err.strerror})") from None
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ResumeError(
            f"{option}={run}: the run is in use by {holder(run) or 'another process'}; wait for it to end "
            "(or stop it), then try again"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {time.time():.0f}\n".encode())
    lock = _held[run] = RunLock(run, fd)
    return lock


def release_locks() -> None:
    for lock in _held.values():
        lock.release()
    _held.clear()


# Whether each run directory already held files before Hydra made or entered it (single runs only).
_occupied: dict[Path, bool] = {}


def reset() -> None:
    """Release this process's locks and forget the directories it made (between tests in one process)."""
    release_locks()
    _created.clear()
    _occupied.clear()


def occupied(path: str | os.PathLike) -> bool:
    return _occupied.get(Path(os.path.abspath(path)), False)


def claim(out: Path, option: str, what: str = "a run") -> None:
    """Make a new run's directory this process's own: refuse one that already holds a run or other files
    (nothing of it is touched), then lock it."""
    if is_ddp_child():
        return
    if occupied(out):
        if what == "a run" and ((out / "config.yaml").is_file() or (out / "checkpoints").is_dir()):
            from betaae.core.commands import override, script

            raise ResumeError(
                f"{option}={out} already holds a run, which is left as it is; continue it with: "
                f"{script('train.py', override('resume', out))}, or choose a new directory"
            )
        raise ResumeError(f"{option}={out} is not empty, and is left as it is; {what} needs a new or empty directory")
    lock_run(out, option)


class RunGuard(Callback):
    """Hydra callback: before Hydra makes or enters a single run's directory, expand a leading ~ in it,
    check that its files' paths fit the file system, and note whether it already held files."""

    def on_run_start(self, config, **kwargs) -> None:
        from betaae.core.errors import Abort, ours_in

        try:
            self._guard(config)
        except Exception as error:  # Hydra's callback runner would turn any Exception into a warning
            ours = ours_in(error)
            if ours is None:
                raise
            raise Abort(ours) from None

    def on_run_end(self, config, **kwargs) -> None:
        release_locks()

    def _guard(self, config) -> None:
        from omegaconf import open_dict, read_write

        path = str(config.hydra.run.dir)  # resolving it checks a resume, or makes a new unique directory
        expanded = expand(path)
        if expanded != path:
            with read_write(config.hydra.run), open_dict(config.hydra.run):
                config.hydra.run.dir = expanded
        check_path_length(expanded, "hydra.run.dir")
        if config.get("resume") or is_ddp_child():
            return
        absolute = Path(os.path.abspath(expanded))
        _occupied[absolute] = holds_files(absolute)
        if not _occupied[absolute] and all(entry[0] != absolute for entry in _created):
            note_new(absolute)
