"""Optuna searches past one process: betaae's Hydra sweeper on Optuna's ask-and-tell API, the study in a real
storage that many workers share, and pruning from inside each job (docs/scaling.md).

- `space`: the search space in Hydra's override grammar, as Optuna distributions;
- `storage`: storage URLs (SQLite by default, PostgreSQL, a journal file), checked and reached;
- `study`: the sampler and pruner, the checks that a study is this search's, the trials owed;
- `sweeper`: one worker of a search (the Hydra plugin in hydra_plugins.betaae_optuna_sweeper wraps it);
- `trials`: what the sweeper and its jobs pass between them; `pruning`: the job's pruning callback.

May import: core, config and runs (for override keys); `pruning` imports Lightning, the rest does not.
"""
