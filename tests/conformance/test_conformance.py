"""Every conformance case: saved with OpenVINO's serializer, run in OpenVINO (CPU, f32) and in irtool,
every output compared (floats: max abs error <= rel x max|reference|, rel 1e-4 unless the case says;
integers and booleans: equal), and the coverage bookkeeping that ``irtool ops`` reads."""
from __future__ import annotations

import json
import os

import pytest

from tests.conformance.cases import CASES
from tests.oracle import REPO, check_against_openvino, ov

ov_opset = pytest.importorskip("openvino.opset1")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op_matches_openvino(case, tmp_path):
    params = [ov_opset.parameter(list(x.shape), ov.Type.string if x.dtype.kind in "US" else x.dtype, name=f"in{i}")
              for i, x in enumerate(case.inputs)]  # (string inputs: numpy str or bytes arrays)
    node = case.build(*params)
    model = ov.Model(node.outputs(), params)
    if case.refused:
        _check_refused(model, tmp_path)
        return
    check_against_openvino(model, tmp_path, {f"in{i}": x for i, x in enumerate(case.inputs)}, rel=case.rel)


def _check_refused(model, tmp_path) -> None:
    """OpenVINO's CPU plugin refuses the model; irtool refuses it too, with its own one-line error."""
    from irtool.errors import IrToolError
    from irtool.runtime import compile_model
    from tests.oracle import save

    path = save(model, tmp_path / "op.xml")
    with pytest.raises(Exception):
        ov.Core().compile_model(str(path), "CPU")
    with pytest.raises(IrToolError) as refusal:
        compile_model(path)
    assert "\n" not in str(refusal.value)


def test_every_case_is_an_op_and_version_openvino_declares():
    schema = json.loads((REPO / "schemas" / "ops.json").read_text())["ops"]
    unknown = sorted({c.id for c in CASES if c.version not in schema.get(c.op, {})})
    assert not unknown, unknown


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_the_recorded_coverage_lists_these_cases():
    """``schemas/conformance.json`` (``make conformance`` writes it) is what ``irtool ops`` shows: it must
    name exactly the cases here, every one passed."""
    if os.environ.get("IRTOOL_RECORD_CONFORMANCE"):
        pytest.skip("recording: this run writes schemas/conformance.json")
    recorded = json.loads((REPO / "schemas" / "conformance.json").read_text())
    cases = {c: r for op in recorded["ops"].values() for c, r in op["cases"].items()}
    assert sorted(cases) == sorted(c.id for c in CASES), "run `make conformance` to record the cases"
    assert all(r in ("passed", "refused") for r in cases.values()), [c for c, r in cases.items()
                                                                      if r not in ("passed", "refused")]
