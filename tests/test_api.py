"""The public Python API, from `import betaae` to a judged and bounded answer, and the README's example."""

import re
import subprocess
import sys

import numpy as np
from helpers import ROOT

import betaae


def test_the_public_names_import_from_the_top_package_without_loading_torch():
    code = "import sys, betaae; print(sorted(betaae.__all__)); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == str(sorted(["FAMILIES", "get_family", "invert", "load_model", "__version__"]))
    assert out[1] == "False"  # importing betaae registers and loads nothing
    assert betaae.get_family("beta").param_names == ("alpha", "beta") and "beta" in betaae.FAMILIES


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(r"```python\n(# the Python API.*?)```", text, re.S).group(1)


def test_the_readme_example_runs_as_written(trained_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = readme_example().replace("outputs/train/runs/<run>", str(trained_run))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert len(result) >= 1 and result.params.shape[1] == 2 and result.described.dtype == bool


def test_a_model_encodes_decodes_and_inverts_curves_params_and_samples(trained_run):
    model = betaae.load_model(trained_run)
    curves = model.curves([[2.0, 4.0], [1.5, 1.5]])
    codes = model.encode(curves)
    assert codes.shape == (2, model.latent_dims) and model.decode(codes).shape == (2, len(model.grid))
    for given in ({"curves": curves}, {"params": [[2.0, 4.0]]}):
        result = betaae.invert(model, **given, method="adam")
        assert result.param_intervals[0.95].shape == (len(result), 2, 2)
        assert all(key in result.rows()[0] for key in ("residual_decoded_vs_target", "verdict", "fit_alpha_95%_low"))
    draws = np.random.default_rng(0).beta(2.0, 4.0, size=500)
    result = betaae.invert(model, samples=draws)
    assert result.kind == "samples" and abs(result.params[0, 0] - 2.0) < 0.8
