"""`python -m betaae.sweep SWEEP_DIR`: rebuild a sweep's summary from its job directories and show it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from betaae.core.errors import BetaaeError
from betaae.core.files import unreadable
from betaae.sweep.record import DEFAULT_METRIC, RECORD, read_record
from betaae.sweep.summary import report


def main(argv: list[str] | None = None) -> None:
    """`python -m betaae.sweep SWEEP_DIR`: rebuild a sweep's summary from its job directories and show it."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument(
        "--metric", default=None, help=f"the figure to rank by (default: the sweep's, or {DEFAULT_METRIC})"
    )
    args = parser.parse_args(argv)
    try:
        (args.sweep_dir / RECORD).read_bytes()
        record = read_record(args.sweep_dir)
        if record is None:
            raise FileNotFoundError
        metric = args.metric or record.get("metric", DEFAULT_METRIC)
        text, _ = report(args.sweep_dir, metric, write=os.access(args.sweep_dir, os.W_OK))
    except FileNotFoundError:
        fail(f"{args.sweep_dir} is not a betaae sweep directory (it has no readable {RECORD})")
    except OSError as err:  # another user's sweep (umask 077), a directory that vanished
        fail(f"{args.sweep_dir}: {unreadable(err)}")
    except BetaaeError as err:
        fail(str(err))
    print(text)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
