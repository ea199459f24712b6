"""Conformance cases: comparisons (Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual), logical
ops (LogicalAnd, LogicalOr, LogicalXor, LogicalNot) and Select.

OpenVINO's CPU plugin compares i32/i64 tensors as f32 at run time (measured, 2026.4: 16777217 ==
16777216): the edge cases below hold such pairs.
"""
from __future__ import annotations

import numpy as np
from openvino import opset1

from tests.conformance._build import case, f32, ints

FLOATS = np.array([-np.inf, -2.5, -1, -0.0, 0.0, 0.5, 1, 2.5, np.inf, np.nan], np.float32)
I32 = np.array([-2**31, -16777217, -16777216, -3, 0, 3, 16777216, 16777217, 2**31 - 2, 2**31 - 1], np.int32)
SMALL = {"u8": np.array([0, 1, 127, 128, 254, 255], np.uint8), "i8": np.array([-128, -127, -1, 0, 1, 127], np.int8)}


def grid(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return values.reshape(-1, 1), values.reshape(1, -1)


def binary(fn, mode: str = "numpy"):
    return lambda a, b: fn(a, b, auto_broadcast=mode)


def bools(*shape) -> np.ndarray:
    return ints(0, 2, *shape).astype(bool)


COMPARISONS = {"Equal": opset1.equal, "NotEqual": opset1.not_equal, "Less": opset1.less,
               "LessEqual": opset1.less_equal, "Greater": opset1.greater, "GreaterEqual": opset1.greater_equal}
for op, fn in COMPARISONS.items():
    rounded = np.round(f32(3, 1, 5, scale=2))  # (ties, so that the = of <= and >= shows)
    case(op, "opset1", "f32-broadcast", binary(fn), np.round(f32(2, 3, 4, 5, scale=2)), rounded)
    case(op, "opset1", "f32-special", binary(fn), *grid(FLOATS))  # NaN, inf, signed zeros
    case(op, "opset1", "f32-scalar", binary(fn), np.round(f32(4, 3)), np.array(0.0, np.float32))
    case(op, "opset1", "f32-scalars", binary(fn), np.array(1.5, np.float32), np.array(1.5, np.float32))
    case(op, "opset1", "f32-none", binary(fn, "none"), np.round(f32(3, 4)), np.round(f32(3, 4)))
    case(op, "opset1", "f32-empty", binary(fn), np.zeros((0, 4), np.float32), f32(4))
    case(op, "opset1", "f16", binary(fn), np.round(f32(4, 5, scale=2)).astype(np.float16),
         np.round(f32(5, scale=2)).astype(np.float16))
    case(op, "opset1", "i32-edges", binary(fn), *grid(I32))
    case(op, "opset1", "i32-broadcast", binary(fn), ints(-5, 5, 2, 3, 4), ints(-5, 5, 3, 1))
    case(op, "opset1", "i32-scalar", binary(fn), ints(-5, 5, 9), np.array(1, np.int32))
    case(op, "opset1", "i64-edges", binary(fn), *grid(I32.astype(np.int64)))
    case(op, "opset1", "i64-broadcast", binary(fn), ints(-5, 5, 3, 4, dtype=np.int64), ints(-5, 5, 4, dtype=np.int64))
    for t, values in SMALL.items():
        case(op, "opset1", f"{t}-edges", binary(fn), *grid(values))
    case(op, "opset1", "bool", binary(fn), *grid(np.array([False, True])))

# ------------------------------------------------------------------------------------------- logical
LOGICAL = {"LogicalAnd": ("opset1", opset1.logical_and), "LogicalOr": ("opset1", opset1.logical_or),
           "LogicalXor": ("opset2", opset1.logical_xor)}
for op, (version, fn) in LOGICAL.items():
    case(op, version, "table", binary(fn), *grid(np.array([False, True])))
    case(op, version, "broadcast", binary(fn), bools(2, 3, 4), bools(3, 1))
    case(op, version, "scalar", binary(fn), bools(5), np.array(True))
    case(op, version, "scalars", binary(fn), np.array(True), np.array(False))
    case(op, version, "none", binary(fn, "none"), bools(4, 5), bools(4, 5))
    case(op, version, "empty", binary(fn), np.zeros((3, 0), bool), bools(1, 1))
for label, x in [("rank3", bools(2, 3, 4)), ("scalar", np.array(False)), ("empty", np.zeros((0, 2), bool))]:
    case("LogicalNot", "opset1", label, opset1.logical_not, x)

# ------------------------------------------------------------------------------------------- Select
SELECT_TYPES = {"f32": lambda *s: f32(*s), "f16": lambda *s: f32(*s).astype(np.float16),
                "i32": lambda *s: ints(-2**31, 2**31 - 1, *s), "i64": lambda *s: ints(-2**31, 2**31 - 1, *s, dtype=np.int64),
                "u8": lambda *s: ints(0, 256, *s, dtype=np.uint8), "i8": lambda *s: ints(-128, 128, *s, dtype=np.int8),
                "bool": lambda *s: bools(*s)}
for t, make in SELECT_TYPES.items():
    case("Select", "opset1", f"{t}-broadcast", lambda c, a, b: opset1.select(c, a, b), bools(2, 1, 4), make(3, 1),
         make(1, 3, 4))
    case("Select", "opset1", f"{t}-none", lambda c, a, b: opset1.select(c, a, b, "none"), bools(3, 4), make(3, 4),
         make(3, 4))
case("Select", "opset1", "scalar-cond", lambda c, a, b: opset1.select(c, a, b), np.array(True), f32(2, 3), f32(2, 3))
case("Select", "opset1", "scalar-values", lambda c, a, b: opset1.select(c, a, b), bools(3, 4),
     np.array(1.5, np.float32), np.array(-2.0, np.float32))
case("Select", "opset1", "cond-broadcasts-up", lambda c, a, b: opset1.select(c, a, b), bools(2, 3, 4), f32(4),
     f32(3, 1))
case("Select", "opset1", "nan-values", lambda c, a, b: opset1.select(c, a, b), bools(6),
     np.array([np.nan, 1, 7, -0.0, 2, np.nan], np.float32), np.array([3, np.nan, 4, 5, -1, 6], np.float32))
case("Select", "opset1", "empty", lambda c, a, b: opset1.select(c, a, b), np.zeros((0, 3), bool), f32(1, 3),
     f32(3))
