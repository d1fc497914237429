"""Inverting samples: the code whose decoded density best explains i.i.d. draws, against scipy's own fit."""

import numpy as np
import pytest
from helpers import exact_beta_model
from scipy import stats

from betaae.core.errors import TargetError
from betaae.inversion.api import invert


@pytest.fixture(scope="module")
def exact():
    return exact_beta_model()


def test_parameters_from_samples_are_about_as_good_as_scipys_fit_of_the_same_draws(exact):
    rng = np.random.default_rng(4)
    ours, theirs = [], []
    for alpha, beta in 0.8 + 3.5 * rng.random((12, 2)):
        draws = stats.beta(alpha, beta).rvs(size=1000, random_state=rng)
        result = invert(exact, samples=draws)
        ours.append(np.abs(result.params[0] - [alpha, beta]))
        theirs.append(np.abs(np.array(stats.beta.fit(draws, floc=0, fscale=1)[:2]) - [alpha, beta]))
        inside = result.param_intervals[0.95][0]
        assert (inside[:, 0] > 0).all() and result.described[0]
    assert np.median(ours) <= 1.3 * np.median(theirs), (np.median(ours), np.median(theirs))


def test_draws_below_the_grid_count_by_their_number_so_small_alphas_are_found_as_well_as_scipy_finds_them(exact):
    # With alpha < 1 a large share of the draws falls below the grid's 0.01: a likelihood truncated to the grid
    # loses what their number says; censoring them keeps it.
    from betaae.inversion.api import _candidates
    from betaae.inversion.observations import Samples
    from betaae.inversion.samples import fit_samples

    rng = np.random.default_rng(7)
    grid = exact.grid
    ours, truncated, theirs = [], [], []
    for alpha, beta in zip(0.15 + 0.85 * rng.random(16), 1 + 3 * rng.random(16)):
        draws = np.clip(stats.beta(alpha, beta).rvs(size=1000, random_state=rng), 1e-300, 1 - 1e-16)
        result = invert(exact, samples=draws)
        assert result.draws_outside[0] > 0
        ours.append(abs(result.params[0][0] - alpha))
        theirs.append(abs(stats.beta.fit(draws, floc=0, fscale=1)[0] - alpha))
        inside = draws[(draws >= grid[0]) & (draws <= grid[-1])]
        # The same fit, as if the number outside were unknown (the likelihood truncated to the grid).
        fitted = fit_samples(exact.module, Samples([inside], [0]), grid, _candidates(exact))
        truncated.append(abs(float(fitted.codes[0, 0].double().exp()) - alpha))
    assert np.median(ours) <= 1.1 * np.median(theirs), (np.median(ours), np.median(theirs))
    assert np.median(truncated) > 1.3 * np.median(ours), (np.median(truncated), np.median(ours))


def test_draws_outside_the_grid_are_censored_and_counted_and_outside_the_support_refused(exact):
    draws = np.concatenate([stats.beta(2, 3).rvs(size=500, random_state=1), [0.001, 0.995]])
    outside = int(((draws < 0.01) | (draws > 0.99)).sum())
    result = invert(exact, samples=draws)
    assert outside >= 2 and result.draws_outside[0] == outside and result.draws[0] == len(draws) - outside
    with pytest.raises(TargetError, match=r"outside the family's support \(0, 1\)"):
        invert(exact, samples=np.array([0.5, 1.5, 0.2]))


def test_samples_from_another_family_are_flagged(exact):
    draws = np.concatenate(
        [stats.beta(2, 12).rvs(size=600, random_state=2), stats.beta(12, 2).rvs(size=600, random_state=3)]
    )
    result = invert(exact, samples=draws)
    assert not result.described[0] and "not well described" in result.verdicts[0]


def test_draw_weights_equal_the_summed_interpolation_rows_whatever_the_chunk():
    import numpy as np

    from betaae.inversion.observations import interpolation_matrix
    from betaae.inversion.samples import draw_weights

    grid = np.linspace(0.01, 0.99, 100)
    draws = np.random.default_rng(0).beta(0.5, 2.0, 25_001).clip(0.01, 0.99)
    whole = interpolation_matrix(grid, draws).sum(axis=0)
    for chunk in (1_000, 7, 100_000):
        np.testing.assert_allclose(draw_weights(grid, draws, chunk).numpy(), whole, rtol=1e-12)
