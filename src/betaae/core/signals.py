"""Stopping on request: SIGTERM stops a run as Ctrl-C does, with one line and an exit code, wherever it lands.

While Lightning trains, it has its own SIGTERM handler that stops at the end of the current step (and so
keeps the last checkpoint exact); ours then does nothing. Lightning puts its handler in place only once `fit`
has set up: a SIGTERM before that, inside `lightning_stops`, stops the process as anywhere else. Anywhere else,
ours raises Terminated, which, like KeyboardInterrupt, is not an Exception, so no handler meant for errors
swallows it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator


class Terminated(BaseException):
    """SIGTERM arrived outside training."""


# Process-wide: whether Lightning handles SIGTERM right now (inside `lightning_stops`); the block resets it.
_fitting = False


# Process-wide: a stop was requested. An exception raised inside an import or C code can come out as another
# one (ImportError, RecursionError, TypeError); the entry points read this to report the stop instead.
_requested = False


def _on_sigterm(signum: int, frame) -> None:
    global _requested
    # Lightning's handler, once it has put it in place, calls this one after its own; until then (its setup,
    # restoring a checkpoint) and after its teardown this is the only one, and the signal must not be lost.
    if not _fitting or signal.getsignal(signal.SIGTERM) is _on_sigterm:
        _requested = True
        raise Terminated()


def requested() -> bool:
    """Whether a SIGTERM was turned into Terminated in this process: an error seen since may be its disguise."""
    return _requested


def reset() -> None:
    """Forget a stop request (between tests in one process)."""
    global _requested
    _requested = False


def install() -> None:
    """Turn SIGTERM (and SIGHUP, as a SIGTERM) into Terminated in this process (the main thread's, where
    Python runs handlers)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
        # A closed terminal (SIGHUP) stops a run the way SIGTERM does, with the same line and resume command,
        # instead of killing it mid-write: the hang-up is passed on as a SIGTERM to this process.
        signal.signal(signal.SIGHUP, _hang_up)


def _hang_up(signum: int, frame) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def lightning_stops() -> Iterator[None]:
    """While this block runs, SIGTERM is Lightning's to handle (it stops training at the next step)."""
    global _fitting
    _fitting = True
    try:
        yield
    finally:
        _fitting = False


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait for this block to end, then stop the process as they would have: for work an
    exception must not land inside (matplotlib's compiled drawing code turns one into a TypeError)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if held:
        # Sent again, it reaches whichever handler is in place now (ours, or Lightning's while it trains).
        os.kill(os.getpid(), held[0])


def stop_when_orphaned(interval: float = 1.0, grace: float = 60.0) -> None:
    """In a process a sweep or a DDP run started: if the process that started it dies (even by kill -9), stop
    as if it had sent SIGTERM, so that nothing goes on writing into a sweep that has ended."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)  # time to finish the current step and close the files
        os._exit(143)

    threading.Thread(target=watch, name="betaae-orphan-watch", daemon=True).start()


def children() -> list[int]:
    """This process's child processes (Linux's /proc; empty elsewhere)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    # The name in parentheses may hold spaces: the parent's pid is the second field after it.
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == me:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def stop_children(timeout: float = 90.0) -> int:
    """Pass a stop on to this process's children (submitit's local job runners pass it to their jobs, which
    save their last checkpoint), and wait until they have ended, so that a sweep continued at once finds its
    jobs stopped; the number still running after `timeout`."""
    running = children()
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running and time.monotonic() < deadline:
        for pid in list(running):
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    continue
            running.remove(pid)
        time.sleep(0.05)
    return len(running)
