"""The layers of docs/design.md: a module imports only from its own layer or the layers below, also inside
functions, so that the checks load neither torch nor Lightning and invert.py never loads Lightning."""

import ast
import re

from helpers import ROOT

PACKAGE = ROOT / "src" / "betaae"


def layers() -> dict[str, int]:
    """Module -> layer number, from the table in docs/design.md."""
    table = {}
    for line in (ROOT / "docs" / "design.md").read_text().splitlines():
        match = re.match(r"\| (\d)\. [^|]+\| ([^|]+)\|", line)
        if match:
            for name in re.findall(r"`([a-z_]+)`", match.group(2)):
                table[name] = int(match.group(1))
    return table


def imports(path) -> set[str]:
    """The betaae modules a file imports, anywhere in it."""
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


def test_every_module_has_a_layer():
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert modules == set(layers()) - {"train", "invert"} - set(), modules ^ set(layers())


def test_every_import_goes_to_the_same_layer_or_below():
    table = layers()
    wrong = []
    for path in PACKAGE.glob("*.py"):
        if path.stem == "__init__":
            continue
        for imported in imports(path) - {"__version__"}:
            if table.get(imported, 0) > table[path.stem]:
                wrong.append(f"{path.stem} (layer {table[path.stem]}) imports {imported} (layer {table[imported]})")
    assert not wrong, wrong
