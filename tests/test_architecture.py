"""The layering is checked, not only described: pyproject.toml's import contracts hold.

lint-imports reads the package from the file system, and in the repository
``backend/`` and ``samples/`` sit beside ``layoutscope/`` (they install as
``layoutscope.backend`` and ``layoutscope.samples``). So each check first lays
the Python files out as they are installed, following pyproject.toml's
``package-dir``, and runs lint-imports on that copy in a fresh process (the
copy, not the editable install, must be the ``layoutscope`` it finds).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"

LINT = """
import sys
from importlinter.cli import lint_imports
sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))
"""


def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text())


def install_layout(source: Path, target: Path) -> Path:
    """``source``'s Python files copied under ``target`` as pyproject's package-dir installs them."""
    package_dirs = pyproject()["tool"]["setuptools"]["package-dir"]
    for package, directory in package_dirs.items():
        destination = target.joinpath(*package.split("."))
        shutil.copytree(source / directory, destination,
                        ignore=lambda _, names: [n for n in names if n == "__pycache__"
                                                 or (n.endswith((".gguf", ".c", ".so")))])
    return target


def lint_imports(tree: Path, config: Path = PYPROJECT) -> subprocess.CompletedProcess:
    """lint-imports with ``config`` on the installed-layout ``tree``."""
    if importlib.util.find_spec("importlinter") is None:
        pytest.fail("import-linter is missing; it is in the test extra: pip install -e '.[test]'")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, "-c", LINT, str(config)], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def installed_tree(tmp_path_factory) -> Path:
    return install_layout(ROOT, tmp_path_factory.mktemp("installed"))


def test_import_contracts_hold(installed_tree):
    result = lint_imports(installed_tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_crossed_layer_breaks_the_contracts(tmp_path):
    """The check can fail: measure importing the CLI (a layer crossed upwards) is reported by name."""
    tree = install_layout(ROOT, tmp_path)
    metrics = tree / "layoutscope" / "measure" / "metrics.py"
    metrics.write_text(metrics.read_text() + "\nimport layoutscope.cli.outputs\n")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "layoutscope.measure is not allowed to import layoutscope.cli" in result.stdout
    assert "layoutscope.measure.metrics -> layoutscope.cli.outputs" in result.stdout


def test_every_package_has_a_layer():
    """A new subpackage must be placed in the layers contract, or the contracts would not see it."""
    layers = next(c for c in pyproject()["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    placed = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    packages = {p.split(".")[1] for p in pyproject()["tool"]["setuptools"]["packages"] if p.count(".") >= 1}
    assert packages - placed - {"samples"} == set()


SOURCES = {"layoutscope": ROOT / "layoutscope", "layoutscope.backend": ROOT / "backend"}


def _is_package(module: str) -> bool:
    """Whether ``module`` (a layoutscope name) is a package directory in the repository."""
    prefix = "layoutscope.backend" if module.startswith("layoutscope.backend") else "layoutscope"
    rest = module[len(prefix):].lstrip(".")
    return SOURCES[prefix].joinpath(*rest.split(".") if rest else ()).joinpath("__init__.py").exists()


def _private_names_imported_across_packages() -> list[str]:
    """``from pkg.module import _name`` where the importer is outside ``pkg``.

    The private-modules contract covers private modules as lint-imports sees them; this covers the
    names inside modules (functions, classes, constants) that lint-imports does not see.
    """
    found = []
    for package, source in SOURCES.items():
        for path in sorted(source.rglob("*.py")):
            parts = path.relative_to(source).with_suffix("").parts
            importer = ".".join([package, *parts])
            importer = importer[: -len(".__init__")] if parts[-1] == "__init__" else importer.rsplit(".", 1)[0]
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom) or node.level or not (node.module or "").startswith("layoutscope"):
                    continue
                # What `from P import _x` reaches is private to P when P is a package, else to P's package.
                owner = node.module if _is_package(node.module) else node.module.rsplit(".", 1)[0]
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private and not (importer + ".").startswith(owner + "."):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{alias.name}")
    return found


def test_no_private_name_crosses_a_package():
    assert _private_names_imported_across_packages() == []
