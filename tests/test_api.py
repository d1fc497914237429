"""The public Python API, from `import betaae` to a judged and bounded answer, and the README's example."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
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


API_FIXTURE = Path(__file__).parent / "fixtures" / "release-0.3" / "run"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"params": [[-1, 4]]}, "params: row 0: alpha=-1 is not allowed: must be a finite number > 0"),
        ({"curves": [[1.0] * 100, [1.0] * 99]}, "curves: rows of unequal length"),
        ({"curves": [["a"] * 100]}, "curves: holds <U1 values; values must be numbers"),
        ({"curves": np.zeros((1, 100), complex)}, "curves: holds complex numbers"),
        ({"params": [[2, 4]], "noise_sd": 0.0}, "noise_sd=0.0 is not allowed: must be a finite number >= 1e-12"),
        ({"params": [[2, 4]], "noise_sd": True}, "noise_sd=True is not allowed"),
    ],
)
def test_the_api_refuses_bad_targets_in_one_target_error(arguments, message):
    from betaae import invert, load_model
    from betaae.core.errors import TargetError

    with pytest.raises(TargetError, match=re.escape(message)):
        invert(load_model(API_FIXTURE), **arguments)


@pytest.mark.parametrize(
    "arguments",
    [
        {"params": [[2, 4]], "noise_sd": np.float32(0.1)},
        {"params": [[2, 4]], "noise_sd": np.int64(1)},
        {"curves": torch.zeros(1, 100, requires_grad=True)},
        {"samples": [np.random.default_rng(0).beta(2, 4, 300), np.random.default_rng(1).beta(2, 4, 50)]},
    ],
)
def test_the_api_accepts_what_its_docstring_promises(arguments):
    from betaae import invert, load_model

    result = invert(load_model(API_FIXTURE), **arguments)
    assert np.isfinite(result.codes).all()


def test_encode_and_decode_refuse_the_wrong_width():
    from betaae import load_model
    from betaae.core.errors import TargetError

    model = load_model(API_FIXTURE)
    with pytest.raises(TargetError, match="curves: rows need 100 values, got 7"):
        model.encode(np.zeros((1, 7)))
    with pytest.raises(TargetError, match="codes: rows need 2 values, got 5"):
        model.decode(np.zeros((1, 5)))
