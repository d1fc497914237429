"""Files a run leaves behind: written atomically (temp file, fsync, rename), so none is ever half-written,
with the permissions the umask gives any new file, and a one-line error when the disk refuses."""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from betaae.core.errors import ResourceError

DISK_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded", errno.EROFS: "read-only"}


def umask() -> int:
    """This process's umask, read without changing it (os.umask can only be read by setting it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write data to path so that readers see either the old file or the whole new one.

    A failure (a full disk, a read-only place) leaves the old file as it was and raises a ResourceError.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o666 & ~umask())  # mkstemp makes it 0600; a result file follows the umask
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        reason = DISK_ERRORS.get(err.errno, err.strerror or str(err))
        raise ResourceError(f"cannot write {path}: {reason}; the previous file, if any, is unchanged") from err
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _plain(value: Any) -> Any:
    """JSON-safe: NaN and inf become null rather than invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def write_json(path: Path, payload: dict) -> None:
    atomic_write_bytes(path, (json.dumps(_plain(payload), indent=2) + "\n").encode())


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> None:
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode())


def save_figure(path: Path, figure) -> None:
    """Render a figure to PNG atomically and release its memory."""
    import matplotlib.pyplot as plt

    from betaae.core.signals import deferred

    buffer = io.BytesIO()
    with deferred():
        figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def available_memory_host() -> int | None:
    """Bytes of host memory that can still be allocated (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def unreadable(err: OSError) -> str:
    """Why a file could not be read, in words, with the way out for another user's files."""
    where = f" {err.filename}" if err.filename else ""
    if isinstance(err, PermissionError):
        return f"cannot read{where}: permission denied (another user's files? ask them for read access, or a copy)"
    return f"cannot read{where}: {err.strerror or type(err).__name__}"
