"""The inversion score every run reports (betaae.inversion.score): checked against a model whose posterior is
known, against a method that is overconfident on purpose, and read back from a real run's outputs."""

import json
import math

import numpy as np
import pytest
import torch
from helpers import QUIET, TINY, events, exact_beta_model, run_script

from betaae.inversion import score as scoring

SEED = 20261201


@pytest.fixture(scope="module")
def exact():
    return exact_beta_model()


@pytest.fixture(scope="module")
def exact_score(exact):
    return scoring.score(exact, 300, (0.05, 0.2), SEED, "test")


def binomial_band(p: float, n: int) -> float:
    return 3 * math.sqrt(p * (1 - p) / n)  # three standard errors


def test_the_intervals_of_a_model_whose_posterior_is_known_hold_the_truth_as_often_as_they_say(exact_score):
    # 300 rows x 2 noise levels x 2 parameters, the failed fits left out.
    n = round(300 * 2 * 2 * (1 - exact_score.failed))
    assert exact_score.coverage_95 == pytest.approx(0.95, abs=binomial_band(0.95, n))
    assert exact_score.coverage_68 == pytest.approx(0.68, abs=binomial_band(0.68, n))
    assert exact_score.calibration_gap < 0.05
    assert exact_score.flagged < 0.02 and exact_score.failed < 0.02
    # The exact decoder leaves only the noise: a clean target is recovered to its last digits.
    clean = exact_score.noise_of == 0
    assert np.median(np.abs(exact_score.fitted - exact_score.true)[clean]) < 1e-4


def test_a_method_three_times_too_sure_of_itself_is_caught(exact, exact_score, monkeypatch):
    real = scoring.invert

    def overconfident(*args, **kwargs):
        result = real(*args, **kwargs)
        result.parameter_uncertainty.free_se = result.parameter_uncertainty.free_se / 3
        return result

    monkeypatch.setattr(scoring, "invert", overconfident)
    shrunk = scoring.score(exact, 300, (0.05, 0.2), SEED, "test")
    assert shrunk.coverage_95 < 0.6 and shrunk.calibration_gap > 0.3 > exact_score.calibration_gap
    assert shrunk.error_median == exact_score.error_median  # the answers are the same; only their intervals shrank


def test_the_coverage_curve_of_uniform_ranks_is_the_diagonal_and_of_piled_up_ranks_is_not():
    uniform = np.random.default_rng(0).random(200_000)
    assert np.abs(scoring.coverage_curve(uniform) - scoring.LEVELS).max() < 0.01
    piled = np.concatenate([uniform[:1000] * 0.01, 1 - uniform[1000:2000] * 0.01])  # the truth always in a tail
    assert scoring.coverage_curve(piled).max() == 0.0


def test_the_score_of_a_checkpoint_does_not_depend_on_the_global_seeds_or_the_order_it_is_asked(exact):
    first = scoring.score(exact, 50, (0.1,), SEED, "test")
    torch.manual_seed(123)
    np.random.seed(123)
    scoring.score(exact, 50, (0.1,), SEED, "val")
    again = scoring.score(exact, 50, (0.1,), SEED, "test")
    assert first.figures("test") == again.figures("test")
    assert np.array_equal(first.true, again.true)
    # The val-like and test-like sets are different targets.
    assert not np.array_equal(scoring.score_targets(exact, 50, SEED, "val"), first.true[:50])


def test_targets_lie_inside_the_training_ranges_and_off_their_open_edge(exact):
    rows = scoring.score_targets(exact, 10_000, SEED, "test")
    assert rows.shape == (10_000, 2) and (rows > 0).all() and (rows <= 5).all()


def test_a_run_reports_its_score_everywhere_and_two_seeds_are_scored_on_the_same_targets(tmp_path, capsys):
    shown = {}
    for seed in (0, 1):
        out = tmp_path / f"seed{seed}"
        args = [*TINY, "trainer.max_epochs=3", "inversion_score.targets=40", f"seed={seed}", f"hydra.run.dir={out}"]
        code, stdout, err = run_script("train.py", args, capsys)
        assert code == 0, err
        shown[seed] = (out, stdout, json.loads((out / "metrics.json").read_text()))
    out, stdout, metrics = shown[0]
    (line,) = [line for line in stdout.splitlines() if line.startswith("inversion:")]
    assert f"95% hold {100 * metrics['test_inversion/coverage_95']:.1f}%" in line and "40 targets x 3" in line
    for split in ("val", "test"):
        for name in ("error_median", "error_p90", "coverage_68", "coverage_95", "calibration_gap", "flagged"):
            assert 0 <= metrics[f"{split}_inversion/{name}"] <= 1 or math.isnan(metrics[f"{split}_inversion/{name}"])
        assert metrics[f"{split}_inversion/error_p90"] == max(
            metrics[f"{split}_inversion/error_p90_alpha"], metrics[f"{split}_inversion/error_p90_beta"]
        )
    assert metrics["inversion_score"]["seed"] == shown[1][2]["inversion_score"]["seed"] == SEED
    assert (out / "figures" / "inversion_score.png").stat().st_size > 10_000
    # TensorBoard: the scalars (HPARAMS's metric columns come from them) and the figure.
    run = events(out)
    assert {"test_inversion/coverage_95", "val_inversion/error_p90"} <= set(run.Tags()["scalars"])
    assert "test_inversion/error_p90_alpha" not in run.Tags()["scalars"]  # per parameter: metrics.json only
    (point,) = run.Scalars("test_inversion/coverage_95")
    assert point.value == pytest.approx(metrics["test_inversion/coverage_95"], rel=1e-6)
    assert "test/inversion_score" in run.Tags()["images"]


def test_the_score_can_be_switched_off_and_then_cannot_be_chosen_by(tmp_path, capsys):
    out = tmp_path / "off"
    code, stdout, err = run_script("train.py", [*TINY, *QUIET, "inversion_score=null", f"hydra.run.dir={out}"], capsys)
    assert code == 0, err
    assert "inversion:" not in stdout and "inversion score" not in stdout
    assert not any(
        k.startswith(("val_inversion/", "test_inversion/")) for k in json.loads((out / "metrics.json").read_text())
    )
    code, _, err = run_script(
        "train.py",
        [*TINY, "inversion_score=null", "optimized_metric=val_inversion/error_p90", f"hydra.run.dir={tmp_path / 'x'}"],
        capsys,
    )
    assert code == 2 and "needs the inversion score, which inversion_score=null turns off" in err
