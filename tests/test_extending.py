"""The examples of docs/extending.md, run exactly as written: each file is taken from the page,
written into a temporary folder, and used through the public registries and the real entry points."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import ROOT, TINY, error_lines, run_subprocess

from betaae.core.registry import import_extensions
from betaae.families import FAMILIES, get_family, make_grid
from betaae.inversion.methods import METHODS, find_codes
from betaae.models.base import model_class
from betaae.models.checkpoints import rebuild


def readme_files() -> dict[str, str]:
    """{path: text} of every `# file: path` block in docs/extending.md."""
    text = (ROOT / "docs" / "extending.md").read_text()
    return dict(re.findall(r"```(?:python|yaml)\n# file: (\S+)\n(.*?)```", text, re.S))


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    files = readme_files()
    assert set(files) == {
        "plugins/myfamilies.py",
        "myconf/data/exponential.yaml",
        "plugins/mymodels.py",
        "myconf/model/sparse.yaml",
        "plugins/mymethods.py",
        "myconf/method/lbfgs.yaml",
    }
    for path, body in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(body)
    sys.path.insert(0, str(root / "plugins"))
    yield root
    sys.path.remove(str(root / "plugins"))


def run(script, args, examples, **kwargs):
    env = {"PYTHONPATH": str(examples / "plugins")}
    return run_subprocess(script, [f"hydra.searchpath=[file://{examples / 'myconf'}]", *args], env=env, **kwargs)


def test_the_family_example_registers_and_computes_its_log_density(examples):
    family = get_family("myfamilies.Exponential")
    assert "exponential" in FAMILIES and family.param_names == ("rate",) and family.name == "myfamilies.Exponential"
    grid = make_grid(*family.default_grid, 50).double()
    rate = torch.tensor([[0.5], [2.0]], dtype=torch.float64)
    torch.testing.assert_close(family.log_pdf(grid, rate), -rate * grid + rate.log())


def test_the_family_that_is_not_exponential_matches_scipy(examples):
    from scipy import stats

    family = get_family("laplace")
    assert family.name == "myfamilies.Laplace" and family.label == "laplace"
    grid = make_grid(*family.default_grid, 50).double()
    params = torch.tensor([[-0.5, 0.7], [0.9, 1.8]], dtype=torch.float64)
    expected = [stats.laplace.logpdf(grid.numpy(), loc=loc, scale=scale) for loc, scale in params.tolist()]
    torch.testing.assert_close(family.log_pdf(grid, params), torch.from_numpy(np.stack(expected)))


def test_the_documented_laplace_command_trains_and_names_the_family_by_its_registered_name(examples, tmp_path):
    text = (ROOT / "docs" / "extending.md").read_text()
    (line,) = [ln for ln in text.splitlines() if "myfamilies.Laplace" in ln and ln.startswith("PYTHONPATH")]
    args = line.split("#")[0].split()[3:]  # after PYTHONPATH=plugins python train.py
    small = [*TINY, "latent_dims=1", "callbacks.latent_images.every_n_epochs=0", f"hydra.run.dir={tmp_path}"]
    result = run("train.py", [*args, *small], examples)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "smaller than the laplace family's 2 parameters (loc, scale)" in result.stderr
    assert "family: myfamilies.Laplace" in (tmp_path / "config.yaml").read_text()
    # The invert line it prints runs as pasted into bash (its PYTHONPATH and extensions included).
    (command,) = [ln.split(":", 1)[1].strip() for ln in result.stdout.splitlines() if ln.startswith("invert:")]
    assert "extensions=[myfamilies]" in command
    pasted = subprocess.run(
        ["bash", "-c", f"{command} hydra.run.dir={tmp_path / 'inv'}"], cwd=ROOT, capture_output=True, text=True
    )
    assert pasted.returncode == 0, pasted.stderr[-2000:]
    assert (tmp_path / "inv" / "inversion.json").is_file()


def test_the_model_example_follows_the_interface(examples):
    model = model_class("mymodels.SparseAutoEncoder")(num_points=20, l1=0.5)
    terms = model.loss_terms(torch.randn(4, 20))
    torch.testing.assert_close(terms["loss"], terms["sse"] + 0.5 * terms["l1"])


def test_the_method_example_is_registered_with_its_options(examples):
    method = METHODS.get("mymethods.lbfgs")
    assert "lbfgs" in METHODS and set(method.options) == {"steps"}
    model = model_class("betaae.models.AutoEncoder")(num_points=20).eval()
    targets = model.decode(torch.randn(3, 2)).detach()
    found = find_codes(model, targets, "mymethods.lbfgs", "zeros", steps=30)
    assert found.residual.max() < 1e-2


@pytest.mark.slow  # a training and an inversion through subprocesses: about 16 s
def test_the_examples_train_and_invert_through_the_scripts(examples, tmp_path):
    run_dir = tmp_path / "run"
    small = [*TINY, "callbacks.latent_images.every_n_epochs=0", f"hydra.run.dir={run_dir}"]
    result = run("train.py", ["data=exponential", "model=sparse", "model.l1=0.01", *small], examples)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["val/l1_per_curve"] > 0 and metrics["val/sse_per_curve"] > 0
    hparams = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)["hyper_parameters"]
    assert hparams["model"]["_target_"] == "mymodels.SparseAutoEncoder"
    assert hparams["data"]["family"] == "myfamilies.Exponential"
    inverted = run(
        "invert.py",
        [
            f"ckpt_path={run_dir}",
            "params=[1.5]",
            "method=lbfgs",
            "method.steps=20",
            "extensions=[mymodels,myfamilies,mymethods]",
            f"hydra.run.dir={tmp_path / 'inv'}",
        ],
        examples,
    )
    assert inverted.returncode == 0, inverted.stderr[-3000:]
    summary = json.loads((tmp_path / "inv" / "inversion.json").read_text())
    assert summary["method"] == "mymethods.lbfgs" and summary["evaluations"] == 20 and "fit_rate" in summary
    import_extensions(["mymodels", "myfamilies"])  # a checkpoint never imports them itself
    assert rebuild(run_dir).family.param_names == ("rate",)


def test_the_examples_options_are_checked_like_built_in_ones(examples, tmp_path):
    bad = run("train.py", ["data=exponential", "data.params.rate=[-1,2]", f"hydra.run.dir={tmp_path}"], examples)
    assert bad.returncode == 2
    assert "data.params.rate=[-1, 2] is not allowed" in error_lines(bad.stderr)[0]
    bad = run("train.py", ["model=sparse", "model.l1=-1", f"hydra.run.dir={tmp_path}"], examples)
    assert bad.returncode == 2 and "model.l1=-1 is not allowed: must be a finite number >= 0" in bad.stderr
