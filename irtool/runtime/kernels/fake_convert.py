"""FakeConvert (opset13): values rounded to an 8-bit float format (f8e4m3, f8e5m2) and back, as
OpenVINO's CPU plugin computes it (measured on every f16 value and on f32 values of every scale).

The plugin decomposes the op (FakeConvertDecomposition): ``y = (up(down(clamp(x*scale - shift))) +
shift) * (1/scale)`` in the data's type: the clamp to the format's finite range (448 / 57344; NaN
gives the lower bound, as the plugin's Clamp does), the Divide run as a multiply by the reciprocal.
``down`` is OpenVINO's own conversion: to f16 first (its software ``float16(float)``, whose rounding
doubles values just below a power of two in the f16 subnormal range: reproduced), then f8e4m3 by
round-to-nearest-even, f8e5m2 by its bit trick on the f16 pattern (round to nearest even on the low
byte, unless the value is NaN/inf or already at the top of the range).
"""
from __future__ import annotations

import numpy as np

from irtool.ir.element_types import _LUTS, _nearest_codes
from irtool.runtime.registry import kernel

_MAX = {"f8e4m3": 448.0, "f8e5m2": 57344.0}


def ov_float16_bits(x) -> np.ndarray:
    """uint16 bit patterns of OpenVINO's ``ov::float16(float)`` (src/core/src/type/float16.cpp)."""
    iv = np.asarray(x, np.float32).view(np.uint32).astype(np.int64)
    sign = iv & 0x80000000
    exp32 = iv & 0x7F800000
    frac = (iv & 0x007FFFFF) << 3
    nan_frac = np.where((frac & 0x03FF0000) == 0, 0x00010000, frac & 0x03FF0000)
    special = np.where(frac != 0, (sign | 0x7C000000 | nan_frac) >> 16, (sign | 0x7C000000) >> 16)
    exp16 = (exp32 >> 23) - 127 + 15
    up = ((frac & 0x1FFFF) == 0x18000) | ((frac & 0x7FFF) != 0)
    frac = np.where(up, frac + 0x8000, frac)
    carry = up & ((frac & 0x7C000000) != 0)
    frac = np.where(carry, frac & 0x7C000000, frac)
    exp16 = np.where(carry, exp16 + 1, exp16)  # (kept for the subnormal branch below: OpenVINO's quirk)
    normal = (sign | (np.maximum(exp16, 0) << 26) | (frac & 0x03FF0000)) >> 16
    inf = (sign | 0x7C000000) >> 16
    # subnormal: the hidden 1 restored, shifted by 1 - exp16, a sticky bit, then the same rounding
    sub = 0x04000000 | ((iv & 0x007FFFFF) << 3)
    amount = np.clip(1 - exp16, 0, 63)
    sticky = (sub & ((np.int64(1) << np.minimum(amount, 62)) - 1)) != 0
    sub = np.where(1 - exp16 > 31, 0, sub >> amount) | sticky
    sub = np.where(((sub & 0x1FFFF) == 0x18000) | ((sub & 0x7FFF) != 0), sub + 0x8000, sub)
    subnormal = (sign | sub) >> 16
    out = np.where(exp16 > 30, inf, np.where(exp16 > 0, normal, subnormal))
    out = np.where(exp32 == 0, sign >> 16, out)
    out = np.where(exp32 == 0x7F800000, special, out)
    return out.astype(np.uint16)


def _e5m2_on_f16(bits: np.ndarray) -> np.ndarray:
    """OpenVINO's emulate_f8e5m2_on_fp16: round the f16 pattern to its top byte, nearest even."""
    u = bits.astype(np.int32)
    can_round = (u & 0x7F00) < 0x7B00
    finite = (u & 0x7C00) != 0x7C00
    up = ((u & 0xFF) > 0x80) | ((u & 0x180) == 0x180)
    u = np.where(finite & can_round & up, u + 0x100, u) & 0xFF00
    return u.astype(np.uint16).view(np.float16).astype(np.float32)


def _down_up(t: np.ndarray, destination_type: str) -> np.ndarray:
    bits = ov_float16_bits(t)
    if destination_type == "f8e5m2":
        return _e5m2_on_f16(bits)
    half = bits.view(np.float16).astype(np.float32)
    lut = _LUTS["f8e4m3"]
    return lut[_nearest_codes(half, lut)].reshape(half.shape).astype(np.float32)


@kernel("FakeConvert", versions=("opset13",))
def fake_convert(data, scale, shift=None, *, destination_type: str = "f8e4m3"):
    dest = destination_type.lower()
    if dest not in _MAX:
        raise ValueError(f"FakeConvert destination_type '{destination_type}' is not f8e4m3 or f8e5m2")
    x = np.asarray(data)
    ct = np.float64 if x.dtype == np.float64 else np.float32
    xs, s = x.astype(ct), np.asarray(scale).astype(ct)
    t = xs * s if shift is None else xs * s - np.asarray(shift).astype(ct)
    top = ct(_MAX[dest])
    t = np.where(np.isnan(t), -top, np.clip(t, -top, top))
    q = _down_up(t.astype(np.float32), dest).astype(ct)
    if shift is not None:
        q = q + np.asarray(shift).astype(ct)
    return (q * (ct(1) / s)).astype(x.dtype)
