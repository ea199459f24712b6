"""Constant packing against OpenVINO's own bytes (property tests) and decoded values."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import irtool
from irtool.errors import IRFormatError
from irtool.ir.element_types import ELEMENT_TYPES, decode, element_type, encode
from tests.oracle import ov, ops

# type -> (numpy dtype OpenVINO takes the values in, low, high)
INTEGER_TYPES = {
    "u1": (np.uint8, 0, 1), "u2": (np.uint8, 0, 3), "u3": (np.uint8, 0, 7), "u4": (np.uint8, 0, 15),
    "u6": (np.uint8, 0, 63), "i4": (np.int8, -8, 7), "nf4": (np.uint8, 0, 15), "i8": (np.int8, -128, 127),
    "u8": (np.uint8, 0, 255), "i16": (np.int16, -2**15, 2**15 - 1), "u16": (np.uint16, 0, 2**16 - 1),
    "i32": (np.int32, -2**31, 2**31 - 1), "i64": (np.int64, -2**63, 2**63 - 1), "u32": (np.uint32, 0, 2**32 - 1),
}
FLOAT_CODED = ["f8e4m3", "f8e5m2", "f8e8m0", "f4e2m1", "bf16", "f16", "f32", "f64"]


def ov_bytes(values: np.ndarray, type_name: str, tmp_path) -> bytes:
    """What OpenVINO's serializer writes to the .bin for a constant of these values."""
    const = ops.constant(values, dtype=getattr(ov.Type, "boolean" if type_name == "boolean" else type_name))
    path = tmp_path / "c.xml"
    ov.save_model(ov.Model([ops.result(const)], [], "c"), str(path), compress_to_fp16=False)
    return path.with_suffix(".bin").read_bytes()


def ov_decoded(raw: bytes, type_name: str, count: int, tmp_path) -> np.ndarray:
    """OpenVINO's own reading of ``raw`` as ``type_name``: Const -> Convert(f32), run on CPU."""
    model = irtool.Model("d")
    const = irtool.Constant(element_type(type_name), (count,), raw=raw)
    c = model.add_layer("Const", "c", outputs=[irtool.Port(0, element_type(type_name).precision, [count])],
                        attrs={"element_type": type_name, "shape": str(count), "offset": "0", "size": "0"},
                        constant=const)
    from irtool.ir.graph import Output
    conv = model.add_layer("Convert", "to_f32", inputs=[Output(c, c.outputs[0])],
                           outputs=[irtool.Port(0, "FP32", [count])], attrs={"destination_type": "f32"})
    model.add_layer("Result", "r", inputs=[Output(conv, conv.outputs[0])])
    path = irtool.save_model(model, tmp_path / "d.xml")
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return np.array(compiled({})[0])


@pytest.mark.parametrize("name", sorted(INTEGER_TYPES))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_integer_packing_matches_openvino(name, data, tmp_path_factory):
    dtype, lo, hi = INTEGER_TYPES[name]
    values = data.draw(hnp.arrays(dtype, st.integers(1, 41), elements=st.integers(lo, hi)))
    etype = ELEMENT_TYPES[name]
    raw = ov_bytes(values, name, tmp_path_factory.mktemp("c"))
    assert encode(values, etype) == raw
    decoded = decode(raw, etype, values.shape)
    if name == "nf4":  # codes index the NF4 table
        decoded = np.searchsorted(np.unique(decode(encode(np.arange(16), etype), etype, (16,))), decoded)
    np.testing.assert_array_equal(decoded, values)


@pytest.mark.parametrize("name", FLOAT_CODED)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_float_codes_decode_like_openvino(name, data, tmp_path_factory):
    etype = ELEMENT_TYPES[name]
    count = data.draw(st.integers(1, 40))
    raw = data.draw(st.binary(min_size=etype.nbytes(count), max_size=etype.nbytes(count)))
    with np.errstate(over="ignore"):
        ours = decode(raw, etype, (count,)).astype(np.float32)
    # OpenVINO's CPU plugin flushes float32 denormals (f8e8m0's 2**-127) to zero
    ours = np.where(np.abs(ours) < np.finfo(np.float32).tiny, np.float32(0), ours)
    theirs = ov_decoded(raw, name, count, tmp_path_factory.mktemp("d"))
    finite = np.isfinite(theirs)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(ours[finite], theirs[finite])
    # what is not NaN survives encode(decode(raw)) bit for bit (padding bits of a last byte aside)
    if not np.isnan(ours).any() and etype.nbytes(count) * 8 == count * etype.bits:
        assert encode(decode(raw, etype, (count,)), etype) == bytes(raw)


@pytest.mark.parametrize("name", ["f8e4m3", "f8e5m2", "bf16"])
def test_float_encoding_matches_openvino(name, tmp_path):
    values = np.array([0.0, -0.0, 1.0, -2.5, 0.3125, 448.0 if name == "f8e4m3" else 57344.0], np.float32)
    assert encode(values, ELEMENT_TYPES[name]) == ov_bytes(values, name, tmp_path)


def test_boolean_and_string_constants(tmp_path):
    bools = np.array([True, False, True])
    assert encode(bools, ELEMENT_TYPES["boolean"]) == ov_bytes(bools, "boolean", tmp_path)
    words = np.array(["a", "", "héllo, world"])
    const = ops.constant(ov.Tensor(words))
    path = tmp_path / "s.xml"
    ov.save_model(ov.Model([ops.result(const)], [], "s"), str(path))
    model = irtool.read_model(path)
    value = next(l for l in model if l.type == "Const").constant.value
    assert [v.decode() for v in value] == list(words)
    assert encode(value, ELEMENT_TYPES["string"]) == path.with_suffix(".bin").read_bytes()


def test_either_spelling_is_accepted_and_unknown_is_refused():
    assert element_type("FP32") is element_type("f32") is element_type("fp32")
    assert element_type("BIN") is element_type("u1")
    with pytest.raises(IRFormatError, match="unknown element type 'f13'"):
        element_type("f13")
