"""Verdicts: targets outside the family are flagged, the family's own targets (clean or noisy) are not, and a
failed parameter fit is not printed as an answer."""

import numpy as np
import pytest
from helpers import exact_beta_model
from scipy import stats

from betaae.inversion.api import invert, load_model
from betaae.inversion.verdicts import Reference


@pytest.fixture(scope="module")
def model(trained_run):
    return load_model(trained_run)


def out_of_family(grid):
    """log-pdfs the Beta family cannot take, each with the x-values where its density is positive."""
    mixture = np.log(0.5 * stats.beta(2, 10).pdf(grid) + 0.5 * stats.beta(10, 2).pdf(grid))
    truncated = stats.truncnorm(-0.5 / 0.12, 0.5 / 0.12, loc=0.5, scale=0.12).logpdf(grid)
    inner = grid[(grid >= 0.2) & (grid <= 0.8)]
    triangular = stats.triang(0.5).logpdf(grid[1:-1])
    return {
        "mixture": (mixture, None),
        "truncated-normal": (truncated, None),
        "uniform": (np.full(len(inner), np.log(1 / 0.6)), inner),
        "triangular": (triangular, grid[1:-1]),
    }


@pytest.mark.parametrize("name", ["mixture", "truncated-normal", "uniform", "triangular"])
def test_a_target_outside_the_family_is_flagged_with_how_far_off_it_is(model, name):
    curve, x = out_of_family(model.grid)[name]
    result = invert(model, curve[None], x=x)
    assert not result.described[0], result.verdicts[0]
    assert "not well described by this model" in result.verdicts[0] and "x the typical" in result.verdicts[0]


def test_the_familys_own_targets_are_rarely_flagged_clean_or_noisy():
    exact = exact_beta_model()
    rng = np.random.default_rng(0)
    true = 5 * (1 - rng.random((300, 2)))
    clean = invert(exact, params=true, method="adam", steps=150)
    noisy = invert(exact, exact.curves(true) + rng.normal(0, 0.1, (300, 100)), method="adam", steps=150)
    assert (~clean.described).mean() < 0.02 and (~noisy.described).mean() < 0.02


def test_the_reference_is_stored_in_the_best_checkpoint_at_the_end_of_training(trained_run, model):
    import torch

    stored = torch.load(trained_run / "checkpoints" / "best.ckpt", weights_only=True)["betaae_reference"]
    reference = Reference.from_dict(stored)
    assert reference.curves == 1000 and reference.rms[0.5] <= reference.rms[0.99] <= reference.rms[0.999]
    assert model.reference == reference
    assert reference.percentile(reference.rms[0.5]) == pytest.approx(50, abs=1)


def test_a_parameter_fit_far_from_the_decoded_curve_is_a_failed_fit(model):
    result = invert(model, params=[[2.0, 4.0]])
    assert result.fit_ok[0] and "from the decoded one" in result.fit_verdicts[0]
    from betaae.inversion.verdicts import judge_parameters

    ((ok, text),) = judge_parameters(np.array([10 * model.reference.fit[0.99]]), model.reference, "beta")
    assert not ok and text.startswith("failed:") and "not an answer" in text
