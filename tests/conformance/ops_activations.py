"""Conformance cases: activations (Clamp, Elu, Gelu, HSigmoid, HSwish, Mish, PReLU, ReLU, Selu, Sigmoid,
SoftPlus, SoftSign, Swish, Tanh).

Integer tensors (OpenVINO 2026.4's CPU plugin, measured): computed in f32 and rounded to nearest even
(Clamp(2.5, 200.2) of a u8 0 is 2; sigmoid(0) = 0.5 is 0), so i32 values past 2**24 lose their last
bits (ReLU(16777217) = 16777216).
"""
from __future__ import annotations

import numpy as np
from openvino import opset1, opset2, opset4, opset5, opset7, opset9

from tests.conformance._build import C, case, f32, ints

SPECIAL = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 1e30, -1e30, 1e-30, -1e-30, 3, -3, 0.5], np.float32)
WIDE = np.concatenate([np.linspace(-12, 12, 241), [-30, -20.5, 20.5, 30, 88, -88, 100, -100]]).astype(np.float32)
I32 = np.array([-2**31 + 1, -16777217, -1000, -7, -3, -2, -1, 0, 1, 2, 3, 7, 1000, 16777217, 2**31 - 1], np.int32)


def sel(x: np.ndarray, finite_only: bool) -> np.ndarray:
    """``x`` without the infinities where the op sends them to +-inf (the oracle compares finite values)."""
    return x[~np.isinf(x)] if finite_only else x


# op: (version, builder, f32 data, keep +-inf inputs, integer types the op takes)
ACTIVATIONS = {
    "ReLU": ("opset1", opset1.relu, f32(2, 3, 4, 5, scale=3), False, ("i32", "i64", "u8", "i8")),
    "Sigmoid": ("opset1", opset1.sigmoid, WIDE, True, ("i32",)),
    "Tanh": ("opset1", opset1.tanh, WIDE, True, ("i32",)),
    "Elu": ("opset1", lambda x: opset1.elu(x, 1.0), WIDE, False, ("i32",)),
    "Gelu": ("opset2", opset2.gelu, WIDE, False, ()),  # (Gelu, Mish, SoftPlus, SoftSign, Swish: floats only)
    "HSwish": ("opset4", opset4.hswish, WIDE, False, ("i32",)),
    "HSigmoid": ("opset5", opset5.hsigmoid, WIDE, True, ("i32",)),
    "Mish": ("opset4", opset4.mish, WIDE, False, ()),
    "SoftPlus": ("opset4", opset4.softplus, WIDE, False, ()),
    "SoftSign": ("opset9", opset9.softsign, WIDE, True, ()),
    "Swish": ("opset4", opset4.swish, WIDE, False, ()),
}
INT = {"i32": (np.int32, I32), "i64": (np.int64, I32.astype(np.int64)),
       "u8": (np.uint8, np.array([0, 1, 2, 3, 127, 128, 200, 255], np.uint8)),
       "i8": (np.int8, np.array([-128, -127, -3, -1, 0, 1, 3, 127], np.int8))}
for op, (version, fn, data, inf_ok, int_types) in ACTIVATIONS.items():
    case(op, version, "f32", fn, data)
    case(op, version, "f32-special", fn, SPECIAL if inf_ok else SPECIAL[~np.isinf(SPECIAL) & (np.abs(SPECIAL) < 1e29)])
    case(op, version, "f32-rank4", fn, f32(2, 3, 4, 5, scale=4))
    case(op, version, "f32-scalar", fn, np.array(-0.75, np.float32))
    case(op, version, "f32-empty", fn, np.zeros((0, 3), np.float32))
    if op != "Swish":  # (Swish's default beta is an f32 Const: f16 below, with an f16 beta)
        case(op, version, "f16", fn, np.clip(data, -11, 11).astype(np.float16), rel=1e-3)  # (f16's ulp: 4.9e-4)
    for t in int_types:
        dtype, edges = INT[t]
        case(op, version, f"{t}-edges", fn, edges)
    if "i32" in int_types:
        case(op, version, "i32-random", fn, ints(-20, 20, 3, 8))

# ------------------------------------------------------------------------------------------- Gelu-7
for mode in ("erf", "tanh"):
    g = lambda x, m=mode: opset7.gelu(x, m)  # noqa: E731
    case("Gelu", "opset7", f"{mode}", g, WIDE)
    case("Gelu", "opset7", f"{mode}-special", g, SPECIAL[~np.isinf(SPECIAL) & (np.abs(SPECIAL) < 1e29)])
    case("Gelu", "opset7", f"{mode}-rank4", g, f32(2, 3, 4, 5, scale=3))
    case("Gelu", "opset7", f"{mode}-scalar", g, np.array(1.25, np.float32))
    case("Gelu", "opset7", f"{mode}-empty", g, np.zeros((2, 0), np.float32))
    case("Gelu", "opset7", f"{mode}-f16", g, np.clip(WIDE, -11, 11).astype(np.float16), rel=1e-3)

# ------------------------------------------------------------------------------------------- Elu, Clamp
for alpha in (0.5, 2.0, 0.0):
    case("Elu", "opset1", f"alpha{alpha}", lambda x, a=alpha: opset1.elu(x, a), f32(3, 4, 5, scale=3))
for lo, hi in [(0.0, 6.0), (-1.5, 2.25), (-3.0, -3.0), (-1e30, 1e30), (0.0, 3.4e38)]:
    cl = lambda x, a=lo, b=hi: opset1.clamp(x, a, b)  # noqa: E731
    label = f"{lo:g}-{hi:g}"
    case("Clamp", "opset1", label, cl, f32(3, 4, 5, scale=4))
    case("Clamp", "opset1", f"{label}-special", cl, SPECIAL[~np.isinf(SPECIAL)] if hi > 1e29 else SPECIAL)
case("Clamp", "opset1", "scalar", lambda x: opset1.clamp(x, -1.0, 1.0), np.array(3.5, np.float32))
case("Clamp", "opset1", "empty", lambda x: opset1.clamp(x, -1.0, 1.0), np.zeros((0,), np.float32))
case("Clamp", "opset1", "f16", lambda x: opset1.clamp(x, -1.5, 2.0), f32(4, 5, scale=3).astype(np.float16))
for t, (dtype, edges) in INT.items():
    for lo, hi in [(-2.5, 100.7), (2.5, 200.2), (-1e10, 1e10), (0.5, 0.5)]:
        case("Clamp", "opset1", f"{t}-{lo:g}-{hi:g}", lambda x, a=lo, b=hi: opset1.clamp(x, a, b), edges)

# ------------------------------------------------------------------------------------------- PReLU
P = opset1.prelu
case("PReLU", "opset1", "per-channel", P, f32(2, 3, 4, 5, scale=3), f32(3))
case("PReLU", "opset1", "per-channel-c-is-w", P, f32(2, 3, 4, 3, scale=3), f32(3))
case("PReLU", "opset1", "per-channel-rank3", P, f32(2, 4, 5, scale=3), f32(4))
case("PReLU", "opset1", "per-channel-rank2", P, f32(6, 4, scale=3), f32(4))
case("PReLU", "opset1", "slope-last-axis", P, f32(2, 3, 5, scale=3), f32(5))
case("PReLU", "opset1", "slope-full-rank", P, f32(2, 3, 4, 5, scale=3), f32(1, 3, 1, 1))
case("PReLU", "opset1", "slope-broadcast", P, f32(2, 3, 4, 5, scale=3), f32(4, 5))
case("PReLU", "opset1", "scalar-slope", P, f32(2, 3, 4, scale=3), np.array(0.25, np.float32))
case("PReLU", "opset1", "one-slope", P, f32(2, 3, 4, scale=3), np.array([-0.5], np.float32))
case("PReLU", "opset1", "const-slope", lambda x: P(x, C([0.1, 0.2, 0.3], np.float32)), f32(2, 3, 4, scale=3))
case("PReLU", "opset1", "rank1", P, f32(7, scale=3), f32(7))
case("PReLU", "opset1", "scalar-x", P, np.array(-2.0, np.float32), np.array(0.5, np.float32))
case("PReLU", "opset1", "special", P, SPECIAL[~np.isinf(SPECIAL)], np.array(0.5, np.float32))
case("PReLU", "opset1", "empty", P, np.zeros((0, 3), np.float32), f32(3))
case("PReLU", "opset1", "f16", P, f32(2, 3, 4, scale=3).astype(np.float16), f32(3).astype(np.float16), rel=1e-3)
case("PReLU", "opset1", "i32", P, I32.reshape(3, 5), np.array([2, -1, 3, 0, 1], np.int32))
case("PReLU", "opset1", "i8", P, INT["i8"][1].reshape(2, 4), np.array([2, 3, 1, -1], np.int8))

# ------------------------------------------------------------------------------------------- Selu, Swish
SELU_A, SELU_L = 1.6732632423543772, 1.0507009873554805
case("Selu", "opset1", "f32", lambda x: opset1.selu(x, C([SELU_A], np.float32), C([SELU_L], np.float32)), WIDE)
case("Selu", "opset1", "f32-special", lambda x: opset1.selu(x, C(SELU_A, np.float32), C(SELU_L, np.float32)),
     SPECIAL[~np.isinf(SPECIAL) & (np.abs(SPECIAL) < 1e29)])
case("Selu", "opset1", "scalar", lambda x: opset1.selu(x, C(SELU_A, np.float32), C(SELU_L, np.float32)),
     np.array(-1.5, np.float32))
case("Selu", "opset1", "empty", lambda x: opset1.selu(x, C(SELU_A, np.float32), C(SELU_L, np.float32)),
     np.zeros((2, 0), np.float32))
case("Selu", "opset1", "alpha0.5-lambda2", lambda x: opset1.selu(x, C([0.5], np.float32), C([2.0], np.float32)),
     f32(3, 4, scale=3))
case("Selu", "opset1", "f16", lambda x: opset1.selu(x, C([SELU_A], np.float16), C([SELU_L], np.float16)),
     np.clip(WIDE, -11, 11).astype(np.float16), rel=1e-3)
# (alpha and lambda as Parameters: OpenVINO's CPU plugin fails to compile it; Selu takes floats only)
for beta in (0.5, 1.0, 2.5, -1.0):
    case("Swish", "opset4", f"beta{beta}", lambda x, b=beta: opset4.swish(x, C(b, np.float32)), WIDE)
case("Swish", "opset4", "beta-param", lambda x, b: opset4.swish(x, b), f32(3, 4, scale=4), np.array(0.75, np.float32))
case("Swish", "opset4", "f16", lambda x: opset4.swish(x, C(1.0, np.float16)), np.clip(WIDE, -11, 11).astype(np.float16),
     rel=1e-3)
