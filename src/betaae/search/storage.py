"""Where a search's study lives: a SQLite file in the sweep directory by default, a PostgreSQL (or MySQL)
server that many machines share, or a journal file on a shared filesystem where SQLite's locks are unsafe
(NFS). Each URL is checked, and a server reached, before anything trains.

    (default)                              sqlite:///<sweep dir>/optuna.db
    hydra.sweeper.storage=sqlite:///PATH   a SQLite file (one machine; a local disk)
    hydra.sweeper.storage=postgresql://USER:PASSWORD@HOST:PORT/DATABASE
    hydra.sweeper.storage=journal:///PATH  Optuna's JournalStorage in one file (a shared filesystem)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from betaae.core.errors import ConfigError

OPTION = "hydra.sweeper.storage"
DATABASE = "optuna.db"
CONNECT_TIMEOUT_S = 5  # a server that does not answer is refused in seconds, not after TCP's minutes
ALLOWED = "sqlite:///PATH, postgresql://USER@HOST:PORT/DATABASE, mysql://USER@HOST:PORT/DATABASE or journal:///PATH"


def default_url(sweep_dir: str | os.PathLike) -> str:
    return f"sqlite:///{Path(sweep_dir).resolve() / DATABASE}"


def shown(url: str) -> str:
    """The URL as the user writes it, with its password hidden, for the lines the search prints."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url.replace("postgresql+psycopg://", "postgresql://", 1))


def scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""


def resolve(url: str | None, sweep_dir: str | os.PathLike) -> str:
    """The storage URL every worker and job uses: the default in the sweep directory, a file's path made
    absolute (jobs run elsewhere), PostgreSQL through psycopg 3 where SQLAlchemy would look for psycopg2."""
    if not url:
        return default_url(sweep_dir)
    kind = scheme(url)
    if kind not in ("sqlite", "postgresql", "mysql", "journal"):
        raise ConfigError(f"{OPTION}={shown(url)}: not a storage betaae knows; use {ALLOWED}")
    if kind in ("sqlite", "journal"):
        path = url.split("://", 1)[1]
        path = path[1:] if path.startswith("/") else path  # sqlite:///rel.db is relative, sqlite:////abs.db not
        if not path or path == ":memory:":
            raise ConfigError(f"{OPTION}={url}: needs a file that every worker and job can open; use {ALLOWED}")
        return f"{kind}:///{Path(path).expanduser().resolve()}"
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _rdb(url: str, engine: dict, attempts: int = 10):
    """Optuna's RDBStorage. Workers that start together on a new database race to create its tables: on a
    SQLite file they take turns (a lock on the file itself, no file beside it); on a server the loser's error
    (a table or row that already exists) only means the tables are there now, and it tries again."""
    import fcntl
    import time

    import optuna

    for attempt in range(attempts):
        try:
            if scheme(url) != "sqlite":
                return optuna.storages.RDBStorage(url, engine_kwargs=engine)
            with open(_path(url), "a") as held:  # SQLite takes an empty file for a new database
                fcntl.flock(held, fcntl.LOCK_EX)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine)
        except Exception as err:
            raced = any(s in str(err) for s in ("already exists", "UNIQUE constraint", "duplicate key"))
            if not raced or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _path(url: str) -> Path:
    return Path(url.split("://", 1)[1][1:])


def where(url: str) -> str:
    """Host and port of a server, or the file, for messages."""
    if scheme(url) in ("sqlite", "journal"):
        return str(_path(url))
    parts = urlsplit(url)
    default = {"postgresql": 5432, "mysql": 3306}.get(scheme(url))
    return f"{parts.hostname or 'localhost'}:{parts.port or default}"


def exists(url: str) -> bool:
    """Whether the storage is already there (a file), so that a check can read it without creating it."""
    return _path(url).is_file() if scheme(url) in ("sqlite", "journal") else True


def open_storage(url: str):
    """The Optuna storage at `url`, reached now: a server that cannot be reached, or a file that cannot be
    opened, is one ConfigError naming the option, the place and the reason."""

    kind = scheme(url)
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = _path(url)
        if not path.parent.is_dir():
            raise ConfigError(f"{OPTION}={url}: the folder {path.parent} does not exist; create it first")
        try:
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as err:
            raise ConfigError(f"{OPTION}={url}: cannot open {path}: {err.strerror}") from None
    if kind == "sqlite":
        path = _path(url)
        if not path.parent.is_dir():
            raise ConfigError(f"{OPTION}={url}: the folder {path.parent} does not exist; create it first")
        # Workers on one file wait for each other's writes instead of failing at once.
        engine = {"connect_args": {"timeout": 60}}
    else:
        engine = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}, "pool_pre_ping": True}
    try:
        return _rdb(url, engine)
    except ModuleNotFoundError as err:
        extra = "postgresql" if kind == "postgresql" else kind
        raise ConfigError(
            f"{OPTION}={shown(url)}: needs the database driver {err.name} (pip install -e '.[{extra}]')"
        ) from None
    except ImportError as err:
        raise ConfigError(f"{OPTION}={shown(url)}: its database driver cannot be loaded ({err})") from None
    except Exception as err:  # SQLAlchemy's OperationalError and its kin carry the driver's reason
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()
        reason_text = reason[0][:200] if reason else type(err).__name__
        raise ConfigError(
            f"{OPTION}={shown(url)}: cannot reach the database at {where(url)} ({reason_text}); start it, check "
            "the address, or leave the storage out for a SQLite file in the sweep directory"
        ) from None
