"""betaae: autoencoders for families of mathematical functions, trained with Lightning and Hydra."""

from omegaconf import OmegaConf

from betaae.runs import hydra_subdir, run_dir, unique_dir
from betaae.sweep import job_dirname

__version__ = "0.2.0"

# The run and sweep directories are named by these resolvers (conf/hydra/default.yaml). Registered on
# import, so that the configs compose the same way from the scripts, the tests and a notebook.
OmegaConf.register_new_resolver("unique_dir", unique_dir, replace=True, use_cache=True)
OmegaConf.register_new_resolver("run_dir", run_dir, replace=True, use_cache=True)
OmegaConf.register_new_resolver("hydra_subdir", hydra_subdir, replace=True)
OmegaConf.register_new_resolver("job_dirname", job_dirname, replace=True)
