"""Configs: every group option composes, experiment=seed carries the notebook's values, and validation
turns each bad value into one line naming the option, its value and what is allowed."""

import importlib.util

import pytest
from conftest import CONF, TINY, compose_config, error_lines, run_script
from omegaconf import open_dict

from betaae.config import validate_train
from betaae.errors import ConfigError

GROUPS = ["data", "model", "trainer", "callbacks", "logger", "paths", "hydra", "experiment", "debug", "hparams_search"]
OPTIONS = [(g, f.stem) for g in GROUPS for f in sorted((CONF / g).glob("*.yaml")) if f.stem != "default" or g != "data"]


def test_every_config_group_has_at_least_one_option():
    assert {g for g, _ in OPTIONS} == set(GROUPS)


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_config_group_option_composes_and_validates(group, option, tmp_path):
    if group == "hparams_search" and importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None:
        pytest.skip("hydra-optuna-sweeper is not installed (pip install -e '.[optuna]')")
    cfg = compose_config("train", [f"{group}={option}"], tmp_path)
    if group == "trainer" and cfg.trainer.accelerator == "gpu":
        pytest.skip("needs a GPU to validate")  # composition itself succeeded
    validate_train(cfg)


def test_experiment_seed_carries_the_notebook_settings(tmp_path):
    cfg = compose_config("train", ["experiment=seed"], tmp_path)
    assert cfg.latent_dims == 2 and cfg.model.latent_dims == 2
    assert cfg.data.batch_size == 1 and cfg.data.shuffle is False
    assert cfg.data.num_train == 10_000 and cfg.data.num_points == 100
    assert (cfg.data.grid_low, cfg.data.grid_high) == (0.01, 0.99)
    assert list(cfg.data.params.alpha) == [0.0, 5.0] and list(cfg.data.params.beta) == [0.0, 5.0]
    assert list(cfg.model.hidden) == [128]
    assert cfg.model.lr == 1e-4 and cfg.model.gamma == 0.99 and cfg.trainer.max_epochs == 20


def test_usage_line_overrides_compose(tmp_path):
    cfg = compose_config("train", ["latent_dims=3", "trainer.accelerator=gpu"], tmp_path)
    assert cfg.model.latent_dims == 3 and cfg.trainer.accelerator == "gpu"


def test_debug_fdr_runs_one_batch_of_each_stage(tmp_path):
    cfg = compose_config("train", ["debug=fdr"], tmp_path)
    assert cfg.trainer.fast_dev_run is True


# The README's error table: each bad input, and a piece of the one line it gets.
BAD_TRAIN_INPUTS = [
    ("latent_dims=0", "latent_dims=0 is not allowed: must be an integer >= 1"),
    ("latent_dims=two", "latent_dims='two' is not allowed: must be an integer >= 1"),
    ("model.hidden=[128,0]", "model.hidden=[128, 0] is not allowed: must be a list of integers >= 1"),
    ("model.lr=0", "model.lr=0 is not allowed: must be a finite number > 0"),
    ("model.gamma=0", "model.gamma=0 is not allowed: must be a number in (0, 1]"),
    ("model.gamma=1.5", "model.gamma=1.5 is not allowed: must be a number in (0, 1]"),
    ("model.weight_decay=-1", "model.weight_decay=-1 is not allowed: must be a finite number >= 0"),
    ("data.batch_size=0", "data.batch_size=0 is not allowed: must be an integer >= 1"),
    ("data.num_points=1", "data.num_points=1 is not allowed: must be an integer >= 2"),
    ("data.grid_low=0", "data.grid_low=0 is not allowed: must lie inside the beta support (0.0, 1.0)"),
    ("data.grid_high=1.0", "data.grid_high=1.0 is not allowed: must be > data.grid_low (0.01) and < 1.0"),
    ("data.grid_high=0.005", "data.grid_high=0.005 is not allowed: must be > data.grid_low (0.01) and < 1.0"),
    ("data.params.alpha=[-1,5]", "data.params.alpha=[-1, 5] is not allowed: must satisfy 0.0 <= low < high"),
    ("data.params.beta=[5,5]", "data.params.beta=[5, 5] is not allowed: must satisfy 0.0 <= low < high"),
    ("data.num_train=0", "data.num_train=0 is not allowed: must be an integer >= 1"),
    ("data.num_val=0", "data.num_val=0 is not allowed: must be an integer >= 1"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0 is not allowed: must be an integer >= 1"),
    ("trainer.accelerator=tpu9", "trainer.accelerator='tpu9' is not allowed: must be one of auto, cpu, gpu, cuda, mps"),
    ("data.bogus=1", "unknown option data.bogus: it is not in the config"),
    ("+data.bogus=1", "unknown option data.bogus; known options here:"),
    ("+trainer.bogus=1", "unknown option trainer.bogus; known options here:"),
    ("+bogus=1", "unknown option bogus; known options here:"),
    (
        "data=nosuch",
        "Could not find 'data/nosuch'; Available options in 'data': beta, default, gamma, kumaraswamy, normal",
    ),
    ("resume=/nonexistent/run", "resume=/nonexistent/run: not a betaae run directory (it has no config.yaml)"),
]


@pytest.mark.parametrize(("override", "message"), BAD_TRAIN_INPUTS, ids=[o for o, _ in BAD_TRAIN_INPUTS])
def test_bad_train_input_gets_one_line_and_exit_code_2(override, message, tmp_path, capsys):
    code, _, err = run_script("train.py", [*TINY, override, f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 2
    lines = error_lines(err)
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "metrics.json").exists()


def test_gpu_request_without_a_gpu_says_so_and_how_to_use_the_cpu(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, _, err = run_script("train.py", ["trainer.accelerator=gpu", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 2
    (line,) = error_lines(err)
    assert "no CUDA GPU is visible" in line and "trainer.accelerator=cpu" in line


def test_validation_reports_the_first_problem_as_a_config_error(tmp_path):
    cfg = compose_config("train", [], tmp_path)
    with open_dict(cfg):
        cfg.data.num_points = 1.5
    with pytest.raises(ConfigError, match=r"data.num_points=1.5 is not allowed"):
        validate_train(cfg)
