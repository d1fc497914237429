"""A search's study: the sampler and pruner it is built with, the checks that a study found in the storage is
this search's (its direction, its settings, its metric), and how many trials it still owes.

A trial counts towards `n_trials` once it finished, failed or was pruned. Two kinds of trial do not: one that
was running when its worker was stopped (`interrupted`: it runs again, from its job's last checkpoint, when
the search continues), and one asked for by a worker after the other workers had already taken the last
owed place (`unused`)."""

from __future__ import annotations

import zlib
from typing import Any

from betaae.core.errors import ConfigError

SPACE = "betaae_space"  # study user attributes: the search space and metric the study was made for
METRIC = "betaae_metric"
INTERRUPTED = "interrupted"  # trial user attributes
UNUSED = "unused"
RETRY_OF = "retry_of"
JOB_DIR = "job_dir"
SWEEP_DIR = "sweep_dir"  # the sweep directory of the worker that ran it
JOB_NUM = "job_num"
EPOCHS = "epochs"


def build(node: Any, option: str, base_name: str):
    """An Optuna sampler or pruner from its config node (None stays None), checked to be one."""
    import optuna
    from hydra.utils import instantiate
    from omegaconf import DictConfig

    if node is None:
        return None
    base = {"sampler": optuna.samplers.BaseSampler, "pruner": optuna.pruners.BasePruner}[base_name]
    target = node.get("_target_") if isinstance(node, (dict, DictConfig)) else None
    if not target:
        raise ConfigError(f"{option}: needs a _target_, e.g. {option}._target_=optuna.{base_name}s.…")
    try:
        made = instantiate(node, _convert_="all")
    except Exception as err:  # Hydra wraps the import or the constructor's error
        cause = err.__cause__ or err
        raise ConfigError(f"{option}._target_={target}: cannot build it ({str(cause).splitlines()[0][:200]})") from None
    if not isinstance(made, base):
        example = "optuna.samplers.TPESampler" if base_name == "sampler" else "optuna.pruners.MedianPruner"
        raise ConfigError(f"{option}._target_={target}: not an Optuna {base_name}; use e.g. {example}")
    return made


def seeded(sampler_node: Any, created: bool, sweep_dir: str):
    """The sampler node with its seed moved for a worker that joins an existing study: workers with one seed
    would propose the same first trials. A new study keeps the seed as given, so a search can be repeated."""
    from omegaconf import OmegaConf

    if sampler_node is None or created or sampler_node.get("seed") is None:
        return sampler_node
    node = OmegaConf.create(OmegaConf.to_container(sampler_node))
    node.seed = (int(node.seed) + zlib.crc32(sweep_dir.encode())) % 2**31
    return node


def space_text(space: dict[str, Any]) -> dict[str, str]:
    from optuna.distributions import distribution_to_json

    return {k: distribution_to_json(v) for k, v in sorted(space.items())}


def check(study, space: dict[str, Any], direction: str, metric: str, name: str) -> None:
    """Refuse a study of this name that another search made: another direction, settings or metric."""
    theirs = study.direction.name.lower()
    if theirs != direction:
        raise ConfigError(
            f"hydra.sweeper.study_name={name}: the study in this storage is to {theirs} and this search is to "
            f"{direction}; choose another study_name"
        )
    recorded = study.user_attrs.get(SPACE)
    if recorded is not None and recorded != space_text(space):
        mine = space_text(space)
        differ = sorted(k for k in set(recorded) | set(mine) if recorded.get(k) != mine.get(k))
        raise ConfigError(
            f"hydra.sweeper.study_name={name}: the study in this storage searches other settings or ranges "
            f"({', '.join(differ)} differ); choose another study_name, or search what it searches"
        )
    if recorded is None:
        from optuna.distributions import distribution_to_json

        for trial in study.get_trials(deepcopy=False):
            for key, dist in trial.distributions.items():
                if key not in space or distribution_to_json(space[key]) != distribution_to_json(dist):
                    raise ConfigError(
                        f"hydra.sweeper.study_name={name}: the study in this storage searches {key} otherwise; "
                        "choose another study_name"
                    )
    theirs_metric = study.user_attrs.get(METRIC)
    if theirs_metric is not None and theirs_metric != metric:
        raise ConfigError(
            f"hydra.sweeper.study_name={name}: the study in this storage optimizes {theirs_metric}, this search "
            f"{metric}; choose another study_name"
        )


def existing(storage, name: str):
    """The study of this name in the storage, or None."""
    import optuna

    if name not in optuna.study.get_all_study_names(storage):
        return None
    return optuna.load_study(study_name=name, storage=storage)


def counted(trial) -> bool:
    return not (trial.user_attrs.get(INTERRUPTED) or trial.user_attrs.get(UNUSED))


def done(trial) -> bool:
    from optuna.trial import TrialState

    return counted(trial) and trial.state in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


def owed(study, n_trials: int) -> int:
    """Trials still to be asked for: n_trials less those counted that finished, failed, were pruned or run."""
    return max(0, n_trials - sum(counted(t) for t in study.get_trials(deepcopy=False)))


def within_budget(study, trial, n_trials: int) -> bool:
    """Whether a trial just asked for takes one of the n_trials places: trial numbers are given out in order
    by the storage, so among workers asking at once the lowest numbers win."""
    before = sum(counted(t) for t in study.get_trials(deepcopy=False) if t.number < trial.number)
    return before < n_trials


def to_retry(study, sweep_dir: str) -> list:
    """The trials of this worker (its sweep directory) that were interrupted and have not run again yet."""
    retried = {t.user_attrs.get(RETRY_OF) for t in study.get_trials(deepcopy=False)}
    return [
        t
        for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get(INTERRUPTED) and t.number not in retried and t.user_attrs.get(SWEEP_DIR) == sweep_dir
    ]


def trial_rows(storage_url: str, name: str, metric: str) -> list[dict[str, Any]]:
    """One row per counted trial of the study, whichever worker ran it: number, state, values, job directory."""
    from betaae.search.storage import open_storage

    study = existing(open_storage(storage_url), name)
    if study is None:
        return []
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if not counted(trial):
            continue
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name.lower(),
                "params": dict(trial.params),
                metric: trial.value,
                "job_dir": trial.user_attrs.get(JOB_DIR),
                "epochs": trial.user_attrs.get(EPOCHS),
            }
        )
    return rows


def describe(study) -> str:
    """`12 finished, 1 failed, 3 pruned, 2 running` of the counted trials."""
    counts: dict[str, int] = {}
    names = {"complete": "finished", "fail": "failed", "pruned": "pruned", "running": "running", "waiting": "queued"}
    for trial in study.get_trials(deepcopy=False):
        if counted(trial):
            state = names.get(trial.state.name.lower(), trial.state.name.lower())
            counts[state] = counts.get(state, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items()) or "no trials yet"
