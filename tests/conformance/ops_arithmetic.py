"""Conformance cases: binary arithmetic (Add, Subtract, Multiply, Divide, Maximum, Minimum,
SquaredDifference, Power, Mod, FloorMod).

Integer tensors are where OpenVINO's CPU plugin departs from the spec text (measured, 2026.4): i32 Add,
Subtract, Multiply, SquaredDifference, Maximum, Minimum wrap as C does; on u8/i8 they saturate; Divide,
Mod, FloorMod and Power compute in f32 (so 16777217 / 1 = 16777216), Divide truncates toward zero
whatever m_pythondiv says, and a result outside i32 or NaN (a division by zero) becomes INT_MIN (x86's
"integer indefinite"), then saturates to u8/i8. i64 tensors are i32 inside the plugin: values and
results stay within i32 here (beyond, OpenVINO wraps them at 32 bits). u8/i8 SquaredDifference is not
swept: OpenVINO's CPU plugin returns zeros for it.
"""
from __future__ import annotations

import numpy as np
from openvino import opset1

from tests.conformance._build import case, f32, ints

I32_EDGE = np.array([-2**31, -2**31 + 1, -16777217, -1000, -7, -1, 0, 1, 7, 1000, 16777217, 2**31 - 1], np.int32)
I8_EDGE = np.array([-128, -127, -100, -7, -1, 0, 1, 7, 100, 127], np.int8)
U8_EDGE = np.array([0, 1, 7, 100, 127, 128, 200, 255], np.uint8)


def grid(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of ``values``: (n, 1) and (1, n), which broadcast to the n x n table."""
    return values.reshape(-1, 1), values.reshape(1, -1)


def binary(fn, mode: str = "numpy", pythondiv: bool | None = None):
    def build(a, b):
        node = fn(a, b, auto_broadcast=mode)
        if pythondiv is not None:
            node.set_attribute("m_pythondiv", pythondiv)
        return node
    return build


def nonzero(x: np.ndarray) -> np.ndarray:
    return np.where(x == 0, np.ones_like(x), x)


ARITHMETIC = {"Add": opset1.add, "Subtract": opset1.subtract, "Multiply": opset1.multiply, "Divide": opset1.divide,
              "Maximum": opset1.maximum, "Minimum": opset1.minimum, "SquaredDifference": opset1.squared_difference,
              "Mod": opset1.mod, "FloorMod": opset1.floor_mod}
DIVISIONS = ("Divide", "Mod", "FloorMod")

for op, fn in ARITHMETIC.items():
    div = op in DIVISIONS
    rhs = (lambda x: nonzero(x)) if div else (lambda x: x)
    # ---- floats: broadcasting, a scalar, none, an empty tensor, f16
    case(op, "opset1", "f32-broadcast", binary(fn), f32(2, 3, 4, 5, scale=3), rhs(f32(3, 1, 5, scale=2)))
    case(op, "opset1", "f32-broadcast-both", binary(fn), f32(2, 1, 4, scale=3), rhs(f32(3, 1, scale=2)))
    case(op, "opset1", "f32-scalar", binary(fn), f32(3, 4, scale=3), rhs(np.array(-1.75, np.float32)))
    case(op, "opset1", "f32-scalar-lhs", binary(fn), np.array(2.5, np.float32), rhs(f32(6, scale=3)))
    case(op, "opset1", "f32-scalars", binary(fn), np.array(-3.25, np.float32), np.array(1.5, np.float32))
    case(op, "opset1", "f32-none", binary(fn, "none"), f32(3, 5, scale=3), rhs(f32(3, 5, scale=2)))
    case(op, "opset1", "f32-empty", binary(fn), np.zeros((0, 3), np.float32), rhs(f32(1, 3)))
    case(op, "opset1", "f16-broadcast", binary(fn), f32(4, 6, scale=3).astype(np.float16),
         rhs(f32(6, scale=2)).astype(np.float16), rel=1e-3)  # (f16's ulp is 4.9e-4 relative)
    # ---- integers: every pair of edge values (overflow, saturation, f32 rounding), random data broadcast
    if op == "SquaredDifference":
        case(op, "opset1", "i32-edges", binary(fn), *grid(np.array([-50000, -46341, -3, 0, 2, 46341, 50000], np.int32)))
        case(op, "opset1", "i32-broadcast", binary(fn), ints(-3000, 3000, 2, 3, 4), ints(-3000, 3000, 3, 1))
        case(op, "opset1", "i64-broadcast", binary(fn), ints(-3000, 3000, 2, 3, 4, dtype=np.int64),
             ints(-3000, 3000, 4, dtype=np.int64))
        continue
    edges = (I32_EDGE, I32_EDGE)
    if op == "Multiply":
        edges = (I32_EDGE, np.array([-65536, -3, -1, 0, 1, 3, 65536], np.int32))
    a, b = edges[0].reshape(-1, 1), edges[1].reshape(1, -1)
    case(op, "opset1", "i32-edges", binary(fn), a, rhs(b) if not div else b)  # (zero divisors too: INT_MIN)
    case(op, "opset1", "i32-broadcast", binary(fn), ints(-1000, 1000, 2, 3, 4), rhs(ints(-30, 30, 3, 1)))
    case(op, "opset1", "i32-scalar", binary(fn), ints(-100, 100, 7), np.array(-3, np.int32))
    case(op, "opset1", "i32-none", binary(fn, "none"), ints(-100, 100, 4, 5), rhs(ints(-9, 9, 4, 5)))
    case(op, "opset1", "i32-empty", binary(fn), np.zeros((2, 0), np.int32), np.ones((1, 1), np.int32))
    case(op, "opset1", "i64-broadcast", binary(fn), ints(-30000, 30000, 2, 3, 4, dtype=np.int64),
         rhs(ints(-30000, 30000, 4, dtype=np.int64) // (1000 if op == "Multiply" else 1)))
    i64 = np.array([-2**31, -16777217, -7, -1, 0, 1, 7, 16777217, 2**31 - 1], np.int64)
    if op not in ("Add", "Subtract", "Multiply"):  # (no i32 overflow: OpenVINO wraps i64 at 32 bits)
        case(op, "opset1", "i64-edges", binary(fn), *grid(i64))
    for dtype, e in ((np.uint8, U8_EDGE), (np.int8, I8_EDGE)):
        t = np.dtype(dtype).name
        case(op, "opset1", f"{t}-edges", binary(fn), *grid(e))  # saturation; divisions by zero
        case(op, "opset1", f"{t}-broadcast", binary(fn), ints(np.iinfo(dtype).min, np.iinfo(dtype).max + 1, 2, 3, 4,
                                                              dtype=dtype),
             rhs(ints(np.iinfo(dtype).min, np.iinfo(dtype).max + 1, 4, dtype=dtype)))

# ------------------------------------------------------------------------------------------- Divide's rounding
for pythondiv in (True, False):
    label = f"pythondiv{int(pythondiv)}"
    case("Divide", "opset1", f"i32-{label}", binary(opset1.divide, pythondiv=pythondiv), *grid(I32_EDGE))
    case("Divide", "opset1", f"i64-{label}", binary(opset1.divide, pythondiv=pythondiv),
         ints(-1000, 1000, 5, 6, dtype=np.int64), nonzero(ints(-9, 9, 6, dtype=np.int64)))
    case("Divide", "opset1", f"i8-{label}", binary(opset1.divide, pythondiv=pythondiv), *grid(I8_EDGE))
    case("Divide", "opset1", f"f32-{label}", binary(opset1.divide, pythondiv=pythondiv), f32(4, 5, scale=5),
         nonzero(f32(5)))
case("Divide", "opset1", "f32-by-zero-nan", binary(opset1.divide), np.array([0.0, -0.0, np.nan, 1.0], np.float32),
     np.array([0.0, 0.0, 2.0, np.nan], np.float32))  # (x / 0 = inf, which the oracle cannot compare)
for op in ("Mod", "FloorMod"):
    fn = ARITHMETIC[op]
    case(op, "opset1", "f32-signs", binary(fn), *grid(np.array([-7.5, -3, -2.5, -0.5, 0, 0.5, 2.5, 3, 7.5], np.float32)))
    case(op, "opset1", "f32-large-ratio", binary(fn), f32(50, scale=1e5), nonzero(f32(50, scale=3)))

# ------------------------------------------------------------------------------------------- Power
POW = binary(opset1.power)
case("Power", "opset1", "f32-broadcast", POW, np.abs(f32(2, 3, 4, scale=3)), f32(3, 1, scale=1.5))
case("Power", "opset1", "f32-negative-base", POW, *grid(np.array([-3, -2, -1.5, -1, -0.5, 0.5, 2], np.float32)))
case("Power", "opset1", "f32-integer-exponents", POW, f32(4, 5, scale=2), np.array([-2, -1, 0, 1, 3], np.float32))
case("Power", "opset1", "f32-scalar", POW, np.abs(f32(6)), np.array(0.5, np.float32))
case("Power", "opset1", "f32-scalars", POW, np.array(1.5, np.float32), np.array(-2.0, np.float32))
case("Power", "opset1", "f32-none", binary(opset1.power, "none"), np.abs(f32(3, 4)), f32(3, 4))
case("Power", "opset1", "f32-empty", POW, np.zeros((0, 2), np.float32), f32(2))
case("Power", "opset1", "f16", POW, np.abs(f32(4, 5, scale=2)).astype(np.float16), f32(5).astype(np.float16), rel=1e-3)
BASES = np.array([-46341, -1000, -7, -3, -2, -1, 0, 1, 2, 3, 7, 1000, 46341], np.int32)
case("Power", "opset1", "i32-edges", POW, BASES.reshape(-1, 1), np.array([[-2, -1, 0, 1, 2, 3, 5, 31]], np.int32))
case("Power", "opset1", "i32-broadcast", POW, ints(-9, 10, 2, 3, 4), ints(0, 6, 4))
case("Power", "opset1", "i32-scalar", POW, ints(-50, 50, 8), np.array(2, np.int32))
case("Power", "opset1", "i64", POW, ints(-30, 30, 3, 4, dtype=np.int64), ints(0, 5, 4, dtype=np.int64))
case("Power", "opset1", "u8-edges", POW, U8_EDGE.reshape(-1, 1), np.array([[0, 1, 2, 3, 8]], np.uint8))
case("Power", "opset1", "i8-edges", POW, I8_EDGE.reshape(-1, 1), np.array([[-1, 0, 1, 2, 3]], np.int8))
