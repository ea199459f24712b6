"""Conformance cases: activations, bitwise, values, types."""
from __future__ import annotations

import numpy as np
from openvino import opset1, opset10, opset13, opset14, opset15, opset16, opset17

from tests.conformance._build import C, case, f32, ints

# ------------------------------------------------------------------------------------------- activations
for alpha, beta in [(0.2, 0.5), (1 / 6, 0.5), (-0.3, 0.1)]:
    case("HardSigmoid", "opset1", f"a{alpha:.2f}-b{beta}", lambda x, a=alpha, b=beta: opset1.hard_sigmoid(
        x, C(a, np.float32), C(b, np.float32)), f32(2, 3, 4, 5, scale=4))

# ------------------------------------------------------------------------------------------- bitwise
for op, fn in [("BitwiseAnd", opset13.bitwise_and), ("BitwiseOr", opset13.bitwise_or),
               ("BitwiseXor", opset13.bitwise_xor)]:
    for dtype in (np.int32, np.uint8, np.int64):
        case(op, "opset13", f"{np.dtype(dtype)}-broadcast", lambda a, b, fn=fn: fn(a, b),
             ints(0, 120, 2, 3, 4, dtype=dtype), ints(0, 120, 3, 1, dtype=dtype))
    case(op, "opset13", "bool", lambda a, b, fn=fn: fn(a, b), ints(0, 2, 4, 5).astype(bool),
         ints(0, 2, 4, 5).astype(bool))
    case(op, "opset13", "scalar", lambda a, b, fn=fn: fn(a, b), ints(-50, 50, 6, dtype=np.int32),
         np.array(13, np.int32))
for dtype in (np.int32, np.uint8, np.int8, bool):
    case("BitwiseNot", "opset13", f"{np.dtype(dtype)}", opset13.bitwise_not,
         ints(0, 2, 3, 7).astype(bool) if dtype is bool else ints(-100 if dtype is not np.uint8 else 0, 100, 3, 7,
                                                                    dtype=dtype))
for op, fn in [("BitwiseLeftShift", opset15.bitwise_left_shift), ("BitwiseRightShift", opset15.bitwise_right_shift)]:
    for dtype in (np.int32, np.uint8, np.int64):
        case(op, "opset15", f"{np.dtype(dtype)}", lambda a, b, fn=fn: fn(a, b), ints(0, 100, 3, 5, dtype=dtype),
             ints(0, 7, 5, dtype=dtype))

# ------------------------------------------------------------------------------------------- special values
SPECIAL = np.array([[0.0, -1.5, np.inf, -np.inf, np.nan, 3.0], [1e38, -0.0, np.nan, 2.0, -np.inf, 7.0]], np.float32)
case("IsNaN", "opset10", "special", opset10.is_nan, SPECIAL)
case("IsFinite", "opset10", "special", opset10.is_finite, SPECIAL)
for neg in (True, False):
    for pos in (True, False):
        case("IsInf", "opset10", f"neg{int(neg)}-pos{int(pos)}", lambda x, n=neg, p=pos: opset10.is_inf(
            x, {"detect_negative": n, "detect_positive": p}), SPECIAL)
for arr in (f32(2, 3), ints(0, 9, 4, dtype=np.int64), np.array(2.5, np.float32)):
    case("Identity", "opset16", f"{arr.dtype}-rank{arr.ndim}", opset16.identity, arr)

# ------------------------------------------------------------------------------------------- types
for a, b, kw, label in [(f32(2, 3), ints(0, 9, 2, 3, dtype=np.int32), {"promote_unsafe": True}, "f32-i32-unsafe"),
                        (f32(2, 3), ints(0, 9, 2, 3, dtype=np.int16), {}, "f32-i16"),
                        (ints(0, 9, 4, dtype=np.int8), ints(0, 9, 4, dtype=np.int32), {}, "i8-i32"),
                        (ints(0, 9, 4, dtype=np.uint8), ints(0, 9, 4, dtype=np.int8), {"promote_unsafe": True},
                         "u8-i8-unsafe"),
                        (f32(4).astype(np.float16), f32(4), {}, "f16-f32"),
                        (ints(0, 9, 4, dtype=np.uint8), ints(0, 9, 4, dtype=np.int16), {}, "u8-i16"),
                        (f32(3), np.array(2.5, np.float16), {"pytorch_scalar_promotion": True}, "torch-scalar"),
                        (ints(0, 9, 3, dtype=np.int32), np.array(4, np.int8), {"pytorch_scalar_promotion": True},
                         "torch-int-scalar")]:  # (OpenVINO refuses a scalar wider than the tensor here)
    case("ConvertPromoteTypes", "opset14", label, lambda x, y, kw=kw: opset14.convert_promote_types(x, y, **kw), a, b)

# ------------------------------------------------------------------------------------------- ErfInv
# the whole domain (OpenVINO's CPU approximation differs from the exact erfinv by up to 2e-2), its
# ends, past them (NaN), tiny and signed zeros
ERFINV = np.concatenate([np.linspace(-1, 1, 4001)[1:-1], [0.9966, -0.99664, 0.999999, 1e-30, 1e-40, 0.0, -0.0]])
case("ErfInv", "opset17", "domain", opset17.erfinv, ERFINV.astype(np.float32))
case("ErfInv", "opset17", "outside", opset17.erfinv, np.array([1.5, -2, np.nan, np.inf, -np.inf], np.float32))  # NaN
# (+-1 give +-inf, which the oracle cannot compare: tests/test_kernels_inf_outputs.py)
case("ErfInv", "opset17", "f16", opset17.erfinv, np.linspace(-0.999, 0.999, 301).astype(np.float16).reshape(7, 43))
