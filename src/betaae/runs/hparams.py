"""What TensorBoard's HPARAMS tab shows when runs are compared: the settings that differ, and the final
val and test figures, across everything under the logdir (one sweep, several, and single runs alike).

Each run writes its HPARAMS record into its own directory, beside its event files, so that TensorBoard
lists the run once: its settings (a session start: the settings that define a run, plus any set on its
command line), the figure sweeps rank by (RANKING, a scalar at its last epoch) and its status (a session
end). No experiment summary is written anywhere, so TensorBoard computes the table from every run under
the logdir it is given: a setting is marked as differing, listed first and ticked when its values differ
across those runs, and the metric columns are the run's scalars, in name order, the first five ticked.
RANKING's name sorts before every other scalar's, so the figure sweeps rank by is the first metric column.
Written with TensorBoard's own event writer, without torch.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

# The few settings that define a run, as config keys ("model" is the model config chosen, e.g. vae).
DEFINING = (
    "data.family",
    "model",
    "latent_dims",
    "model.hidden",
    "model.activation",
    "optimizer.lr",
    "scheduler.gamma",
    "data.batch_size",
    "trainer.max_epochs",
    "seed",
)
# A text setting holding every setting the run was given (its command line, or its sweep's values), so that
# all of them show when more than five differ (TensorBoard ticks five); its name sorts first.
CHANGED = "changed"
# Options that change how a run is watched or where it writes, not what it computes: never HPARAMS columns.
NOT_SETTINGS = (
    "resume",
    "paths.",
    "hydra",
    "callbacks.",
    "logger",
    "trainer.enable_progress_bar",
    "num_threads",
    "verbose",
)

# The figure sweeps rank by, as HPARAMS's first metric column: its name sorts before "test/", "train/" and
# "val/" (TensorBoard orders metric columns by name and ticks the first five).
RANKING = "ranking/val/sse_per_curve_best"
RANKED_BY = "val/sse_per_curve_best"
# The metric columns TensorBoard ticks, in its order: the ranking figure, then the test figures.
METRICS = (
    RANKING,
    "test/log10_sse_per_curve",
    "test/sse_per_curve",
    "test/sse_per_curve_edge",
    "test/sse_per_curve_max",
)


def override_key(override: str) -> str:
    """The config key an override sets: `+optimizer.lr=1e-3` -> `optimizer.lr`, `model=vae` -> `model`."""
    return override.split("=", 1)[0].lstrip("+~")


def setting(cfg: DictConfig, key: str, choices: Mapping[str, Any] | None = None) -> str | float | int | bool | None:
    """A setting's value as TensorBoard shows it: a config group by its chosen option, a list as text."""
    if choices and key in choices and choices[key] is not None:
        return str(choices[key])
    value = OmegaConf.select(cfg, key, default=None)
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    if isinstance(value, dict) or value is None:
        return None
    return value


def changed(overrides: Iterable[str]) -> str:
    """The run's own settings in short: `lr=0.001 seed=2 model=vae` (the last part of each key), or
    `defaults`."""
    given: dict[str, str] = {}  # by key, in the order first given; a later value (a resume's) replaces an earlier
    for o in overrides:
        if "=" in o and not override_key(o).startswith(NOT_SETTINGS):
            given[override_key(o)] = round_numbers(o.split("=", 1)[1])
    return " ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in given.items()) or "defaults"


def round_numbers(value: str) -> str:
    """Every float in an override's value to 4 significant digits (an Optuna trial's 0.0012142404210404064 as
    0.001214, inside a list too); the rest as given."""
    return re.sub(r"-?\d+\.\d*(?:[eE]-?\d+)?|-?\d+[eE]-?\d+", lambda m: f"{float(m.group()):.4g}", value)


def run_settings(
    cfg: DictConfig, first: Iterable[str], choices: Mapping[str, Any] | None = None, overrides: Iterable[str] = ()
) -> dict[str, Any]:
    """The settings of one run: CHANGED (from `overrides`), `first` (swept or command-line keys), then the
    defining ones, no duplicates. TensorBoard lists those whose values differ across the runs it shows first,
    by name, and ticks the first five."""
    first = [k for k in dict.fromkeys(first) if not k.startswith(NOT_SETTINGS)]
    keys = list(dict.fromkeys([*first, *DEFINING]))
    values = {key: setting(cfg, key, choices) for key in keys}
    return {CHANGED: changed(overrides), **{k: v for k, v in values.items() if v is not None}}


def _write(logdir: Path, summaries: list, step: int = 0) -> None:
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(logdir))
    for summary in summaries:
        writer.add_event(Event(summary=summary, wall_time=time.time(), step=step))
    writer.close()


def _summary(tag: str, **plugin_data: Any):
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **plugin_data)
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])


def write_session_start(run_dir: Path, settings: Mapping[str, Any]) -> None:
    """Record a run's settings for the HPARAMS tab (named by its path: no group name)."""
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for key, value in settings.items():
        if isinstance(value, bool):
            start.hparams[key].bool_value = value
        elif isinstance(value, (int, float)):
            start.hparams[key].number_value = value
        else:
            start.hparams[key].string_value = str(value)
    _write(run_dir, [_summary(metadata.SESSION_START_INFO_TAG, session_start_info=start)])


def write_session_end(run_dir: Path, metrics: Mapping[str, Any], step: int, status: str = "SUCCESS") -> None:
    """A run's ranking figure and its status, for the HPARAMS tab (the test figures are the run's own scalars):
    SUCCESS, or UNKNOWN for a pruned trial, for which TensorBoard has no status."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    ranked = metrics.get(RANKED_BY)
    values = [Summary.Value(tag=RANKING, simple_value=float(ranked))] if isinstance(ranked, (int, float)) else []
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value(f"STATUS_{status}"), end_time_secs=time.time())
    _write(run_dir, [Summary(value=values), _summary(metadata.SESSION_END_INFO_TAG, session_end_info=end)], step)
