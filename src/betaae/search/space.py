"""A search space written in Hydra's override grammar, as Optuna distributions, and a trial's values back as
overrides.

    optimizer.lr: tag(log, interval(1e-4, 3e-2))    -> a float, drawn on a log scale
    trainer.max_epochs: tag(int, interval(50, 200)) -> an int
    data.batch_size: choice(32, 64, 128)            -> one of these (so is `32,64,128`)
    model.latent_dims: range(1, 4)                  -> an int step 1 (range's end is left out, as in Python)

The same grammar on the command line (`optimizer.lr=choice(1e-3,3e-3)`) replaces that setting's range; a
plain value there (`seed=3`) holds for every trial.
"""

from __future__ import annotations

import math
from typing import Any

from betaae.core.errors import ConfigError

OPTION = "hydra.sweeper.params"


def _choice_value(value: Any) -> Any:
    """A choice as Optuna may store it: numbers, strings and booleans as they are; lists and dicts as the
    override text that gives them back (`[256,128]`)."""
    from hydra.core.override_parser.types import Override

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return Override._get_value_element_as_str(value)


def distribution(key: str, text: str, where: str = ""):
    """The Optuna distribution of one setting's range, or None for a plain value (the same in every trial);
    `where` prefixes the key in messages (`hydra.sweeper.params.` for the preset's ranges)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    try:
        (parsed,) = OverridesParser.create().parse_overrides([f"{key}={text}"])
    except HydraException as err:
        raise ConfigError(f"{where}{key}={text}: not Hydra's override grammar ({str(err).splitlines()[0]})") from None
    if not parsed.is_sweep_override():
        return None
    sweep = parsed.value()
    allowed = "choice(...), a,b,c, range(start, stop[, step]) or [tag(log|int, ...)] interval(low, high)"
    if isinstance(sweep, ChoiceSweep):
        choices = [_choice_value(v) for v in sweep.list]
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(f"{where}{key}={text}: a choice is listed twice; list each once")
        return CategoricalDistribution(choices)
    if isinstance(sweep, RangeSweep):
        start, stop, step = sweep.start, sweep.stop, sweep.step or 1
        count = math.ceil((stop - start) / step) if step > 0 else 0
        if count <= 0:
            raise ConfigError(f"{where}{key}={text}: the range is empty; its end is left out, as in Python")
        last = start + (count - 1) * step
        if all(isinstance(v, int) for v in (start, stop, step)):
            return IntDistribution(start, last, step=step)
        return FloatDistribution(float(start), float(last), step=float(step))
    if isinstance(sweep, IntervalSweep):
        low, high, log = sweep.start, sweep.end, "log" in sweep.tags
        if not low < high or (log and low <= 0):
            need = "0 < low < high" if log else "low < high"
            raise ConfigError(f"{where}{key}={text}: an interval needs {need}")
        if "int" in sweep.tags:
            return IntDistribution(int(low), int(high), log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise ConfigError(f"{where}{key}={text}: not a range Optuna can draw from; use {allowed}")


def search_space(params: dict[str, Any], arguments: list[str]) -> tuple[dict[str, Any], list[str]]:
    """(the distributions of the searched settings, the overrides every trial gets): the preset's params,
    then the command line's ranges and plain values, the command line winning."""
    from betaae.runs.hparams import override_key

    space: dict[str, Any] = {}
    fixed: dict[str, str] = {}
    for key, value in (params or {}).items():
        text = str(value)
        found = distribution(str(key), text, f"{OPTION}.")
        if found is None:
            fixed[str(key)] = f"{key}={text}"
        else:
            space[str(key)] = found
    for argument in arguments:
        key = override_key(argument)
        if "=" in argument and not argument.startswith("~"):
            found = distribution(key.lstrip("+"), argument.split("=", 1)[1])
            if found is not None:
                space[key.lstrip("+")] = found
                fixed.pop(key.lstrip("+"), None)
                continue
        space.pop(key.lstrip("+~"), None)
        fixed[key] = argument
    if not space:
        raise ConfigError(f"{OPTION}: nothing to search; give at least one setting a range, e.g. optimizer.lr")
    return space, list(fixed.values())


def as_override(key: str, value: Any) -> str:
    """A trial's value of a setting as an override (floats in full, so a trial runs exactly what it drew)."""
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    return f"{key}={value!r}" if isinstance(value, float) else f"{key}={value}"
