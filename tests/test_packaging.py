"""The package list in pyproject.toml must name every irtool package (a wheel would miss the rest)."""
from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "irtool").rglob("__init__.py")}
    assert found | {"irtool.schemas"} == listed


def test_schemas_are_package_data():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert data["package-dir"]["irtool.schemas"] == "schemas"
    assert (REPO / "schemas" / "ir.xsd").exists() and (REPO / "schemas" / "ops.json").exists()
