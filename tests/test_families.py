"""Families and their declarations: each log-density against scipy, normalization, the registry, the
constraints, and config checks that run before torch is imported."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from betaae.core.constraints import integer, interval, positive, real
from betaae.core.errors import ConfigError
from betaae.families import FAMILIES, ExponentialFamily, get_family, make_grid

BUILT_IN = list(FAMILIES)  # at import, before any test registers a family of its own

SCIPY = {
    "beta": lambda a, b: stats.beta(a, b),
    "gamma": lambda shape, rate: stats.gamma(shape, scale=1 / rate),
    "normal": lambda mean, std: stats.norm(mean, std),
    "student_t": lambda df, loc, scale: stats.t(df, loc, scale),
}


def middle_params(family, rows: int = 5, seed: int = 0) -> torch.Tensor:
    """Parameter rows drawn inside the family's default ranges (kept away from a zero lower end)."""
    rng = np.random.default_rng(seed)
    columns = [rng.uniform(max(lo, 0.3) if lo == 0 else lo, hi, rows) for lo, hi in family.default_ranges().values()]
    return torch.tensor(np.stack(columns, axis=1), dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(SCIPY))
def test_log_pdf_matches_scipy(name):
    family = get_family(name)
    params = middle_params(family)
    grid = make_grid(*family.default_grid, 50).double()
    ours = family.log_pdf(grid, params)
    for row, values in zip(ours, params.tolist()):
        np.testing.assert_allclose(row.numpy(), SCIPY[name](*values).logpdf(grid.numpy()), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_pdf_integrates_to_one_over_its_support(name):
    family = get_family(name)
    for values in middle_params(family, rows=3, seed=1).tolist():

        def pdf(x, values=values):
            x_t = torch.tensor([x], dtype=torch.float64)
            return float(family.log_pdf(x_t, torch.tensor([values], dtype=torch.float64)).exp())

        low, high = family.support.low, family.support.high
        total, _ = integrate.quad(pdf, low, high, limit=200)
        assert total == pytest.approx(1.0, abs=1e-6), (name, values)


def test_exponential_families_share_one_matrix_product():
    exponential = [n for n in BUILT_IN if isinstance(get_family(n), ExponentialFamily)]
    assert set(exponential) == {"beta", "gamma", "normal"}
    for name in exponential:
        assert "log_pdf" not in type(get_family(name)).__dict__  # only the natural parameters and statistics


def test_every_family_declares_parameters_support_grid_and_ranges_that_fit():
    for name in BUILT_IN:
        family = get_family(name)
        assert len(family.parameters) >= 1 and family.name == name
        assert family.support.check(family.default_grid[0]) and family.support.check(family.default_grid[1])
        for parameter in family.parameters:
            assert parameter.constraint.contains_range(*parameter.default_range), (name, parameter)


def test_student_t_has_three_parameters_on_a_symmetric_grid():
    family = get_family("student_t")
    assert family.param_names == ("df", "loc", "scale")
    assert family.default_grid[0] == -family.default_grid[1]


def test_unknown_family_is_a_config_error_listing_the_known_ones():
    with pytest.raises(ConfigError, match=r"data.family='nope' is not allowed: must be one of beta, kumaraswamy"):
        get_family("nope")
    with pytest.raises(ConfigError, match="cannot import it"):
        get_family("no_such_module.Family")


def test_a_family_is_found_by_its_import_path_and_referred_to_by_it():
    cls = FAMILIES.get("betaae.families.Gamma")
    assert cls is FAMILIES.get("gamma") and FAMILIES.ref(cls) == "gamma"


def test_constraints_say_what_is_allowed():
    assert str(positive) == "must be a finite number > 0" and not positive.check(0) and positive.check(1e-9)
    assert str(interval(0, 1, high_open=False)) == "must be a number in (0, 1]" and interval(
        0, 1, high_open=False
    ).check(1)
    assert str(integer(1)) == "must be an integer >= 1" and not integer(1).check(True) and not integer(1).check(1.0)
    assert not real.check(math.nan) and not real.check(math.inf) and real.check(-3)
    assert positive.contains_range(0, 5) and not positive.contains_range(-1, 5)
    assert positive.range_text() == "must be a pair [low, high] of finite numbers with 0 <= low < high"


@pytest.mark.parametrize("constraint", [positive, real, interval(0, 1), interval(-math.inf, 2)])
def test_unconstrained_maps_round_trip(constraint):
    free = torch.linspace(-3, 3, 7, dtype=torch.float64)
    values = constraint.from_unconstrained(free)
    assert all(constraint.check(float(v)) for v in values)
    torch.testing.assert_close(constraint.to_unconstrained(values), free)


def test_config_checks_run_without_importing_torch():
    code = (
        "import sys\n"
        "from betaae.config.checks import validate_data, check_ranges\n"
        "from betaae.families import get_family\n"
        "check_ranges(get_family('student_t'), {'df': [1, 3]})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
