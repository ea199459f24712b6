"""Every conformance case: the ``ops_*`` modules here, one per kernel family, each declaring its cases
with ``tests.conformance._build.case``."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from tests.conformance._build import CASES, Case

for _module in sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])):
    if _module.startswith("ops_"):
        importlib.import_module(f"tests.conformance.{_module}")

__all__ = ["CASES", "Case"]
