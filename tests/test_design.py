"""The layout of docs/design.md: every subpackage of betaae is in its table, each in one layer, and a module
imports only from its own layer or the layers below, also inside functions, so that the checks load neither
torch nor Lightning and invert.py never loads Lightning."""

import ast
import re
import subprocess
import sys

from helpers import ROOT

PACKAGE = ROOT / "src" / "betaae"


def layers() -> dict[str, int]:
    """Subpackage (or top-level module) -> layer number, from the table in docs/design.md."""
    table = {}
    for line in (ROOT / "docs" / "design.md").read_text().splitlines():
        match = re.match(r"\| (\d)\. ([^|]+)\|", line)
        if match:
            for name in re.findall(r"`([a-z_]+)`", match.group(2)):
                table[name] = int(match.group(1))
    return table


def group(path) -> str:
    """The subpackage a file belongs to (or its own name, for a top-level module)."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imports(path) -> set[str]:
    """The betaae subpackages (or top-level modules) a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("betaae"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:  # from betaae import x, y
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("betaae."))
    return found


def test_the_design_table_lists_exactly_the_folders_and_modules_of_the_package():
    on_disk = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    on_disk |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert on_disk == set(layers()), on_disk ^ set(layers())


def test_every_subpackage_says_what_it_holds_and_what_it_may_import():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in doc, init


def test_every_import_goes_to_the_same_layer_or_below():
    table = layers()
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE and path.stem == "__init__":
            continue
        here = group(path)
        for imported in imports(path) - {"__version__"}:
            if table.get(imported, 0) > table[here]:
                wrong.append(
                    f"{path.relative_to(PACKAGE)} (layer {table[here]}) imports {imported} ({table[imported]})"
                )
    assert not wrong, wrong


def test_the_checks_and_the_families_load_neither_torch_nor_lightning():
    code = (
        "import sys\n"
        "import betaae, betaae.core.registry, betaae.config.checks, betaae.families, betaae.models.options\n"
        "import betaae.inversion.target_files, betaae.cli.train, betaae.runs.directories, betaae.sweep.record\n"
        "heavy = [m for m in ('torch', 'lightning', 'matplotlib', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
