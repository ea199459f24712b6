"""`irtool ops` / `irtool.coverage()`: the op table is the registry against OpenVINO's opsets, with the
conformance record; the README quotes its summary line."""
from __future__ import annotations

import json
import re

import irtool
from irtool.coverage import OpCoverage
from irtool.runtime.registry import supported_ops
from tests.oracle import REPO
from tests.test_bad_input import run_cli


def test_every_op_type_of_the_schema_has_a_row():
    schema = json.loads((REPO / "schemas" / "ops.json").read_text())["ops"]
    cov = irtool.coverage()
    assert [r.op for r in cov.ops] == sorted(schema)
    running = {r.op for r in cov.ops if r.status in ("runs", "partial") and r.op not in ("Parameter", "Const", "Result")}
    assert running == set(supported_ops()) & set(schema)  # (Quantize/Dequantize: irtool's own, load-time ops)
    assert sum(cov.counts.values()) == len(schema)


def test_status_follows_versions_and_refusals():
    row = lambda supported, refused=(): OpCoverage("X", ("opset1", "opset4"), supported, refused)  # noqa: E731
    assert row(("opset1", "opset4")).status == "runs"
    assert row(("opset1",)).status == "partial"
    assert row(()).status == "missing"
    assert row(("opset1",), ("opset4",)).status == "runs"  # what OpenVINO's CPU plugin refuses need not run
    assert row((), ("opset1", "opset4")).status == "refused"
    assert OpCoverage("Result", ("opset1",), ("opset1",)).status == "graph"


def test_the_table_counts_the_recorded_conformance_cases():
    record = json.loads((REPO / "schemas" / "conformance.json").read_text())["ops"]
    by_op = {r.op: r for r in irtool.coverage().ops}
    for op, entry in record.items():
        assert by_op[op].cases == len(entry["cases"]) and by_op[op].passed == by_op[op].cases, op
        assert by_op[op].element_types == tuple(entry["element_types"])


def test_cli_table_json_and_one_op(capsys):
    code, out, _ = run_cli(["ops"], capsys)
    assert code == 0 and irtool.coverage().summary() in out
    code, out, _ = run_cli(["ops", "hardsigmoid"], capsys)  # (types match as OpenVINO's reader does: any case)
    assert code == 0 and re.search(r"HardSigmoid\s+1\s+all\s+float32\s+\d+/\d+\s+runs", out)
    code, out, _ = run_cli(["ops", "--json", "--missing"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["summary"] == irtool.coverage().summary()
    assert all(o["status"] in ("missing", "partial") for o in doc["ops"])


def test_an_unknown_op_is_one_line(capsys):
    code, _, err = run_cli(["ops", "NoSuchOp"], capsys)
    assert code == 2 and err.count("\n") == 1 and "NoSuchOp" in err


def test_the_readme_quotes_the_summary():
    """Regenerate with `irtool ops | tail -1` after `make conformance` when this fails."""
    assert irtool.coverage().summary() in (REPO / "README.md").read_text()
