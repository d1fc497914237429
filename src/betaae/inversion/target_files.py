"""Reading what invert.py is asked to invert: target files, x-values and samples, each refused in one line
when it cannot be read.

- A .npy file holds a 2-D table (or one row); a .csv file (comma-, semicolon- or tab-separated, quoted
  cells and a byte-order mark allowed) may start with a header line naming its columns: a first line that
  holds anything but numbers. Every other line is a row of numbers, or is refused by its line number.
- A CSV whose header names an `x` column is read by columns: `x` holds the x-values, every other column
  one target observed at them (an empty cell or `nan` is a missing point).
- Otherwise each row is a target: log-pdf values (on the checkpoint's grid, or at the x-values given with
  x=...), or parameter rows of the family.
- samples=FILE holds i.i.d. draws: one column (or a 1-D array) is one target; a 2-D table holds one target
  per row (NaN padding for unequal numbers of draws).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from betaae.core.errors import TargetError


def _checked_path(path: Path, option: str) -> Path:
    if path.is_dir():
        raise TargetError(f"{option}={path}: is a directory; give a .npy or .csv file")
    if not path.exists():
        raise TargetError(f"{option}={path}: no such file")
    if not path.is_file():
        raise TargetError(f"{option}={path}: is not a regular file; give a .npy or .csv file")
    if path.suffix not in (".npy", ".csv"):
        raise TargetError(f"{option}={path}: must be a .npy or .csv file")
    return path


MISSING = ("", "nan", "NaN", "NAN", "na", "NA")  # an empty cell or nan: a missing point


def _number(field: str) -> float | None:
    """A CSV cell as a number (NaN for a missing point), or None if it is not one."""
    field = field.strip().strip("\ufeff")
    if field in MISSING:
        return float("nan")
    try:
        return float(field)
    except ValueError:
        return None


def _csv_rows(path: Path, option: str) -> tuple[list[list[str]], str]:
    """The non-blank rows of a CSV file as cells, read by a real CSV reader (quoting, a byte-order mark as
    Excel writes it), with its delimiter: a comma, or a semicolon or tab where the file uses one instead."""
    import csv

    text = path.read_text(encoding="utf-8-sig")
    sample = "\n".join(text.splitlines()[:20])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if any(cell.strip() for cell in row)]
    if not rows:
        raise TargetError(f"{option}={path}: the file is empty")
    return rows, delimiter


def _read_csv(path: Path, option: str) -> tuple[np.ndarray, list[str] | None]:
    """A CSV table: a first row that holds anything but numbers is its header; every other row must be numbers
    (or missing points), all of one length, or it is refused by its number: no row is ever dropped."""
    rows, _ = _csv_rows(path, option)
    header = None
    if any(_number(cell) is None for cell in rows[0]):
        header = [cell.strip().strip("\ufeff") for cell in rows[0]]
        rows = rows[1:]
    if not rows:
        raise TargetError(f"{option}={path}: the file has a header but no rows")
    width = len(header) if header is not None else len(rows[0])
    offset = 2 if header is not None else 1  # the file's own line numbers, counted from 1
    values = []
    for number, row in enumerate(rows):
        if len(row) != width:
            what = "the header names" if header is not None else "row 1 has"
            raise TargetError(
                f"{option}={path}: row {number + offset} has {len(row)} cells, {what} {width} "
                "(a comma inside a quoted cell, or a missing one?)"
            )
        parsed = [_number(cell) for cell in row]
        bad = next((i for i, value in enumerate(parsed) if value is None), None)
        if bad is not None:
            raise TargetError(
                f"{option}={path}: row {number + offset}, column {bad + 1}: {row[bad].strip()!r} is not a number"
            )
        values.append(parsed)
    return np.array(values, dtype=np.float64), header


def read_table(path: Path, option: str = "targets") -> tuple[np.ndarray, list[str] | None]:
    """A 2-D float64 table from a .npy or .csv file, and the CSV's column names if it has a header."""
    path = _checked_path(Path(path), option)
    header = None
    try:
        if path.suffix == ".npy":
            table = np.load(path, allow_pickle=False)
        else:
            table, header = _read_csv(path, option)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise TargetError(f"{option}={path}: cannot be read: {str(err).splitlines()[0]}") from err
    if np.iscomplexobj(table):
        raise TargetError(f"{option}={path}: holds complex numbers; values must be real")
    if table.dtype.kind not in "biuf":
        raise TargetError(f"{option}={path}: holds {table.dtype} values; values must be numbers")
    table = np.asarray(table, dtype=np.float64)
    if table.ndim == 1:
        table = table[None, :]
    if table.ndim != 2 or table.shape[0] == 0:
        raise TargetError(f"{option}={path}: must hold a 2-D table of rows, got shape {table.shape}")
    if header is not None and len(header) != table.shape[1]:
        raise TargetError(f"{option}={path}: the header names {len(header)} columns, the rows have {table.shape[1]}")
    return table, header


def read_targets(path: Path) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """(rows, x-values from an `x` column or None, the targets' names from the header or None) of a target
    file. Beside an `x` column, each other column is a target and its header cell is its name."""
    table, header = read_table(path)
    if header is not None and "x" in header:
        column = header.index("x")
        x = table[:, column]
        values = np.delete(table, column, axis=1).T
        if values.shape[0] == 0:
            raise TargetError(f"targets={path}: has an x column but no target column beside it")
        names = [name or f"target {i}" for i, name in enumerate(header[:column] + header[column + 1 :])]
        return values, x, names
    return table, None, None


def read_x(value, grid_points: int) -> np.ndarray:
    """x-values given on the command line: a list, or a .npy/.csv file of one row or one column."""
    if isinstance(value, (list, tuple)):
        x = np.asarray(value, dtype=np.float64)
    else:
        table, _ = read_table(Path(str(value)), "x")
        if 1 not in table.shape:
            raise TargetError(f"x={value}: must hold one row or one column of x-values, got shape {table.shape}")
        x = table.ravel()
    if x.ndim != 1 or len(x) < 2:
        raise TargetError(f"x={value}: must be at least two x-values")
    return x


def read_samples(path: Path) -> list[np.ndarray]:
    """Each target's draws from a samples file."""
    table, _ = read_table(path, "samples")
    if table.shape[1] == 1 or table.shape[0] == 1:  # one column, or one row: one target
        return [table.ravel()]
    return [row for row in table]
