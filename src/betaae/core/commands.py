"""Commands the project prints for a user to paste: each one works in bash whatever a path holds.

Two layers of quoting: Hydra's (a value with `=`, `,`, spaces, quotes or non-ASCII letters must be quoted
for Hydra's override grammar) and the shell's (the whole argument in single quotes when it needs any).
Every quoted value is checked by parsing it back with Hydra's own parser.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def _parses_back(key: str, text: str, value: str) -> bool:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    try:
        parsed = OverridesParser.create().parse_override(f"{key}={text}").value()
        return isinstance(parsed, str) and OmegaConf.create({"v": parsed}).v == value
    except Exception:  # Hydra's parser raises its own errors, OmegaConf its own, for a value it cannot take
        return False


def hydra_value(key: str, value: str) -> str:
    """`value` written so that Hydra reads `key=<it>` back as exactly `value`."""
    value = str(value)
    if _parses_back(key, value, value):
        return value
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("${", "\\${")
    for quoted in (f"'{escaped}'", f'"{value}"'):
        if _parses_back(key, quoted, value):
            return quoted
    raise ValueError(f"{value!r} cannot be written as a Hydra override value")


def override(key: str, value: str | os.PathLike) -> str:
    return f"{key}={hydra_value(key, os.fspath(value))}"


def shell(*words: str) -> str:
    """Words joined into one bash command line, each quoted only if it needs it."""
    return " ".join(shlex.quote(str(word)) for word in words)


def script_path(name: str) -> str:
    """How to name train.py or invert.py from the current directory: plainly from the folder they are in,
    else by the path of the folder the running script came from (or this checkout's)."""
    if (Path.cwd() / name).is_file():
        return name
    main = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    folder = main.parent if main is not None and main.name in ("train.py", "invert.py") else None
    for candidate in (folder, Path(__file__).resolve().parents[3]):  # src/betaae/core/ -> the checkout
        if candidate is not None and (candidate / name).is_file():
            return str(candidate / name)
    return name


def tool(name: str) -> str:
    """How to call `python` or `tensorboard` of the environment running now: by its plain name where that is
    what the shell finds (an activated virtual environment), else by its path (`.venv/bin/python` after
    `make setup`, where a plain `python` is another one, or none)."""
    bin_dir = Path(sys.executable).parent
    own = bin_dir / name
    if not own.exists() and name == "python":
        own = Path(sys.executable)
    found = shutil.which(name)
    # Not resolved: a virtual environment's python is a link to the base interpreter, yet a different one.
    if found is not None and Path(os.path.abspath(found)).parent == Path(os.path.abspath(bin_dir)):
        return name
    if not own.exists():
        return name
    try:
        return str(own.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(own.absolute())


def script(name: str, *overrides: str, env: dict[str, str] | None = None) -> str:
    """`python NAME.py OVERRIDES...`, with environment settings in front when the command needs them."""
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    return (prefix + " " if prefix else "") + shell(tool("python"), script_path(name), *overrides)


def pythonpath_for(*modules: str) -> dict[str, str]:
    """PYTHONPATH that a fresh process needs to import these modules (a user's families or models), if any:
    the folders of those that a plain `python` started here would not find."""
    import importlib.util

    folders: list[str] = []
    for module in modules:
        try:
            spec = importlib.util.find_spec(module.split(".")[0])
        except (ImportError, ValueError):
            spec = None
        origin = getattr(spec, "origin", None)
        if not origin:
            continue
        folder = Path(origin).parent.parent if Path(origin).name == "__init__.py" else Path(origin).parent
        if _found_without_pythonpath(folder):
            continue
        if str(folder) not in folders:
            folders.append(str(folder))
    return {"PYTHONPATH": os.pathsep.join(folders)} if folders else {}


def _found_without_pythonpath(folder: Path) -> bool:
    """Whether a fresh `python train.py` or `python invert.py` imports from `folder` without PYTHONPATH: the
    scripts' folder, site-packages and the like (sys.path less the PYTHONPATH entries)."""
    extra = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    base = [os.path.abspath(p) for p in sys.path if p and os.path.abspath(p) not in extra]
    return os.path.abspath(folder) in base
