"""`python -m betaae.sweep SWEEP_DIR`: rebuild a sweep's summary from its job directories and show it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    if read_record(args.sweep_dir) is None:
        print(f"error: {args.sweep_dir} is not a betaae sweep directory (it has no {RECORD})", file=sys.stderr)
        sys.exit(2)
    metric = args.metric or read_record(args.sweep_dir).get("metric", DEFAULT_METRIC)
    text, _ = report(args.sweep_dir, metric)
    print(text)


if __name__ == "__main__":
    main()
