"""An Optuna search as a Hydra sweeper, on Optuna's ask-and-tell API: each round asks the study for as many
trials as run at once (`n_jobs`), hands them to the sweep's launcher as jobs, and tells the study how each
ended: its value, failed, or pruned. The study lives in a real storage (betaae.search.storage), so a search
that stops continues where it stopped, and several workers (processes or machines) can share one study.

The Hydra plugin (hydra_plugins.betaae_optuna_sweeper) is a thin class over `Search`."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from betaae.core.commands import override, script, shell, tool
from betaae.core.errors import ConfigError
from betaae.search import storage as storages
from betaae.search import study as studies
from betaae.search.space import as_override, search_space
from betaae.search.trials import TRIAL_ENV, Pruned, trial_env

log = logging.getLogger("betaae")


def settings(sweeper: DictConfig) -> dict[str, Any]:
    """The sweeper's options, checked: each bad one is a one-line ConfigError."""
    from betaae.config.checks import integer, require

    require("hydra.sweeper.n_trials", sweeper.get("n_trials"), integer(1))
    require("hydra.sweeper.n_jobs", sweeper.get("n_jobs", 1), integer(1))
    direction = str(sweeper.get("direction", "minimize"))
    if direction not in ("minimize", "maximize"):
        raise ConfigError(f"hydra.sweeper.direction={direction}: not a direction; use minimize or maximize")
    name = sweeper.get("study_name")
    if not name or not isinstance(name, str):
        raise ConfigError(
            f"hydra.sweeper.study_name={name}: a study needs a name, e.g. hydra.sweeper.study_name=betaae"
        )
    return {"n_trials": int(sweeper.n_trials), "n_jobs": int(sweeper.get("n_jobs", 1)), "direction": direction}


def preflight(config: DictConfig, sweep_dir: Path, overrides: list[str]) -> dict[str, str]:
    """Everything about a search that can be refused before its sweep directory exists: its options, its
    search space, its sampler and pruner, its storage (reached), and a study of its name made by another
    search. Returns the study's place for the sweep's record: {"storage": url, "name": study name}."""
    sweeper = config.hydra.sweeper
    options = settings(sweeper)
    space, _ = search_space(OmegaConf.to_container(sweeper.get("params") or {}), overrides)
    studies.build(sweeper.get("sampler"), "hydra.sweeper.sampler", "sampler")
    studies.build(sweeper.get("pruner"), "hydra.sweeper.pruner", "pruner")
    url = storages.resolve(sweeper.get("storage"), sweep_dir)
    if storages.exists(url):
        found = studies.existing(storages.open_storage(url), sweeper.study_name)
        if found is not None:
            studies.check(found, space, options["direction"], config.optimized_metric, sweeper.study_name)
    return {"storage": url, "name": str(sweeper.study_name)}


class Search:
    """One worker of a search: asks, launches, tells, until the study owes no more trials."""

    def __init__(self, sweeper: DictConfig, config: DictConfig, launcher: Any) -> None:
        self.sweeper, self.config, self.launcher = sweeper, config, launcher
        self.options = settings(sweeper)
        self.sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        self.metric = str(config.get("optimized_metric"))

    def open(self, arguments: list[str]):
        import optuna

        space, fixed = search_space(OmegaConf.to_container(self.sweeper.get("params") or {}), arguments)
        url = storages.resolve(self.sweeper.get("storage"), self.sweep_dir)
        storage = storages.open_storage(url)
        name = str(self.sweeper.study_name)
        found = studies.existing(storage, name)
        if found is not None:
            studies.check(found, space, self.options["direction"], self.metric, name)
        sampler_node = studies.seeded(self.sweeper.get("sampler"), found is None, str(self.sweep_dir))
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction=self.options["direction"],
            sampler=studies.build(sampler_node, "hydra.sweeper.sampler", "sampler"),
            pruner=studies.build(self.sweeper.get("pruner"), "hydra.sweeper.pruner", "pruner")
            or optuna.pruners.NopPruner(),
            load_if_exists=True,
        )
        if found is None:
            study.set_user_attr(studies.SPACE, studies.space_text(space))
            study.set_user_attr(studies.METRIC, self.metric)
        self.url, self.name, self.space, self.fixed, self.study = url, name, space, fixed, study
        self.pruning = self.sweeper.get("pruner") is not None

    def announce(self, arguments: list[str]) -> None:
        owed = studies.owed(self.study, self.options["n_trials"])
        retries = len(studies.to_retry(self.study, str(self.sweep_dir)))
        again = f", {retries} interrupted to run again" if retries else ""
        shown = storages.shown(self.url)
        print(
            f"study:      {self.name} in {shown}: {owed} of {self.options['n_trials']} trials to run{again} "
            f"({studies.describe(self.study)}), {self.options['n_jobs']} at a time"
            + (", pruning hopeless trials" if self.pruning else ""),
            flush=True,
        )
        print(f"dashboard:  {shell(tool('optuna-dashboard'))} {shell(shown)}", flush=True)
        given = [
            a
            for a in OmegaConf.to_container(self.config.hydra.overrides.hydra)
            if not a.startswith(("hydra.sweep.dir=", "hydra.sweeper.storage="))
        ]
        worker = script("train.py", "-m", *given, *arguments, override("hydra.sweeper.storage", shown))
        where = "another process" if storages.scheme(self.url) == "sqlite" else "another process or machine"
        print(f"workers:    add one in {where}, sharing this study: {worker}", flush=True)

    def next_num(self) -> int:
        nums = [
            int(t.user_attrs[studies.JOB_NUM])
            for t in self.study.get_trials(deepcopy=False)
            if t.user_attrs.get(studies.SWEEP_DIR) == str(self.sweep_dir) and studies.JOB_NUM in t.user_attrs
        ]
        return max(nums, default=-1) + 1

    def ask(self, count: int) -> list[tuple[Any, int]]:
        """Up to `count` trials with their job numbers: interrupted ones of this worker first (each keeps its
        job number, so its job resumes from its last checkpoint), then new ones while places are owed."""
        asked: list[tuple[Any, int]] = []
        for old in studies.to_retry(self.study, str(self.sweep_dir))[:count]:
            self.study.enqueue_trial(old.params, user_attrs={studies.RETRY_OF: old.number}, skip_if_exists=False)
        num = self.next_num()
        while len(asked) < count:
            waiting = any(t.state.name == "WAITING" for t in self.study.get_trials(deepcopy=False))
            if not waiting and studies.owed(self.study, self.options["n_trials"]) <= 0:
                break
            trial = self.study.ask(self.space)
            retry_of = trial.user_attrs.get(studies.RETRY_OF)
            original = next((t for t in self.study.get_trials(deepcopy=False) if t.number == retry_of), None)
            mine = original is not None and original.user_attrs.get(studies.SWEEP_DIR) == str(self.sweep_dir)
            if retry_of is None and not studies.within_budget(self.study, trial, self.options["n_trials"]):
                # Another worker took the last place between the count and the ask (a trial run again only
                # takes the place of the interrupted one).
                trial.set_user_attr(studies.UNUSED, True)
                self.study.tell(trial, state=_state("FAIL"))
                break
            job_num = int(original.user_attrs[studies.JOB_NUM]) if mine else num
            if not mine:
                num += 1
            trial.set_user_attr(studies.SWEEP_DIR, str(self.sweep_dir))
            trial.set_user_attr(studies.JOB_NUM, job_num)
            asked.append((trial, job_num))
        return asked

    def overrides(self, trial) -> list[str]:
        values = [as_override(key, trial.params[key]) for key in self.space]
        env = trial_env(self.url, self.name, trial._trial_id, trial.number, self.pruning)
        return [*self.fixed, *values, f"++hydra.job.env_set.{TRIAL_ENV}='{env}'"]

    def launch(self, batch: list[tuple[Any, int]]) -> None:
        """Run a round's trials as jobs (runs of consecutive job numbers together), then tell the study."""
        groups: list[list[tuple[Any, int]]] = []
        for item in sorted(batch, key=lambda pair: pair[1]):
            if groups and groups[-1][-1][1] + 1 == item[1]:
                groups[-1].append(item)
            else:
                groups.append([item])
        told: set[int] = set()
        try:
            for group in groups:
                returns = self.launcher.launch([self.overrides(t) for t, _ in group], initial_job_idx=group[0][1])
                for (trial, _), ret in zip(group, returns):
                    self.tell(trial, ret)
                    told.add(trial.number)
        except BaseException:
            # Stopped (Ctrl-C, SIGTERM): the trials still running are failed in the study, marked so that the
            # search, continued, runs them again in the same job directories.
            for trial, _ in batch:
                if trial.number not in told:
                    trial.set_user_attr(studies.INTERRUPTED, True)
                    self.study.tell(trial, state=_state("FAIL"))
            raise

    def tell(self, trial, ret) -> None:
        from hydra.core.utils import JobStatus

        job_dir = _output_dir(ret)
        if job_dir is not None:
            trial.set_user_attr(studies.JOB_DIR, job_dir)
        value = ret.return_value if ret.status == JobStatus.COMPLETED else None
        if isinstance(value, Pruned):
            trial.set_user_attr(studies.EPOCHS, value.epochs)
            self.study.tell(trial, state=_state("PRUNED"))
        elif isinstance(value, (int, float)) and math.isfinite(value):
            self.study.tell(trial, float(value))
        else:  # the job's error is in its error.txt and its line on the console
            self.study.tell(trial, state=_state("FAIL"))

    def run(self, arguments: list[str]) -> None:
        self.open(arguments)
        self.announce(arguments)
        while True:
            batch = self.ask(self.options["n_jobs"])
            if not batch:
                break
            self.launch(batch)
        self.summary()

    def summary(self) -> None:
        """The study's line at the end, and `optimization_results.yaml`: its best trial, as Hydra's former
        Optuna sweeper wrote it, with the study's place."""
        import yaml

        from betaae.core.files import atomic_write_bytes

        try:
            best = self.study.best_trial
        except ValueError:  # no trial finished
            print(f"study:      {studies.describe(self.study)}; none finished", flush=True)
            return
        results = {
            "name": self.name,
            "storage": storages.shown(self.url),
            "best_trial": best.number,
            "best_params": dict(best.params),
            "best_value": float(best.value),
            "trials": studies.describe(self.study),
        }
        atomic_write_bytes(
            self.sweep_dir / "optimization_results.yaml", yaml.safe_dump(results, sort_keys=False).encode()
        )
        values = " ".join(as_override(k, v) for k, v in best.params.items())
        print(
            f"study:      {studies.describe(self.study)}; best trial #{best.number}: {self.metric} "
            f"{best.value:.4g} ({values})",
            flush=True,
        )


def _state(name: str):
    from optuna.trial import TrialState

    return TrialState[name]


def _output_dir(ret: Any) -> str | None:
    try:
        return str(ret.hydra_cfg.hydra.runtime.output_dir)
    except Exception:  # a job that failed before Hydra set its directory
        return None
