"""Inversion methods and real observations: targets on their own x-values, with missing points, through
every method, with answers that match those on the full grid."""

import numpy as np
import pytest
import torch
from helpers import exact_beta_model

from betaae.core.errors import TargetError
from betaae.inversion.api import invert as invert_api
from betaae.inversion.methods import METHODS, Inversion, find_codes
from betaae.inversion.observations import interpolation_matrix, observe


@pytest.fixture(scope="module")
def exact():
    return exact_beta_model()


def test_the_interpolation_matrix_is_exact_on_grid_points_and_close_between_them():
    grid = np.linspace(0.01, 0.99, 100)
    curve = 1.5 * np.log(grid) + 0.7 * np.log1p(-grid)
    on = interpolation_matrix(grid, grid[[0, 17, 99]])
    np.testing.assert_allclose(on @ curve, curve[[0, 17, 99]], atol=1e-12)
    between = np.linspace(0.05, 0.95, 37)
    truth = 1.5 * np.log(between) + 0.7 * np.log1p(-between)
    assert np.abs(interpolation_matrix(grid, between) @ curve - truth).max() < 1e-4


@pytest.mark.parametrize("method", list(METHODS))
def test_a_target_on_its_own_x_values_gives_the_answer_of_the_whole_curve(exact, method):
    true = np.array([[2.0, 4.0], [0.7, 1.3]])
    x = np.linspace(0.05, 0.95, 50)
    from scipy import stats

    curves = np.array([stats.beta(a, b).logpdf(x) for a, b in true])
    result = invert_api(exact, curves, x=x, method=method)
    np.testing.assert_allclose(result.params, true, rtol=2e-3)
    assert (result.observed_points == 50).all() and result.described.all()


@pytest.mark.parametrize("method", list(METHODS))
def test_missing_points_are_left_out_of_the_fit(exact, method):
    true = np.array([[2.0, 4.0]])
    curves = exact.curves(true)
    curves[0, [3, 40, 41, 77]] = np.nan
    curves[0, 50] = curves[0, 50]  # untouched points keep their values
    result = invert_api(exact, curves, method=method)
    assert result.observed_points[0] == 96
    np.testing.assert_allclose(result.params, true, rtol=2e-3)


def test_observations_are_refused_in_one_line_when_they_cannot_be_fitted():
    grid = np.linspace(0.01, 0.99, 100)
    with pytest.raises(TargetError, match=r"2 x-value\(s\) lie outside the checkpoint's grid \[0.01, 0.99\]"):
        observe(np.zeros((1, 4)), grid, np.array([0.001, 0.5, 0.6, 0.999]), "targets=t.csv", 4)
    few = np.full((2, 100), np.nan)
    few[0] = 0.0
    few[1, :3] = 0.0
    with pytest.raises(TargetError, match=r"row 1 has 3 observed point\(s\); at least 4 are needed"):
        observe(few, grid, None, "targets=t.csv", 4)
    with pytest.raises(
        TargetError, match="rows have 50 values but the checkpoint's grid has 100 points; give their x-values"
    ):
        observe(np.zeros((1, 50)), grid, None, "targets=t.csv", 4)
    with pytest.raises(TargetError, match="values reach 1e\\+30"):
        observe(np.full((1, 100), 1e30), grid, None, "targets=t.csv", 4)


def test_each_method_is_registered_with_its_options_and_returns_an_inversion(exact):
    assert set(METHODS) >= {"nelder-mead", "adam"}
    assert METHODS.get("nelder-mead").per_target and not METHODS.get("adam").per_target
    curves = torch.tensor(exact.curves([[2.0, 3.0]]), dtype=torch.float32)
    found = find_codes(exact.module, curves, "adam", steps=20)
    assert isinstance(found, Inversion) and found.codes.shape == (1, 2) and int(found.evaluations[0]) == 20


@pytest.mark.parametrize("fit_ok", [True, False])
def test_a_target_the_model_does_not_describe_shows_no_parameters_whether_or_not_its_fit_succeeded(fit_ok):
    from types import SimpleNamespace

    from betaae.inversion.api import NOT_AN_ESTIMATE
    from betaae.inversion.report import _one_target

    result = SimpleNamespace(
        codes=np.zeros((1, 2)),
        code_se=np.ones((1, 2)),
        residual_decoded_vs_target=None,
        ks_p_value=None,
        verdicts=["not described"],
        noise_estimated=False,
        noise_sd=np.array([np.nan]),
        params=np.array([[2.0, 4.0]]),
        names=("alpha", "beta"),
        fit_ok=np.array([fit_ok]),
        described=np.array([False]),
        fit_verdicts=["failed: the nearest beta curve is far from the decoded one"],
        param_intervals={0.95: np.array([[[1.9, 2.1], [3.9, 4.1]]])},
        evaluations=None,
    )
    text = "\n".join(_one_target(result))
    assert "best-matching parameters" not in text
    assert f"no parameters: {NOT_AN_ESTIMATE} (alpha=2, beta=4)" in text
