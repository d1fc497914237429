"""Intervals of codes and parameters, checked against their analytic answer: inverting through a decoder that
is the Beta family itself is least squares on the family, where Gauss-Newton intervals are calibrated."""

import numpy as np
import pytest
from helpers import exact_beta_model

from betaae.inversion.api import invert


@pytest.fixture(scope="module")
def exact():
    return exact_beta_model()


def noisy_targets(model, count: int, sd: float, seed: int):
    rng = np.random.default_rng(seed)
    true = 0.3 + 4.5 * rng.random((count, 2))
    return true, model.curves(true) + rng.normal(0, sd, (count, len(model.grid)))


@pytest.mark.parametrize("given", [True, False], ids=["noise-given", "noise-estimated"])
@pytest.mark.parametrize("sd", [0.05, 0.2])
def test_parameter_intervals_cover_the_truth_as_often_as_their_level_says(exact, sd, given):
    true, curves = noisy_targets(exact, 300, sd, seed=int(sd * 100) + given)
    result = invert(exact, curves, noise_sd=sd if given else None, method="adam", steps=200)
    assert result.fit_ok.all()
    for level, low, high in ((0.68, 0.60, 0.76), (0.95, 0.91, 0.99)):
        box = result.param_intervals[level]
        inside = (box[..., 0] <= true) & (true <= box[..., 1])
        assert low <= inside.mean() <= high, (level, inside.mean(axis=0))


def test_intervals_stay_inside_each_parameters_constraint_and_widen_with_the_noise(exact):
    true = np.array([[0.05, 3.0], [2.0, 2.0]])
    narrow = invert(exact, exact.curves(true), noise_sd=0.01, method="adam")
    wide = invert(exact, exact.curves(true), noise_sd=1.0, method="adam")
    for result in (narrow, wide):
        assert (result.param_intervals[0.95][..., 0] > 0).all()  # alpha and beta stay positive
    width = lambda r: np.diff(r.param_intervals[0.95], axis=-1)[..., 0]  # noqa: E731
    assert (width(wide) > 20 * width(narrow)).all()
    assert (np.diff(narrow.code_intervals[0.95], axis=-1) > 0).all()


def test_a_noise_level_is_estimated_from_the_residual_when_none_is_given(exact):
    _, curves = noisy_targets(exact, 40, 0.1, seed=3)
    result = invert(exact, curves, method="adam")
    assert result.noise_estimated and np.median(result.noise_sd) == pytest.approx(0.1, rel=0.15)
