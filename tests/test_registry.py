"""Names read from files never import or call code: a checkpoint's family and model, and a saved run's
`_target_`s, resolve only to betaae's own classes, torch's and Lightning's known ones, or modules the user
names with extensions=[...]. Everything else is refused in one line naming the file and the name."""

import shutil
import subprocess
import sys

import pytest
import torch
import yaml
from helpers import ROOT, error_lines, run_subprocess

from betaae.core.errors import CheckpointError, ConfigError
from betaae.core.registry import Registry, current_path, stored_object
from betaae.families import FAMILIES, Family
from betaae.models import CurveModel

FIXTURE = ROOT / "tests" / "fixtures" / "release-0.3" / "run"

# Names a hostile file might hold: a function of an imported module, a module nobody imported (importing
# it runs code), a betaae function of the wrong kind, a class of the wrong kind, and nonsense.
HOSTILE = ["os.abort", "os.system", "antigravity.fly", "this.s", "betaae.core.signals.install", "torch.nn.Linear", "x"]


def tampered(tmp_path, where: str, value: str):
    """A copy of the release-0.3 best checkpoint with one stored name replaced."""
    checkpoint = torch.load(FIXTURE / "checkpoints" / "best.ckpt", weights_only=True)
    if where == "family":
        checkpoint["hyper_parameters"]["data"]["family"] = value
    else:
        checkpoint["hyper_parameters"]["model"]["_target_"] = value
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{where}.ckpt"
    torch.save(checkpoint, path)
    return path


@pytest.mark.parametrize("where", ["family", "model"])
@pytest.mark.parametrize("name", HOSTILE)
def test_a_checkpoint_naming_anything_else_is_refused_in_one_line(tmp_path, where, name):
    from betaae import load_model

    path = tampered(tmp_path, where, name)
    with pytest.raises(CheckpointError) as refused:
        load_model(path)
    message = str(refused.value)
    assert repr(name) in message and str(path) in message and "extensions=[" in message and "\n" not in message


def test_no_hostile_name_is_imported_or_called(tmp_path):
    """In a fresh process, loading every tampered checkpoint imports no module it names (importing runs code)."""
    paths = [str(tampered(tmp_path / f"{w}{i}", w, n)) for i, n in enumerate(HOSTILE) for w in ("family", "model")]
    code = (
        "import sys\n"
        "from betaae import load_model\n"
        "from betaae.core.errors import CheckpointError\n"
        "before = set(sys.modules)\n"
        f"for path in {paths!r}:\n"
        "    try:\n        load_model(path)\n    except CheckpointError:\n        pass\n"
        "    else:\n        raise SystemExit('loaded ' + path)\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "assert not new & {'antigravity', 'this', 'webbrowser'}, new\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_invert_py_refuses_a_checkpoint_that_names_os_abort_in_one_line(tmp_path):
    path = tampered(tmp_path, "family", "os.abort")
    done = run_subprocess("invert.py", [f"ckpt_path={path}", "alpha=2", "beta=4", f"hydra.run.dir={tmp_path / 'x'}"])
    assert done.returncode == 2, done.stderr
    (line,) = error_lines(done.stderr)
    assert "'os.abort'" in line and "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "key, value",
    [
        ("callbacks.latent_images._target_", "os.system"),
        ("model._target_", "subprocess.Popen"),
        ("logger.tensorboard._target_", "antigravity.fly"),
        ("data.family", "os.abort"),
    ],
)
def test_a_resume_refuses_a_saved_config_that_names_anything_else(tmp_path, key, value):
    run = shutil.copytree(FIXTURE, tmp_path / "run")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    node = saved
    *path, last = key.split(".")
    for part in path:
        node = node[part]
    node[last] = value
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    done = run_subprocess("train.py", [f"resume={run}", "trainer.max_epochs=3"])
    assert done.returncode == 2, done.stderr
    (line,) = error_lines(done.stderr)
    assert repr(value) in line and "config.yaml" in line


def test_stored_objects_resolve_to_betaae_classes_and_legacy_paths():
    from betaae.models import AutoEncoder

    assert stored_object("betaae.model.AutoEncoder", CurveModel, "model", "f.ckpt") is AutoEncoder
    assert stored_object("betaae.models.AutoEncoder", CurveModel, "model", "f.ckpt") is AutoEncoder
    assert FAMILIES.get_stored("betaae.families.Beta", "f.ckpt") is FAMILIES.get("beta")
    assert current_path("betaae.vae.VAE") == "betaae.models.VAE"


def test_a_family_named_on_the_command_line_must_be_a_family():
    with pytest.raises(ConfigError, match="has no family abort"):
        FAMILIES.get("os.abort")
    registry = Registry("thing", accepts=lambda item: isinstance(item, type) and issubclass(item, Family))
    with pytest.raises(ConfigError):
        registry.get("os.path")
