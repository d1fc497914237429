"""Lightning loggers that keep a run's whole history across resumes and write where every other writer does.

- TensorBoard: the run directory as given (Lightning's own logger would expand `$VAR` in it, and so write
  somewhere the checkpoints do not go). A resumed run starts its event file with a purge marker at the
  first epoch it trains, so TensorBoard drops any points an interrupted attempt logged past its last
  checkpoint and no epoch is shown twice.
- The SSE per curve of each stage is also logged as its log10 (`val/log10_sse_per_curve`, ...): runs whose
  errors differ a thousandfold share one chart, and a linear axis still tells the good ones apart.
- CSV: csv/metrics.csv keeps every epoch logged before a resume (Lightning's CSVLogger deletes the file
  when its directory is not empty); rows of epochs that a resume trains again are replaced. Written
  atomically once per epoch.
"""

from __future__ import annotations

import csv
import io
import math
import os
from argparse import Namespace
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger
from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from betaae.core.files import atomic_write_bytes

# The figures TensorBoard also shows as their log10 (`<stage>/log10_<name>`).
LOG10_OF = ("train/sse_per_curve", "val/sse_per_curve", "test/sse_per_curve")


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's TensorBoard logger, writing to exactly the directory it is given."""

    def __init__(
        self,
        save_dir: str,
        name: str | None = "lightning_logs",
        version: int | str | None = None,
        default_hp_metric: bool = True,
        sub_dir: str | None = None,
        resume_epoch: int | None = None,
        **kwargs: Any,  # passed on to TensorBoard's SummaryWriter (flush_secs, max_queue, ...)
    ) -> None:
        if resume_epoch is not None:
            kwargs.setdefault("purge_step", resume_epoch)
        super().__init__(save_dir, name, version, default_hp_metric=default_hp_metric, sub_dir=sub_dir, **kwargs)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        super().log_metrics({**metrics, **log10_views(metrics)}, step)

    @rank_zero_only
    def save(self) -> None:
        """Flush the events; no hparams.yaml (the run's settings are in config.yaml and in HPARAMS)."""
        super(LightningTensorBoardLogger, self).save()

    @property
    def log_dir(self) -> str:
        version = self.version if isinstance(self.version, str) else f"version_{self.version}"
        log_dir = os.path.join(self.root_dir, version)
        return os.path.join(log_dir, self.sub_dir) if isinstance(self.sub_dir, str) else log_dir


class CSVLogger(Logger):
    """Every logged scalar, one row per (epoch) step, in `save_dir/name/metrics.csv`."""

    def __init__(self, save_dir: str, name: str = "csv", resume_epoch: int | None = None) -> None:
        super().__init__()
        self._save_dir, self._name = save_dir, name
        self.path = Path(save_dir) / name / "metrics.csv"
        self.rows: list[dict[str, Any]] = []
        if self.path.is_file():
            with open(self.path, newline="") as f:
                kept = [row for row in csv.DictReader(f) if resume_epoch is None or _step(row) < resume_epoch]
            self.rows = [{k: v for k, v in row.items() if v != ""} for row in kept]

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return self._save_dir

    @property
    def log_dir(self) -> str:
        return str(self.path.parent)

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """The run's settings are in config.yaml; nothing to add here."""

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        row: dict[str, Any] = {"step": step if step is not None else len(self.rows)}
        row.update({k: float(v) for k, v in metrics.items()})
        same = next((r for r in reversed(self.rows) if _step(r) == row["step"]), None)
        if same is not None:
            same.update(row)  # one row per epoch: train, val and test figures of an epoch arrive apart
        else:
            self.rows.append(row)

    @rank_zero_only
    def save(self) -> None:
        if not self.rows:
            return
        columns = ["step", *sorted({k for row in self.rows for k in row} - {"step"})]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_bytes(self.path, buffer.getvalue().encode())

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save()


def log10_views(metrics: dict[str, Any]) -> dict[str, float]:
    """`<stage>/log10_<name>` for each figure of LOG10_OF that is logged and positive."""
    views = {}
    for key in LOG10_OF:
        value = metrics.get(key)
        value = float(value) if value is not None else math.nan  # a tensor, from Lightning, or a float
        if value > 0 and math.isfinite(value):
            stage, name = key.split("/", 1)
            views[f"{stage}/log10_{name}"] = math.log10(value)
    return views


def _step(row: dict[str, Any]) -> int:
    return int(float(row.get("step", -1)))
