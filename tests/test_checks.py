"""Configs: every group option composes, callbacks compose one file each, presets carry their values, and
each bad value gets one line naming the option, its value and what is allowed, before any heavy import."""

import importlib.util
import subprocess
import sys

import pytest
from helpers import CONF, ROOT, TINY, compose_config, error_lines, run_script

from betaae.config.checks import validate_train

# Every config group on disk: train.py's, invert.py's `method`, and Hydra's own (help pages, launchers).
INVERT_GROUPS = ["method", "hydra/help"]
GROUPS = sorted(str(d.relative_to(CONF)) for d in CONF.rglob("*") if d.is_dir() and any(d.glob("*.yaml")))
TRAIN_GROUPS = [g for g in GROUPS if g not in INVERT_GROUPS]
# data/default.yaml is the shared base every family's file extends, not a choice of its own.
OPTIONS = [
    (g, f.stem) for g in TRAIN_GROUPS for f in sorted((CONF / g).glob("*.yaml")) if (g, f.stem) != ("data", "default")
]


def test_the_groups_tested_are_the_folders_of_conf():
    named = {"data", "model", "optimizer", "scheduler", "trainer", "callbacks", "logger", "paths", "hydra"}
    named |= {"experiment", "debug", "hparams_search", "hydra/launcher", "hydra/sweeper", *INVERT_GROUPS}
    assert set(GROUPS) == named, set(GROUPS) ^ named
    assert {g for g, _ in OPTIONS} == set(TRAIN_GROUPS)


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_config_group_option_composes_and_validates(group, option, tmp_path):
    if group == "hparams_search" and importlib.util.find_spec("optuna") is None:
        pytest.skip("optuna is not installed (pip install -e '.[optuna]')")
    cfg = compose_config("train", [f"{group}={option}"], tmp_path)
    validate_train(cfg)  # the GPU's presence is checked later, once torch is loaded
    if group in ("model", "optimizer", "scheduler"):  # their classes' own rules and signatures too
        from betaae.config.checks import check_classes

        check_classes(cfg)


@pytest.mark.parametrize("method", [f.stem for f in sorted((CONF / "method").glob("*.yaml"))])
# The Python API (no Hydra) takes a method's defaults from its signature and invert.py from its config file:
# this test holds the two equal.
def test_every_inversion_method_config_composes_with_its_own_options(method):
    import inspect

    from betaae.config.invert import validate_invert
    from betaae.inversion.methods import METHODS

    cfg = compose_config("invert", [f"method={method}", "ckpt_path=x"])
    assert set(validate_invert(cfg)) == set(cfg.method) - {"name"}
    signature = inspect.signature(METHODS.get(cfg.method.name))
    defaults = {k: p.default for k, p in signature.parameters.items() if p.default is not inspect.Parameter.empty}
    assert defaults == {k: v for k, v in cfg.method.items() if k != "name"}  # the Python API's defaults


def test_callbacks_compose_one_file_each_and_can_be_dropped_or_added(tmp_path):
    default = compose_config("train", [], tmp_path)
    assert set(default.callbacks) == {
        "model_checkpoint",
        "last_checkpoint",
        "start_checkpoint",
        "progress_bar",
        "latent_images",
    }
    dropped = compose_config("train", ["~callbacks.latent_images"], tmp_path)
    assert "latent_images" not in dropped.callbacks
    added = compose_config("train", ["callbacks=[default,early_stopping]"], tmp_path)
    assert set(added.callbacks) == set(default.callbacks) | {"early_stopping"}


def test_a_family_config_holds_only_what_differs(tmp_path):
    for family in ("beta", "gamma", "student_t"):
        text = (CONF / "data" / f"{family}.yaml").read_text()
        assert "grid_low" not in text and "[" not in text.split("params:")[1]  # ranges and grid come from the class
    cfg = compose_config("train", ["data=student_t", "data.params.df=[2,5]"], tmp_path)
    assert list(cfg.data.params) == ["df", "loc", "scale"] and list(cfg.data.params.df) == [2, 5]


def test_experiment_seed_carries_the_notebook_settings(tmp_path):
    cfg = compose_config("train", ["experiment=seed"], tmp_path)
    assert cfg.latent_dims == 2 and cfg.model.latent_dims == 2
    assert cfg.data.batch_size == 1 and cfg.data.shuffle is False
    assert cfg.data.num_train == 10_000 and cfg.data.num_points == 100
    assert list(cfg.model.hidden) == [128] and cfg.model.activation == "relu"
    assert cfg.optimizer.lr == 1e-4 and cfg.scheduler.gamma == 0.99 and cfg.trainer.max_epochs == 20


def test_debug_presets_write_under_their_own_task_name(tmp_path):
    for preset in ("fdr", "overfit"):
        assert compose_config("train", [f"debug={preset}"], tmp_path).task_name == "debug"


def test_usage_line_overrides_compose(tmp_path):
    cfg = compose_config("train", ["latent_dims=3", "trainer.accelerator=gpu"], tmp_path)
    assert cfg.model.latent_dims == 3 and cfg.trainer.accelerator == "gpu"


# The README's error table for train.py: each bad input, and a piece of the one line it gets.
BAD_TRAIN_INPUTS = [
    ("latent_dims=0", "latent_dims=0 is not allowed: must be an integer >= 1"),
    ("latent_dims=two", "latent_dims='two' is not allowed: must be an integer >= 1"),
    ("model.hidden=[128,0]", "model.hidden=[128, 0] is not allowed: must be a list of integers >= 1"),
    ("model.activation=sigmoid", "model.activation='sigmoid' is not allowed: must be one of relu, silu, gelu, tanh"),
    ("optimizer.lr=0", "optimizer.lr=0 is not allowed: must be a finite number > 0"),
    ("scheduler.gamma=0", "scheduler.gamma=0 is not allowed: must be a number in (0, 1]"),
    ("scheduler.gamma=1.5", "scheduler.gamma=1.5 is not allowed: must be a number in (0, 1]"),
    ("optimizer.weight_decay=-1", "optimizer.weight_decay=-1 is not allowed: must be a finite number >= 0"),
    ("+model.bogus=1", "unknown option model.bogus; known options of AutoEncoder:"),
    (
        "optimizer._target_=torch.optim.LBFGS",
        "optimizer._target_=torch.optim.LBFGS: its step() needs closure at every step",
    ),
    ("optimizer._target_=torch.nn.Linear", "optimizer._target_=torch.nn.Linear: not a torch.optim.Optimizer subclass"),
    (
        "scheduler._target_=torch.optim.lr_scheduler.StepLR ~scheduler.gamma",
        "scheduler._target_=torch.optim.lr_scheduler.StepLR: requires step_size; give +scheduler.step_size=...",
    ),
    (
        "scheduler._target_=torch.optim.lr_scheduler.ReduceLROnPlateau ~scheduler.gamma",
        "scheduler._target_=torch.optim.lr_scheduler.ReduceLROnPlateau: its step() needs metrics at every step",
    ),
    ("data.batch_size=0", "data.batch_size=0 is not allowed: must be an integer >= 1"),
    ("data.num_points=1", "data.num_points=1 is not allowed: must be an integer >= 2"),
    ("data.grid_low=0", "data.grid_low=0 is not allowed: must lie inside the beta support (0, 1)"),
    ("data.grid_high=1.0", "data.grid_high=1.0 is not allowed: must be > data.grid_low (0.01) and inside (0, 1)"),
    ("data.grid_high=0.005", "data.grid_high=0.005 is not allowed: must be > data.grid_low (0.01)"),
    (
        "data.params.alpha=[-1,5]",
        "data.params.alpha=[-1, 5] is not allowed: must be a pair [low, high] of finite numbers with 0 <= low < high",
    ),
    ("data.params.beta=[5,5]", "data.params.beta=[5, 5] is not allowed: must be a pair [low, high]"),
    ("data.params.alpha=5", "data.params.alpha=5 is not allowed: must be a pair [low, high]"),
    ("+data.params.gamma=[1,2]", "unknown option data.params.gamma; known options of the beta family: alpha, beta"),
    (
        "data.family=nope",
        "data.family='nope' is not allowed: must be one of beta, kumaraswamy, gamma, normal, student_t",
    ),
    ("data.num_train=0", "data.num_train=0 is not allowed: must be an integer >= 1"),
    ("data.num_val=0", "data.num_val=0 is not allowed: must be an integer >= 1"),
    ("data.online=false data.num_train=1000000000", "data.num_train=1000000000: the data needs"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0 is not allowed: must be an integer >= 1"),
    ("compile=maybe", "compile='maybe' is not allowed: must be auto, true or false"),
    ("inversion_score.targets=0", "inversion_score.targets=0 is not allowed: must be an integer >= 1"),
    (
        "inversion_score.noise=[0.05,0]",
        "inversion_score.noise=[0.05, 0] is not allowed: must be a non-empty list of noise sds > 0",
    ),
    ("inversion_score.noise=[]", "inversion_score.noise=[] is not allowed: must be a non-empty list of noise sds > 0"),
    (
        "optimized_metric=test_inversion/error_p90",
        "optimized_metric='test_inversion/error_p90' is not allowed: must be a val/ (or train/) metric",
    ),
    ("trainer.accelerator=tpu9", "trainer.accelerator='tpu9': You selected an invalid accelerator name"),
    ("trainer.precision=7", "trainer.precision=7: Precision 7 is invalid. Allowed precision values:"),
    ("+trainer.bogus=1", "unknown option trainer.bogus; known options here:"),
    ("data.bogus=1", "unknown option data.bogus: it is not in the config"),
    ("+data.bogus=1", "unknown option data.bogus; known options here:"),
    ("+bogus=1", "unknown option bogus; known options here:"),
    ("~latent_dims", "~latent_dims: latent_dims cannot be removed, every run needs it"),
    ("data=nosuch", "Could not find 'data/nosuch'; Available options in 'data': beta, default, gamma"),
    ("resume=/nonexistent/run", "resume=/nonexistent/run: no such run directory"),
]


@pytest.mark.parametrize(("override", "message"), BAD_TRAIN_INPUTS, ids=[o for o, _ in BAD_TRAIN_INPUTS])
def test_bad_train_input_gets_one_line_and_exit_code_2(override, message, tmp_path, capsys):
    code, _, err = run_script("train.py", [*TINY, *override.split(), f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 2, err
    lines = error_lines(err)
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err and "Error executing job" not in err
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "metrics.json").exists()


@pytest.mark.parametrize("case", ["data.family=student_t", "model=vae"])
def test_each_family_and_model_checks_its_own_options(case, tmp_path, capsys):
    bad = {"data.family=student_t": "data.params.df=[-1,2]", "model=vae": "model.beta=-1"}[case]
    expected = {
        "data.family=student_t": "data.params.df=[-1, 2] is not allowed",
        "model=vae": "model.beta=-1 is not allowed: must be a finite number >= 0",
    }[case]
    override = "data=student_t" if case.startswith("data") else case
    code, _, err = run_script("train.py", [*TINY, override, bad, f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 2 and expected in error_lines(err)[0], err


def test_gpu_request_without_a_gpu_says_so_and_how_to_use_the_cpu(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, _, err = run_script("train.py", ["trainer.accelerator=gpu", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 2
    (line,) = error_lines(err)
    assert "no CUDA GPU is visible" in line and "trainer.accelerator=cpu" in line


REFUSED_WITHOUT_TORCH = """
import runpy, sys
sys.argv = ["train.py", *sys.argv[1:]]
try:
    runpy.run_path("train.py", run_name="__main__")
except SystemExit as stop:
    print("exit", stop.code, "torch loaded:", "torch" in sys.modules, "lightning loaded:", "lightning" in sys.modules)
"""


@pytest.mark.parametrize("override", ["latent_dims=0", "data.batch_size=0", "data.params.alpha=5", "+bogus=1"])
def test_a_bad_option_is_refused_before_torch_or_lightning_is_imported(override, tmp_path):
    args = [override, f"hydra.run.dir={tmp_path}"]
    result = subprocess.run(
        [sys.executable, "-c", REFUSED_WITHOUT_TORCH, *args], cwd=ROOT, capture_output=True, text=True
    )
    assert "exit 2 torch loaded: False lightning loaded: False" in result.stdout, result.stdout + result.stderr


def test_a_bad_model_option_is_refused_before_lightning_is_imported(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", REFUSED_WITHOUT_TORCH, "optimizer.lr=0", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert "exit 2" in result.stdout and "lightning loaded: False" in result.stdout, result.stdout + result.stderr


def test_the_built_in_models_rules_checked_before_torch_are_the_classes_own():
    from betaae.models import options
    from betaae.models.base import ACTIVATIONS, model_class

    for target, (name, rules) in options.BUILTIN.items():
        cls = model_class(target)
        assert cls.__name__ == name and cls.options is rules, target
    assert set(options.ACTIVATIONS) == set(ACTIVATIONS)
