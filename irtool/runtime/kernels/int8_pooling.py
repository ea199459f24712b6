"""INT8 pooling on u8 codes: ReduceMean over every spatial axis (a global average pool) and AvgPool.

Both sum the codes exactly (ReduceMean in int64; AvgPool ``code - z`` in float32, exact for windows of
up to 2^16 cells) and turn the sums into float32, or u8 codes, through the epilogue (int8_epilogue; per
channel for ReduceMean, one column for AvgPool); the numpy references (:func:`mean_int8_reference`,
:func:`avg_pool_int8_reference`) take the sums in int64.
"""
from __future__ import annotations

import numba
import numpy as np

from irtool.runtime.kernels._int8_bound import _STUB_F1, _STUB_Q1
from irtool.runtime.kernels.int8_epilogue import A, B, HI, INT8, LO, _ep_one, compose, epilogue_reference
from irtool.runtime.registry import kernel, specializer


# ------------------------------------------------------------------------------------------ ReduceMean
@numba.njit(cache=True, nogil=True)
def _mean_codes(k, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """out[n * C + c] = epilogue(sum of plane k[n, c]) (exact: u8 codes summed in int64)."""
    N, C = k.shape[0], k.shape[1]
    R = k.size // max(N * C, 1)
    src = k.reshape(-1)
    for nc in range(N * C):
        base = np.uint64(nc * R)
        acc = np.int64(0)
        for r in range(np.uint64(R)):
            acc += np.int64(src[base + r])
        _ep_one(acc, t, nc % C, levels, out_q, out_f, nc)


def mean_int8_reference(k: np.ndarray, ep: np.ndarray, levels: int = 0, keep_dims: bool = False) -> np.ndarray:
    """numpy: the exact sum of each plane of codes [N, C, ...], then the epilogue."""
    y = epilogue_reference(k.reshape(*k.shape[:2], -1).astype(np.int64).sum(axis=2), ep, levels)
    return y.reshape(*k.shape[:2], *([1] * (k.ndim - 2) if keep_dims else []))


@kernel("ReduceMean", versions=(INT8,), impl="jit")
def mean_int8(k, ep, *, keep_dims: bool = False, levels: int = 0):
    """Global average pool on u8 codes [N, C, ...] (every spatial axis): ``ep`` (an :func:`epilogue`
    table, scale = dequantization scale / plane size) turns each plane's exact sum into float32, or u8
    codes when ``levels`` > 0."""
    return prepare_mean_int8(ep, keep_dims=keep_dims, levels=levels)(k)


def prepare_mean_int8(ep, *, keep_dims=False, levels=0):
    t = compose(ep, levels)

    def run(k, *_):  # the constant inputs again (the plugin passes every input)
        out = np.empty((k.shape[0], k.shape[1], *([1] * (k.ndim - 2) if keep_dims else [])),
                       np.uint8 if levels else np.float32)
        flat = out.reshape(-1)
        _mean_codes(k if k.flags.c_contiguous else np.ascontiguousarray(k), t, levels,
                    flat if levels else _STUB_Q1, _STUB_F1 if levels else flat)
        return out
    return run


@specializer(mean_int8)
def _prepare_mean_int8(consts, **attrs):
    return None if consts[1] is None else prepare_mean_int8(consts[1], **attrs)


# ------------------------------------------------------------------------------------------ AvgPool
def _avg_pool_setup(shape, kernel_, strides, pads_begin, pads_end, exclude_pad, rounding_type, auto_pad):
    """(geometry of pooling.avg_pool, the divisor of each output position [out spatial])."""
    from irtool.runtime.kernels.pooling import _divisors, _geometry

    st, dil, pb, pe, out = _geometry(shape[2:], kernel_, strides, [], pads_begin, pads_end, auto_pad, rounding_type)
    divs = _divisors(shape[2:], kernel_, st, pb, pe, out, exclude_pad)
    div = divs[0].astype(np.float64)
    for d in divs[1:]:
        div = np.multiply.outer(div, d.astype(np.float64))
    return (st, dil, pb, pe, out), div


def _avg_pool_epilogue(sums: np.ndarray, div: np.ndarray, ep: np.ndarray, levels: int) -> np.ndarray:
    """The INT8 AvgPool's epilogue on exact window sums of ``code - z``: ``y = f32(sum) * A + B`` with
    ``A = f32(scale * isc / divisor)`` per output position (the other rows of :func:`compose`), then
    clamped, rounded to codes when ``levels`` > 0."""
    t = compose(ep, levels)
    with np.errstate(divide="ignore"):  # (a window of padding only: its divisor is 0, as in OpenVINO)
        a = (np.float64(t[A, 0]) / div).astype(np.float32)
    y = sums.astype(np.float32) * a + t[B, 0]
    if levels:
        return np.clip(np.rint(y), t[LO, 0], t[HI, 0]).astype(np.uint8)
    return np.minimum(np.maximum(y, t[LO, 0]), t[HI, 0])


@kernel("AvgPool", versions=(INT8,), impl="jit")
def avg_pool_int8(k, ep, *, kernel: list[int], strides: list[int], pads_begin: list[int] = (),
                  pads_end: list[int] = (), exclude_pad: bool = False, rounding_type: str = "floor",
                  auto_pad: str = "explicit", zero_point: list[int], levels: int = 0):
    """AvgPool on u8 codes ``k`` [N, C, (H,) W], per tensor: the exact sum of ``code - zero_point``
    over each window's cells inside the input (float32 holds them exactly: windows of up to 2^16
    cells), then ``sum * scale / divisor`` (the divisor as pooling.avg_pool counts it) through the
    one-column epilogue ``ep``, as u8 codes when ``levels`` > 0 (a Quantize absorbed)."""
    from irtool.runtime.kernels.pooling import _pool

    (st, dil, pb, pe, out), div = _avg_pool_setup(k.shape, kernel, strides, pads_begin, pads_end, exclude_pad,
                                                  rounding_type, auto_pad)
    ones = [np.ones(o, np.float32) for o in out]
    sums = _pool(k.astype(np.float32) - np.float32(zero_point[0]), kernel, st, dil, pb, pe, out, False, ones)[0]
    return _avg_pool_epilogue(sums, div, ep, levels)


def avg_pool_int8_reference(k, ep, *, kernel, strides, pads_begin, pads_end, exclude_pad=False,
                            rounding_type="floor", auto_pad="explicit", zero_point, levels=0):
    """avg_pool_int8 with the window sums taken in int64 by numpy."""
    (st, dil, pb, pe, out), div = _avg_pool_setup(k.shape, kernel, strides, pads_begin, pads_end, exclude_pad,
                                                  rounding_type, auto_pad)
    x = k.astype(np.int64) - zero_point[0]
    nsp = x.ndim - 2
    kd = [(kk - 1) * d + 1 for kk, d in zip(kernel, dil)]
    need = [(o - 1) * s + kk - b - n for o, s, kk, b, n in zip(out, st, kd, pb, x.shape[2:])]
    xp = np.pad(x, [(0, 0)] * 2 + [(b, max(e, 0)) for b, e in zip(pb, need)])
    win = np.lib.stride_tricks.sliding_window_view(xp, kd, axis=tuple(range(2, 2 + nsp)))
    win = win[(slice(None), slice(None), *(slice(0, o * s, s) for o, s in zip(out, st)),
               *(slice(None, None, d) for d in dil))]
    sums = win.reshape(*x.shape[:2], *out, -1).sum(-1)
    return _avg_pool_epilogue(sums, div, ep, levels)
