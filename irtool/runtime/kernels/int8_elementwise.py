"""INT8 elementwise layers on u8 codes: ReLU and the residual Add.

ReLU is a max with the zero point (the code of 0.0). The Add of two inputs' codes looks its result up in
a table of every pair of codes (64 KiB, built at load time), each entry rounded exactly as the separate
Dequantize, Add, Clamp and Quantize layers round it (_add_one). An Add that a convolution absorbs runs
in its epilogue instead (int8_conv, int8_epilogue.compose_residual).
"""
from __future__ import annotations

import numba
import numpy as np

from irtool.runtime.kernels.int8_epilogue import INT8
from irtool.runtime.registry import kernel, specializer


# ------------------------------------------------------------------------------------------ ReLU
@kernel("ReLU", versions=(INT8,))
def relu_int8(k, *, zero_point: list[int]):
    """ReLU on u8 codes: ``max(code, zero_point)``, the code of 0.0 (lpt.push_dequantize)."""
    return np.maximum(k, np.uint8(zero_point[0]))


# ------------------------------------------------------------------------------------------ Add
@numba.njit(inline="always")
def _add_one(i, a, b, a0, a1, b0, b1, lo, hi, isc, ish, top, out):  # pragma: no cover (jit)
    """out[i] = quantize(clip(dequantize(a[i]) + dequantize(b[i]))), each step rounded exactly as the
    separate Dequantize, Add, Clamp and Quantize layers round it ((a0, a1), (b0, b1): the inputs'
    dequantization scale and shift, scalars so that LLVM keeps them in registers)."""
    da = np.float32(np.float64(a[i]) * a0 + a1)
    db = np.float32(np.float64(b[i]) * b0 + b1)
    y = min(max(np.float32(da + db), lo), hi)
    out[i] = np.uint8(np.int32(min(max(np.rint(np.float32(np.float64(y) * isc + ish)), np.float32(0.0)), top)))


@numba.njit(cache=True, nogil=True)
def _add_table(pa, pb, lo, hi, isc, ish, top):  # pragma: no cover (jit)
    """The result of _add_one for every pair of codes: table[a * 256 + b] (64 KiB, built once per
    layer). The formula is not vectorized by LLVM (~25 scalar instructions an element); one table
    load is a handful."""
    a = np.arange(256 * 256) // 256
    b = np.arange(256 * 256) % 256
    table = np.empty(256 * 256, np.uint8)
    for i in range(table.size):
        _add_one(i, a, b, pa[0], pa[1], pb[0], pb[1], lo, hi, isc, ish, top, table)
    return table


@numba.njit(cache=True, nogil=True)
def _add_lookup(a, b, table, out):  # pragma: no cover (jit)
    """out[i] = table[a[i] * 256 + b[i]]: _add_one through its table."""
    for i in range(np.uint64(a.size)):
        out[i] = table[(np.uint64(a[i]) << np.uint64(8)) | np.uint64(b[i])]


def _residual_table(pa, pb, clamp, requant) -> np.ndarray:
    """The table of _add_table for an INT8 Add's constants and attributes."""
    return _add_table(np.asarray(pa, np.float64), np.asarray(pb, np.float64), np.float32(clamp[0]),
                      np.float32(clamp[1]), float(requant[0]), float(requant[1]), np.float32(requant[2]))


def prepare_add_int8(pa, pb, *, clamp, requant):
    """``(a, b) -> codes`` for add_int8 with constant dequantization parameters: the table of every
    result, built at load time."""
    table = _residual_table(pa, pb, clamp, requant)

    def run(a, b, *_):
        out = np.empty(a.shape, np.uint8)
        _add_lookup(np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1), table, out.reshape(-1))
        return out
    return run


@kernel("Add", versions=(INT8,), impl="jit")
def add_int8(a, b, pa, pb, *, clamp: list[float], requant: list[float]):
    """Residual Add on u8 codes of equal shape: ``pa``/``pb`` are (scale, shift) of each input's
    dequantization; ``clamp`` the fused activation; ``requant`` (isc, ish, max code) the next FQ."""
    return prepare_add_int8(pa, pb, clamp=clamp, requant=requant)(a, b)


@specializer(add_int8)
def _prepare_add_int8(consts, **attrs):
    if consts[2] is None or consts[3] is None:
        return None
    return prepare_add_int8(consts[2], consts[3], **attrs)
