"""The docs stay true: every default they state is the config's and the code's, every error row is one the
suite runs, every figure is rendered from the committed measurement, and every link resolves."""

import inspect
import json
import re

import pytest
import yaml
from helpers import CONF, ROOT, compose_config
from omegaconf import OmegaConf
from report import fill, render
from test_checks import BAD_TRAIN_INPUTS

from betaae.learner.datamodule import CurveDataModule
from betaae.models.autoencoder import AutoEncoder
from betaae.models.optimizers import ADAM, EXPONENTIAL

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of the first table under a heading, header and rule left out."""
    section = text.split(f"\n{heading}\n", 1)[1]
    rows = []
    for line in section.split("\n| --- ", 1)[1].splitlines()[1:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def code(cell: str) -> str:
    return re.fullmatch(r"`(.*)`", cell).group(1)


def test_every_default_in_the_configuration_page_is_the_composed_configs(tmp_path):
    cfg = compose_config("train", [], tmp_path)
    rows = table_rows((DOCS / "configuration.md").read_text(), "## Defaults")
    assert len(rows) >= 20
    for key, default, _ in rows:
        value = OmegaConf.to_container(cfg, resolve=False)
        for part in code(key).split("."):
            value = value[part]
        assert yaml.safe_load(code(default)) == value, key


def test_the_python_defaults_are_the_configs():
    data = yaml.safe_load((CONF / "data" / "default.yaml").read_text())
    for name, parameter in inspect.signature(CurveDataModule).parameters.items():
        if name in data and name not in ("seed", "family", "params") and data[name] is not None:
            assert parameter.default == data[name], f"CurveDataModule({name}=...)"
    model = yaml.safe_load((CONF / "model" / "autoencoder.yaml").read_text())
    for name in ("hidden", "activation", "output_init"):
        default = inspect.signature(AutoEncoder).parameters[name].default
        assert (list(default) if isinstance(default, tuple) else default) == model[name], f"AutoEncoder({name}=...)"
    assert yaml.safe_load((CONF / "optimizer" / "adam.yaml").read_text()) == ADAM
    assert yaml.safe_load((CONF / "scheduler" / "exponential.yaml").read_text()) == EXPONENTIAL


def test_the_errors_page_lists_exactly_the_train_refusals_the_suite_runs():
    rows = table_rows((DOCS / "errors.md").read_text(), "## train.py: options")
    assert [(code(a), code(b)) for a, b in rows] == BAD_TRAIN_INPUTS


def test_every_figure_block_is_rendered_from_the_committed_benchmark():
    blocks = render(DOCS / "bench.json")
    for page in (ROOT / "README.md", DOCS / "performance.md"):
        text = page.read_text()
        assert "<!-- bench:" in text
        assert fill(text, blocks) == text, f"{page.name}: run python benchmarks/report.py docs/bench.json --write ..."


def test_the_inversion_figures_are_the_committed_checks():
    from inversion_check import figures_table

    text = (DOCS / "inversion.md").read_text()
    results = json.loads((DOCS / "inversion_check.json").read_text())
    block = re.search(r"<!-- inversion:figures -->\n(.*?)\n<!-- /inversion:figures -->", text, re.S).group(1)
    assert block == figures_table(results)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_and_image_resolves(page):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if not target.startswith(("http://", "https://")):
            assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_the_readme_is_a_short_read():
    assert len((ROOT / "README.md").read_bytes()) <= 15_000
