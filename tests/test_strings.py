"""String tensors in irtool's plugin where OpenVINO gives no reference (tests/conformance/ops_strings.py has
the cases it runs): inputs irtool also takes, its refusals, and constant StringTensorPack, which OpenVINO's
CPU plugin fails to compile and irtool folds."""
from __future__ import annotations

import numpy as np
import pytest

from irtool.errors import InputError, IRFormatError
from irtool.runtime import compile_model
from tests.oracle import ov, save

opset15 = pytest.importorskip("openvino.opset15")


def _compile(outputs, params, tmp_path):
    return compile_model(save(ov.Model(outputs, params), tmp_path / "s.xml"))


def _offsets(values, dtype=np.int32):
    return opset15.constant(np.array(values, dtype))


def test_a_constant_pack_folds_at_load_time(tmp_path):
    symbols = opset15.constant(np.frombuffer("aé€".encode(), np.uint8).copy())
    pack = opset15.string_tensor_pack(_offsets([[0, 1], [3, 6]], np.int64), _offsets([[1, 3], [6, 6]], np.int64),
                                      symbols)
    unpacked = opset15.string_tensor_unpack(pack)
    compiled = _compile([pack.output(0), *unpacked.outputs()], [], tmp_path)
    text, begins, ends, raw = compiled({}).values()
    assert text.tolist() == [["a", "é"], ["€", ""]] and text.dtype.kind == "U"
    assert begins.tolist() == [[0, 1], [3, 6]] and ends.tolist() == [[1, 3], [6, 6]] and begins.dtype == np.int32
    assert bytes(raw) == "aé€".encode() and raw.dtype == np.uint8
    assert {p.status for p in compiled.get_profiling_info() if p.node_type.startswith("String")} == {"NOT_RUN"}


def test_string_inputs_take_str_bytes_and_object_arrays(tmp_path):
    p = opset15.parameter([3], ov.Type.string, name="s")
    compiled = _compile([opset15.string_tensor_pack(*opset15.string_tensor_unpack(p).outputs()).output(0),
                         *opset15.string_tensor_unpack(p).outputs()], [p], tmp_path)
    assert compiled.inputs[0].dtype == ov.Type.string.to_dtype()
    for given in (np.array(["x", "", "€"]), np.array([b"x", b"", "€".encode()]), np.array(["x", b"", "€"], object)):
        text, _, ends, _ = compiled(given).values()
        assert text.tolist() == ["x", "", "€"] and ends.tolist() == [1, 1, 4]
    assert compiled(np.array([b"\xff", b"a", b""]))[0].tolist() == ["\ufffd", "a", ""]  # (as OpenVINO decodes)
    with pytest.raises(InputError, match="takes strings"):
        compiled(np.zeros(3, np.float32))
    with pytest.raises(InputError, match="holds int"):
        compiled(np.array(["a", 1, "b"], object))


def test_pack_refuses_ranges_outside_the_symbols(tmp_path):
    params = [opset15.parameter([2], np.int32, name="b"), opset15.parameter([2], np.int32, name="e"),
              opset15.parameter([4], np.uint8, name="s")]
    compiled = _compile(opset15.string_tensor_pack(*params).outputs(), params, tmp_path)
    sym = np.frombuffer(b"abcd", np.uint8)
    assert compiled([np.array([0, 1], np.int32), np.array([2, 4], np.int32), sym])[0].tolist() == ["ab", "bcd"]
    for b, e in (([0, 3], [2, 1]), ([0, 1], [2, 5]), ([-1, 0], [1, 1])):
        with pytest.raises(InputError, match="is not a range of the 4 symbols"):
            compiled([np.array(b, np.int32), np.array(e, np.int32), sym])
    # (OpenVINO checks constant begins and ends each, not begin <= end)
    pack = opset15.string_tensor_pack(_offsets([2]), _offsets([1]), opset15.constant(np.zeros(2, np.uint8)))
    with pytest.raises(IRFormatError, match="at load time"):
        _compile(pack.outputs(), [], tmp_path)
