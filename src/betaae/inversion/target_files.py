"""Reading what invert.py is asked to invert: target files, x-values and samples, each refused in one line
when it cannot be read.

- A .npy file holds a 2-D table (or one row); a .csv file may start with a header line naming its columns.
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


def _is_numeric_row(line: str) -> bool:
    try:
        [float(field) if field.strip() else 0.0 for field in line.split(",")]
    except ValueError:
        return False
    return True


def read_table(path: Path, option: str = "targets") -> tuple[np.ndarray, list[str] | None]:
    """A 2-D float64 table from a .npy or .csv file, and the CSV's column names if it has a header."""
    path = _checked_path(Path(path), option)
    header = None
    try:
        if path.suffix == ".npy":
            table = np.load(path, allow_pickle=False)
        else:
            lines = [line for line in path.read_text().splitlines() if line.strip()]
            if not lines:
                raise TargetError(f"{option}={path}: the file is empty")
            if not _is_numeric_row(lines[0]):  # a header line names the columns
                header = [name.strip() for name in lines[0].split(",")]
                lines = lines[1:]
            if not lines:
                raise TargetError(f"{option}={path}: the file has a header but no rows")
            table = np.genfromtxt(io.StringIO("\n".join(lines)), delimiter=",", ndmin=2, filling_values=np.nan)
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


def read_targets(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(rows, x-values from an `x` column or None) of a target file."""
    table, header = read_table(path)
    if header is not None and "x" in header:
        column = header.index("x")
        x = table[:, column]
        values = np.delete(table, column, axis=1).T
        if values.shape[0] == 0:
            raise TargetError(f"targets={path}: has an x column but no target column beside it")
        return values, x
    return table, None


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
