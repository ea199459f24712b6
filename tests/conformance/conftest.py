"""``IRTOOL_RECORD_CONFORMANCE=1`` (``make conformance``): write each case's outcome to
``schemas/conformance.json``, the table ``irtool ops`` prints."""
from __future__ import annotations

import json
import os

import pytest

_OUTCOMES: dict[str, str] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    case = getattr(item, "callspec", None) and item.callspec.params.get("case")
    if case is not None and (report.when == "call" or report.outcome != "passed"):
        if report.when == "call" or case.id not in _OUTCOMES:
            _OUTCOMES[case.id] = report.outcome


def _opset_number(version: str) -> int:
    return int(version.removeprefix("opset") or 0)


def pytest_sessionfinish(session, exitstatus):
    if not os.environ.get("IRTOOL_RECORD_CONFORMANCE") or not _OUTCOMES:
        return
    import openvino

    from tests.conformance.cases import CASES
    from tests.oracle import REPO

    ops: dict[str, dict] = {}
    for c in CASES:
        entry = ops.setdefault(c.op, {"versions": [], "element_types": [], "refused": [], "cases": {}})
        outcome = _OUTCOMES.get(c.id, "not run")
        if c.refused:  # what OpenVINO's CPU plugin does not run: a version, or a setting of one
            entry["refused"] = sorted(set(entry["refused"]) | {c.version})
            outcome = "refused" if outcome == "passed" else outcome
        else:
            entry["versions"] = sorted(set(entry["versions"]) | {c.version}, key=_opset_number)
            entry["element_types"] = sorted(set(entry["element_types"]) | set(c.element_types))
        entry["cases"][c.id] = outcome
    path = REPO / "schemas" / "conformance.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"generated_by": "make conformance", "openvino": openvino.__version__,
                               "ops": dict(sorted(ops.items()))}, indent=1) + "\n")
    tmp.replace(path)
