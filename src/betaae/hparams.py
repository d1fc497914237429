"""What TensorBoard's HPARAMS tab shows when runs are compared: the settings a person compares, in order,
and the final metrics.

Each run records its settings once (a session start) and its status at the end (a session end): the
settings that define a run, plus any set on its command line. A sweep also writes one experiment
summary at its root that lists the swept settings first (marked as differing, which TensorBoard shows
and ticks first), then the defining ones, and the metric columns. Its metrics are the run's own
scalars, read by tag. Written with TensorBoard's own event writer, without torch.
"""

from __future__ import annotations

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
)
SETTINGS = "settings"  # one column that sums up the defining settings a sweep holds constant
LABELS = {  # how each defining setting reads in that column, e.g. "beta, autoencoder, [256,128], gelu, ..."
    "data.family": "{}",
    "model": "{}",
    "latent_dims": "latent {}",
    "model.hidden": "{}",
    "model.activation": "{}",
    "optimizer.lr": "lr {}",
    "scheduler.gamma": "gamma {}",
    "data.batch_size": "batch {}",
    "trainer.max_epochs": "{} epochs",
}
METRICS = ("val/sse_per_curve_best", "test/sse_per_curve", "train/elapsed_s")


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


def run_settings(cfg: DictConfig, first: Iterable[str], choices: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings of one run: `first` (swept or command-line keys), then the defining ones, no duplicates,
    and `settings`: the defining ones that are not first, in one line."""
    first = [k for k in dict.fromkeys(first) if k not in ("resume", "paths.log_dir", "hydra")]
    keys = list(dict.fromkeys([*first, *DEFINING]))
    values = {key: setting(cfg, key, choices) for key in keys}
    values = {k: v for k, v in values.items() if v is not None}
    values[SETTINGS] = ", ".join(LABELS[k].format(v) for k, v in values.items() if k in DEFINING and k not in first)
    return values


def _write(logdir: Path, summaries: list) -> None:
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(logdir))
    for summary in summaries:
        writer.add_event(Event(summary=summary, wall_time=time.time(), step=0))
    writer.close()


def _summary(tag: str, **plugin_data: Any):
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **plugin_data)
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])


def write_session_start(logdir: Path, settings: Mapping[str, Any], group: str) -> None:
    """Record a run's settings for the HPARAMS tab (no experiment summary: see the module docstring)."""
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    start = plugin_data_pb2.SessionStartInfo(group_name=group, start_time_secs=time.time())
    for key, value in settings.items():
        if isinstance(value, bool):
            start.hparams[key].bool_value = value
        elif isinstance(value, (int, float)):
            start.hparams[key].number_value = value
        else:
            start.hparams[key].string_value = str(value)
    _write(logdir, [_summary(metadata.SESSION_START_INFO_TAG, session_start_info=start)])


def write_session_end(logdir: Path, ok: bool) -> None:
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    status = api_pb2.Status.Value("STATUS_SUCCESS" if ok else "STATUS_FAILURE")
    end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time())
    _write(logdir, [_summary(metadata.SESSION_END_INFO_TAG, session_end_info=end)])


def _data_type(value: Any) -> str:
    if isinstance(value, bool):
        return "DATA_TYPE_BOOL"
    return "DATA_TYPE_FLOAT64" if isinstance(value, (int, float)) else "DATA_TYPE_STRING"


def write_experiment(logdir: Path, varying: Iterable[str], settings: Mapping[str, Any]) -> None:
    """The sweep's experiment summary, written once: the swept settings (marked as differing, so TensorBoard
    shows and ticks them first), one column for the constant defining settings, and the metric columns.

    TensorBoard ticks the first five settings it lists and gives each column about 150 pixels, so listing
    the defining settings one by one would push the metrics off a 1600-pixel screen.
    """
    from tensorboard.plugins.hparams import api_pb2, metadata

    varying = list(varying)
    infos = []
    for key in [*varying, SETTINGS]:
        kind = api_pb2.DataType.Value(_data_type(settings.get(key)))
        infos.append(api_pb2.HParamInfo(name=key, type=kind, differs=key in varying))
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag), display_name=tag) for tag in METRICS]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics, time_created_secs=time.time())
    _write(logdir, [_summary(metadata.EXPERIMENT_TAG, experiment=experiment)])
