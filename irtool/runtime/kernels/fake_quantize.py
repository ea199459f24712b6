"""FakeQuantize-1 in FP32: the quantize-dequantize emulation, with OpenVINO's exact arithmetic.

The spec's formula is ``round((x - il) / (ih - il) * (L-1)) / (L-1) * (oh - ol) + ol``; the CPU plugin
computes the same thing as ``round(clip(x, il, ih) * isc + ish) * osc + osh`` in float32 with the
scales precomputed, rounding half to even. The two differ in the last bit of the pre-rounding value,
which can move a value sitting on a rounding boundary by one step; irtool follows the CPU plugin so
that FP32 emulation agrees with OpenVINO element for element.
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.kernels._broadcast import align
from irtool.runtime.registry import kernel


def quantize_params(il, ih, ol, oh, levels: int):
    """Crop bounds, input scale/shift and output scale/shift, in float32, as the CPU plugin has them."""
    f = np.float32
    il, ih, ol, oh = (np.asarray(v, dtype=f) for v in (il, ih, ol, oh))
    q = f(levels - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        isc = q / (ih - il)
        ish = (-il * q) / (ih - il)
    osc = (oh - ol) / q
    return np.minimum(il, ih), np.maximum(il, ih), isc, ish, osc, ol


def fake_quantize_reference(x, il, ih, ol, oh, levels: int):
    """The spec's formula, piecewise, in float64: the readable statement of what FakeQuantize means."""
    x, il, ih, ol, oh = (np.asarray(v, dtype=np.float64) for v in (x, il, ih, ol, oh))
    q = levels - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        mid = np.round((x - il) / (ih - il) * q) / q * (oh - ol) + ol
    return np.where(x <= np.minimum(il, ih), ol, np.where(x > np.maximum(il, ih), oh, mid))


@kernel("FakeQuantize")
def fake_quantize(x, il, ih, ol, oh, *, levels: int, auto_broadcast: str = "numpy"):
    _, il = align(x, il, auto_broadcast)
    lo, hi, isc, ish, osc, osh = quantize_params(il, ih, ol, oh, levels)
    # The JIT kernel uses fused multiply-adds: one rounding after a*b+c. A float32 product is exact
    # in float64, so computing in float64 and rounding once reproduces FMA to the bit.
    y = np.clip(x.astype(np.float32, copy=False), lo, hi).astype(np.float64)
    k = np.rint((y * isc + ish).astype(np.float32))  # rint: half to even, as vroundps
    return (k.astype(np.float64) * osc + osh).astype(x.dtype)
