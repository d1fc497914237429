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


# What the docs, docstrings, comments and the Makefile name: betaae's modules and functions, source files and
# README sections. Each must exist, so that a rename or a move fails here instead of misleading a reader.
SOURCES = [*PAGES, ROOT / "Makefile", *sorted((ROOT / "src").rglob("*.py")), *sorted(CONF.rglob("*.yaml"))]
PACKAGE = ROOT / "src" / "betaae"
GROUPS = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} | {"plots"}


def resolves(dotted: str) -> bool:
    """Whether `betaae.a.b.c` is a module, or an attribute (of an attribute) of one."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def named_in(text: str) -> set[str]:
    """Dotted names of betaae's code in a text: `betaae.x.y`, or `x.y` whose first part is a subpackage."""
    names = set(re.findall(r"\bbetaae(?:\.[A-Za-z_]\w*)+", text))
    for match in re.findall(r"`([a-z_]+(?:\.[A-Za-z_]\w*)+)`", text):
        if match.split(".")[0] in GROUPS:
            names.add(f"betaae.{match}")
    files = ("json", "csv", "png", "yaml", "py", "md", "ckpt", "txt", "log", "npy")  # file names, not code
    return {n.rstrip(".") for n in names if n.rsplit(".", 1)[-1] not in files}


@pytest.mark.parametrize("source", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_every_module_and_function_named_exists(source):
    text = source.read_text()
    from betaae.core.registry import LEGACY_MODULES

    legacy = tuple(LEGACY_MODULES) if "release 0.3" in text.lower() else ()  # where the old paths are the subject
    missing = sorted(
        n
        for n in named_in(text)
        if not resolves(n) and not n.startswith("betaae.extensions") and not n.startswith(legacy)
    )
    assert not missing, f"{source.relative_to(ROOT)} names {missing}"


@pytest.mark.parametrize("source", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_every_source_file_and_readme_section_named_exists(source):
    text = source.read_text()
    folders = "|".join(["src/betaae", "tests", "benchmarks", *sorted(GROUPS)])
    for path in re.findall(rf"(?<![\w/.])((?:{folders})/[\w/]*\w\.py)\b", text):
        candidates = [ROOT / path, PACKAGE / path, ROOT / "tests" / path]
        assert any(c.exists() for c in candidates), f"{source.relative_to(ROOT)} names {path}"
    headings = re.findall(r"^#+ (.+)$", (ROOT / "README.md").read_text(), re.M)
    for section in re.findall(r'README (?:section )?"([^"]+)"', text):
        assert section in headings, f"{source.relative_to(ROOT)} names README section {section!r}"


def makefile_recipes() -> dict[str, str]:
    """Each Makefile target and its recipe's text."""
    recipes: dict[str, str] = {}
    current = None
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([a-z][\w-]*):", line)
        if match:
            current = match.group(1)
            recipes[current] = ""
        elif current and line.startswith("\t"):
            recipes[current] += line + "\n"
    return recipes


def test_every_make_target_the_readme_names_exists_and_writes_where_it_says():
    readme = (ROOT / "README.md").read_text()
    recipes = makefile_recipes()
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", readme))
    assert named and named <= set(recipes), named - set(recipes)
    for target, written in re.findall(r"make ([a-z][\w-]*)\s+#[^\n]*?writes ([\w./-]+)", readme):
        assert written in recipes[target], f"make {target} does not write {written}"
    assert "make test" in (ROOT / ".ci" / "run").read_text()


# Parts of a group that are not options of it: the families' shared base, and the callbacks' one-file pieces
# (named in the default's own line).
NOT_OPTIONS = {"data": {"default"}, "callbacks": {"model_checkpoint", "last_checkpoint", "start_checkpoint",
                                                  "progress_bar", "latent_images", "early_stopping"}}  # fmt: skip


def help_sections(text: str) -> dict[str, dict[str, str]]:
    """{section title: {name: its line}} of a script's --help page."""
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        if re.fullmatch(r"\S.*:", line):
            current = sections.setdefault(line[:-1], {})
        elif current is not None and (m := re.match(r"  ([a-z_]+)\s{2,}(.*)", line)):
            current[m.group(1)] = m.group(2)
    return sections


def test_train_help_lists_exactly_the_groups_train_takes_each_option_and_the_configuration_page_has_them(capsys):
    from helpers import run_script

    code_, out, _ = run_script("train.py", ["--help"], capsys)
    assert code_ == 0 and out.startswith("train.py: train an autoencoder")
    sections = help_sections(out)
    groups = sections["Groups (group=option)"]
    folders = {d.name for d in CONF.iterdir() if d.is_dir()} - {"hydra", "paths", "method"}  # method: invert's
    assert set(groups) == folders
    page = (DOCS / "configuration.md").read_text()
    rows = {code(row[0]): row[1] for row in table_rows(page, "## Groups")}
    for group, line in groups.items():
        options = {f.stem for f in (CONF / group).glob("*.yaml")} - NOT_OPTIONS.get(group, set())
        named = set(re.findall(r"[a-z_]+", line.split(":")[0].split(";")[0]))
        assert options <= named, (group, options - named)
        assert {f"`{o}`" for o in options} <= set(re.findall(r"`[a-z_]+`", rows[group])), group
    top = {k for k in OmegaConf.load(CONF / "train.yaml") if k not in ("defaults", "task_name")}
    assert set(sections["Options (key=value)"]) == top
    for key in top:
        assert f"`{key}`" in page, key
    for line in out.split("Examples:", 1)[1].splitlines():
        if line.strip().startswith("python train.py"):
            for word in line.split("#")[0].split()[2:]:
                assert word == "-m" or word.split("=")[0].lstrip("+~").split(".")[0] in folders | top, word


def test_invert_help_lists_every_option_invert_takes_and_the_configuration_page_has_them(capsys):
    from helpers import run_script

    code_, out, _ = run_script("invert.py", ["--help"], capsys)
    assert code_ == 0 and out.startswith("invert.py: ")
    block = out.split("Options (key=value):\n", 1)[1].split("\n\n", 1)[0]
    listed = {name for line in block.splitlines() for name in re.split(r",\s*", re.split(r"\s{2,}", line.strip())[0])}
    config = OmegaConf.load(CONF / "invert.yaml")
    top = {k for k in config if k not in ("defaults", "task_name", "paths")} | {"paths.log_dir", "method"}
    assert listed == top
    page = (DOCS / "configuration.md").read_text()
    for key in top:
        assert f"`{key}`" in page, key


def test_the_optuna_preset_is_described_with_its_own_number_of_trials():
    trials = OmegaConf.load(CONF / "hparams_search" / "optuna.yaml").hydra.sweeper.n_trials
    assert f"(`hydra.sweeper.n_trials={trials}`)" in (DOCS / "configuration.md").read_text()


def documented_tree() -> dict[str, str]:
    """{entry: what it is} of the run directory drawn in docs/outputs.md."""
    block = (DOCS / "outputs.md").read_text().split("```\noutputs/train/runs/<date>_<time>/\n", 1)[1].split("```")[0]
    return dict(re.findall(r"^[├└]── (\S+)\s+(.*)$", block, re.M))


def test_every_file_the_outputs_page_draws_is_what_a_run_writes(finished_template):
    documented = documented_tree()
    top = {entry.split("/")[0].replace("*", "") for entry in documented}
    written = {p.name for p in finished_template.iterdir()}
    for entry, what in documented.items():
        if what.startswith("only when") or entry.startswith("resumes/"):  # written only then
            continue
        matches = list(finished_template.glob(entry.rstrip("/")))
        assert matches, f"docs/outputs.md draws {entry}, which a run does not write"
    for name in written:
        assert any(name.startswith(t) for t in top), f"a run writes {name}, which docs/outputs.md does not draw"
    assert not (finished_template / "train.log").exists()  # a clean run: nothing logged
