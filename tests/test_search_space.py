"""The search space: Hydra's override grammar to Optuna distributions and back, and the budget of trials that
workers share, against hand-worked answers."""

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from betaae.core.errors import ConfigError
from betaae.search.space import as_override, distribution, search_space
from betaae.search.storage import resolve, shown
from betaae.search.study import owed, within_budget


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tag(log, interval(1e-4, 3e-2))", FloatDistribution(1e-4, 3e-2, log=True)),
        ("interval(0.9, 1.0)", FloatDistribution(0.9, 1.0)),
        ("tag(int, interval(50, 200))", IntDistribution(50, 200)),
        ("range(1, 4)", IntDistribution(1, 3)),
        ("range(0, 10, 4)", IntDistribution(0, 8, step=4)),
        ("range(0.5, 1.0, 0.25)", FloatDistribution(0.5, 0.75, step=0.25)),
        ("choice(32, 64, 128)", CategoricalDistribution([32, 64, 128])),
        ("32,64", CategoricalDistribution([32, 64])),
        ("choice([128],[256,128])", CategoricalDistribution(["[128]", "[256,128]"])),
        ("3", None),
    ],
)
def test_each_form_of_the_grammar_is_the_distribution_it_says(text, expected):
    assert distribution("x", text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("interval(2, 1)", "x=interval(2, 1): an interval needs low < high"),
        ("tag(log, interval(0, 1))", "an interval needs 0 < low < high"),
        ("range(3, 3)", "the range is empty"),
        ("choice(1, 1)", "a choice is listed twice"),
        ("choice(", "not Hydra's override grammar"),
    ],
)
def test_a_range_that_cannot_be_drawn_from_is_refused_by_name(text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        distribution("x", text)


def test_the_command_line_replaces_a_range_or_fixes_a_setting_for_every_trial():
    params = {"optimizer.lr": "interval(1e-4, 1e-2)", "data.batch_size": "choice(32, 64)", "seed": "1"}
    space, fixed = search_space(params, ["data.batch_size=128", "optimizer.lr=choice(1e-3,3e-3)", "latent_dims=3"])
    assert space == {"optimizer.lr": CategoricalDistribution([1e-3, 3e-3])}
    assert fixed == ["seed=1", "data.batch_size=128", "latent_dims=3"]
    with pytest.raises(ConfigError, match="nothing to search"):
        search_space({"seed": "1"}, [])


def test_a_trials_values_come_back_as_the_overrides_that_give_them_exactly():
    assert as_override("optimizer.lr", 0.0012142404210404064) == "optimizer.lr=0.0012142404210404064"
    assert as_override("model.hidden", "[256,128]") == "model.hidden=[256,128]"
    assert as_override("trainer.enable_progress_bar", False) == "trainer.enable_progress_bar=false"


def test_storage_urls_are_made_absolute_and_printed_without_their_password(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve(None, tmp_path / "sweep") == f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}"
    assert resolve("sqlite:///rel.db", "x") == f"sqlite:///{tmp_path / 'rel.db'}"
    assert resolve("journal:////shared/s.log", "x") == "journal:////shared/s.log"
    assert resolve("postgresql://u:pw@h:5/db", "x") == "postgresql+psycopg://u:pw@h:5/db"
    assert shown("postgresql+psycopg://u:pw@h:5/db") == "postgresql://u:***@h:5/db"  # as the user writes it
    with pytest.raises(ConfigError, match="needs a file that every worker and job can open"):
        resolve("sqlite:///:memory:", "x")


def test_workers_asking_at_once_take_exactly_the_places_owed_lowest_trial_numbers_first():
    study = optuna.create_study()
    space = {"x": FloatDistribution(0, 1)}
    for _ in range(3):
        study.tell(study.ask(space), 1.0)
    asked = [study.ask(space) for _ in range(3)]  # three workers ask at once when 2 places are left of 5
    assert [within_budget(study, t, 5) for t in asked] == [True, True, False]
    assert owed(study, 5) == 0 and owed(study, 7) == 1
