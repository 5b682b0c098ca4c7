"""The package list in pyproject.toml ships every subpackage (editable installs hide gaps)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def declared_packages() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^packages = \[(.*?)\]", text, re.S | re.M).group(1)
    return set(re.findall(r'"([\w.]+)"', block))


def on_disk_packages() -> set[str]:
    found = set()
    for top, name in (("layoutscope", "layoutscope"), ("backend", "layoutscope.backend"), ("samples", "layoutscope.samples")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *rel.parts]))
    return found


def test_every_subpackage_is_declared():
    missing = on_disk_packages() - declared_packages()
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
