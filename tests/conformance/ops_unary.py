"""Conformance cases: unary math (Abs, Acos, Acosh, Asin, Asinh, Atan, Atanh, Ceiling, Cos, Cosh, Erf,
Exp, Floor, Log, Negative, Sign, Sin, Sinh, Sqrt, Tan), Round, Convert, ConvertLike.

Integer tensors (measured against OpenVINO 2026.4's CPU plugin): every op but Abs, Negative and Sign
computes in f32 and rounds the result to nearest even; an inf or NaN becomes INT_MIN for the JIT
eltwise ops (Exp, Log, Sqrt, Floor, Ceiling, Erf) and the type's end for the reference trigonometric
and hyperbolic ones (sinh(100) = 2147483520 in i32, 127 in i8; NaN: INT_MIN, -128, u8 255). Abs and
Negative saturate on i8. Negative of an unsigned tensor is refused at compile time.
Convert truncates toward zero; NaN and values outside i32 become INT_MIN, then wrap to the type.
Float outputs: no +-inf here (the oracle compares finite values; tests/test_kernels_inf_outputs.py).
"""
from __future__ import annotations

import numpy as np
from openvino import opset1, opset4, opset5

from tests.conformance._build import RNG, case, f32, ints, refused


def uniform(low: float, high: float, *shape) -> np.ndarray:
    return RNG.uniform(low, high, shape).astype(np.float32)


def values(*v, dtype=np.float32) -> np.ndarray:
    return np.array(v, dtype)


NAN = np.nan
# op: (version, builder, f32 data over its domain, special inputs with finite results, integer edges)
UNARY = {
    "Abs": ("opset1", opset1.absolute, f32(2, 3, 4, scale=3), values(NAN, -0.0, 0.0, -1e30, 1e-30),
            [-2**31, -16777217, -5, 0, 5, 16777217, 2**31 - 1]),
    "Acos": ("opset1", opset1.acos, uniform(-1, 1, 3, 17), values(NAN, -1, 1, -0.0, 1.5, -1.5, np.inf),
             [-3, -1, 0, 1, 2, 100]),
    "Acosh": ("opset4", opset4.acosh, uniform(1, 20, 3, 17), values(NAN, 1, 0.5, -2, 1e30, -np.inf),
              [-3, 0, 1, 2, 3, 10, 100, 16777217]),
    "Asin": ("opset1", opset1.asin, uniform(-1, 1, 3, 17), values(NAN, -1, 1, -0.0, 1.5, -1.5, -np.inf),
             [-3, -1, 0, 1, 2, 100]),
    "Asinh": ("opset4", opset4.asinh, f32(3, 17, scale=10), values(NAN, -0.0, 1e30, -1e30, 1e-30),
              [-100, -3, -1, 0, 1, 2, 3, 100, 16777217]),
    "Atan": ("opset1", opset1.atan, f32(3, 17, scale=10), values(NAN, -0.0, np.inf, -np.inf, 1e30),
             [-2**31, -100, -3, -1, 0, 1, 2, 3, 100, 2**31 - 1]),
    "Atanh": ("opset4", opset4.atanh, uniform(-0.99, 0.99, 3, 17), values(NAN, -0.0, 1.5, -2, 0.999),
              [-3, -1, 0, 1, 2]),
    "Ceiling": ("opset1", opset1.ceiling, f32(3, 17, scale=10), values(NAN, -0.0, -0.5, 0.5, 1e30, -1e30, 8388609),
                [-2**31, -16777217, -5, 0, 5, 16777217, 2**31 - 1]),
    "Cos": ("opset1", opset1.cos, f32(3, 17, scale=4), values(NAN, -0.0, np.inf, -np.inf, 100.0),
            [-100, -3, -1, 0, 1, 2, 3, 4, 100]),
    "Cosh": ("opset1", opset1.cosh, f32(3, 17, scale=3), values(NAN, -0.0, 80.0, -80.0),
             [-100, -30, -3, -1, 0, 1, 2, 3, 15, 100]),
    "Erf": ("opset1", opset1.erf, f32(3, 17, scale=2), values(NAN, -0.0, np.inf, -np.inf, 1e-30, 5, -5),
            [-2**31, -3, -1, 0, 1, 2, 3, 2**31 - 1]),
    "Exp": ("opset1", opset1.exp, f32(3, 17, scale=4), values(-0.0, -np.inf, -200.0, 88.0, -87.5),
            [-100, -3, -1, 0, 1, 2, 3, 4, 5, 6, 15, 100]),  # (exp(NaN) is inf in OpenVINO's CPU plugin)
    "Floor": ("opset1", opset1.floor, f32(3, 17, scale=10), values(NAN, -0.0, -0.5, 0.5, 1e30, -1e30, 8388609),
              [-2**31, -16777217, -5, 0, 5, 16777217, 2**31 - 1]),
    "Log": ("opset1", opset1.log, np.abs(f32(3, 17, scale=10)) + 0.01, values(NAN, -1, 1e-30, 1e30),
            [-100, -1, 0, 1, 2, 3, 100, 2**31 - 1]),
    "Negative": ("opset1", opset1.negative, f32(2, 3, 4, scale=3), values(NAN, -0.0, 0.0, 1e30),
                 [-2**31, -16777217, -5, 0, 5, 16777217, 2**31 - 1]),
    "Sign": ("opset1", opset1.sign, f32(2, 3, 4, scale=3), values(NAN, -0.0, 0.0, np.inf, -np.inf, 1e-30, -1e-30),
             [-2**31, -5, 0, 5, 2**31 - 1]),
    "Sin": ("opset1", opset1.sin, f32(3, 17, scale=4), values(NAN, -0.0, np.inf, -np.inf, 100.0),
            [-100, -3, -2, -1, 0, 1, 2, 3, 100]),
    "Sinh": ("opset1", opset1.sinh, f32(3, 17, scale=3), values(NAN, -0.0, 80.0, -80.0),
             [-100, -30, -3, -2, -1, 0, 1, 2, 3, 15, 100]),
    "Sqrt": ("opset1", opset1.sqrt, np.abs(f32(3, 17, scale=10)), values(NAN, -1, -0.0, 0.0, 1e30),
             [-100, -1, 0, 1, 2, 3, 8, 15, 99, 16777217, 2**31 - 1]),
    "Tan": ("opset1", opset1.tan, f32(3, 17, scale=1), values(NAN, -0.0, np.inf, -np.inf, 1.5),
            [-100, -3, -2, -1, 0, 1, 2, 3, 100]),
}
INT_TYPES = {"i32": np.int32, "i64": np.int64, "u8": np.uint8, "i8": np.int8}

for op, (version, fn, data, special, edges) in UNARY.items():
    case(op, version, "f32", fn, data)
    case(op, version, "f32-special", fn, special)  # NaN, signed zero, +-inf in, out of the domain
    case(op, version, "f32-scalar", fn, data.reshape(-1)[:1].reshape(()))
    case(op, version, "f32-empty", fn, np.zeros((2, 0, 3), np.float32))
    case(op, version, "f16", fn, np.clip(data, -10, 10).astype(np.float16), rel=1e-3)  # (f16's ulp: 4.9e-4
    # relative; exp(10) is still finite in f16)
    for t, dtype in INT_TYPES.items():
        info = np.iinfo(dtype)
        lo, hi = (-2**31 + 1, 2**31 - 1) if t == "i64" else (info.min, info.max)  # (the plugin's i64 is i32)
        e = np.array([v for v in edges if lo <= v <= hi] + [lo, hi], np.int64)
        if t == "u8" and op == "Negative":
            refused(op, version, "u8", fn, np.unique(e).astype(dtype))  # (OpenVINO: "has no negative")
            continue
        case(op, version, f"{t}-edges", fn, np.unique(e).astype(dtype))
    case(op, version, "i32-random", fn, ints(-15, 16, 3, 7))  # (results below 2**23: a 1-ulp exp difference is < 0.5)

# ------------------------------------------------------------------------------------------- Round
TIES = values(-3.5, -2.5, -1.5, -0.5, -0.0, 0.5, 1.5, 2.5, 3.5, 0.49999997, -0.49999997, 8388609, 1e30, NAN, -4.7, 4.2)
for mode in ("half_to_even", "half_away_from_zero"):
    rnd = lambda x, m=mode: opset5.round(x, m)  # noqa: E731
    case("Round", "opset5", f"{mode}-ties", rnd, TIES)
    case("Round", "opset5", f"{mode}-f32", rnd, f32(3, 4, 5, scale=5))
    case("Round", "opset5", f"{mode}-scalar", rnd, np.array(-2.5, np.float32))
    case("Round", "opset5", f"{mode}-empty", rnd, np.zeros((0,), np.float32))
    case("Round", "opset5", f"{mode}-f16", rnd, (np.round(f32(40) * 4) / 2).astype(np.float16))
    case("Round", "opset5", f"{mode}-i32", rnd, np.array([-2**31, -16777217, -3, 0, 3, 16777217, 2**31 - 1], np.int32))
    case("Round", "opset5", f"{mode}-i64", rnd, ints(-1000, 1000, 9, dtype=np.int64))
    case("Round", "opset5", f"{mode}-u8", rnd, np.array([0, 1, 127, 128, 255], np.uint8))
    case("Round", "opset5", f"{mode}-i8", rnd, np.array([-128, -1, 0, 1, 127], np.int8))

# ------------------------------------------------------------------------------------------- Convert
FLOAT_EDGES = values(0, 0.4, 0.5, 0.6, 1.5, 2.5, -0.4, -0.5, -0.6, -1, -1.5, -2.5, -3.7, 3.7, 127.6, 128, 200.7,
                     255.4, 255.6, 256, 300, -129, -200, 40000, -40000, 65504, -65504, 2**31, -2**31, 3e9, -3e9,
                     1e20, -1e20, np.inf, -np.inf, NAN, 1e-45, -1e-39)
SOURCES = {
    "f32": FLOAT_EDGES,
    "f16": FLOAT_EDGES[np.abs(FLOAT_EDGES) < 70000].astype(np.float16),  # (inf and NaN kept)
    "i32": np.array([0, 1, -1, 127, 128, -128, -129, 255, 256, 300, -300, 65535, 65536, 2**31 - 1, -2**31,
                     16777217, -16777217], np.int32),
    "i64": np.array([0, 1, -1, 127, 128, -128, -129, 255, 256, 300, -300, 65536, 2**31 - 1, -2**31 + 1, 16777217],
                    np.int64),
    "u8": np.array([0, 1, 127, 128, 200, 255], np.uint8),
    "i8": np.array([0, 1, -1, 127, -128, -5], np.int8),
    "bool": np.array([True, False, True]),
}
TARGETS = ("f32", "f16", "i32", "i64", "u8", "i8", "boolean")
for src, x in SOURCES.items():
    for dst in TARGETS:
        if dst == "f16" or dst == "f32" and x.dtype.kind == "f":  # (finite outputs: no inf, no f16 overflow)
            x = x[(np.isnan(x) | (np.abs(x) <= 65504)) if x.dtype.kind == "f" else (np.abs(x.astype(np.int64)) <= 65504)]
        case("Convert", "opset1", f"{src}-to-{dst}", lambda p, d=dst: opset1.convert(p, d), x)
for dst in ("u16", "i16", "u32", "u64"):
    case("Convert", "opset1", f"f32-to-{dst}", lambda p, d=dst: opset1.convert(p, d), FLOAT_EDGES)
case("Convert", "opset1", "f32-to-i32-random", lambda p: opset1.convert(p, "i32"), f32(3, 4, 5, scale=100))
case("Convert", "opset1", "f32-to-u8-scalar", lambda p: opset1.convert(p, "u8"), np.array(-3.7, np.float32))
case("Convert", "opset1", "f32-to-i64-empty", lambda p: opset1.convert(p, "i64"), np.zeros((0, 2), np.float32))

LIKE = {"i32": np.zeros(2, np.int32), "u8": np.zeros((), np.uint8), "i8": np.zeros((3, 1), np.int8),
        "i64": np.zeros(1, np.int64), "f16": np.zeros(2, np.float16), "bool": np.zeros(2, bool),
        "f32": np.zeros(2, np.float32)}
for src in ("f32", "i32", "u8"):
    for like, y in LIKE.items():
        x = SOURCES[src]
        if like == "f16" or src == "f32" and like == "f32":
            x = x[(np.isnan(x) | (np.abs(x) <= 65504)) if x.dtype.kind == "f" else (np.abs(x.astype(np.int64)) <= 65504)]
        case("ConvertLike", "opset1", f"{src}-like-{like}", opset1.convert_like, x, y)
