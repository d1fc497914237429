"""betaae's Optuna sweeper, as Hydra finds it: plugins live in the `hydra_plugins` namespace package.
The work is done by betaae.search.sweeper.Search; its options are in conf/hydra/sweeper/optuna.yaml."""

from __future__ import annotations

from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf


class OptunaSweeper(Sweeper):
    def __init__(self, **options: Any) -> None:
        self.options = OmegaConf.create(options)
        self.search: Any = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        from betaae.search.sweeper import Search

        launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.search = Search(self.options, config, launcher)

    def sweep(self, arguments: list[str]) -> None:
        self.search.run(arguments)
