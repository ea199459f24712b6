"""INT8 Quantize and Dequantize: float32 -> u8 codes -> float32, per tensor or per channel.

Quantize followed by Dequantize is bit-identical to FakeQuantize (same float arithmetic as
``kernels/fake_quantize.py``): :func:`quantize_codes` and :func:`dequantize_codes` are the numpy
definitions (each one rounding, as an FMA), which the numba passes match bit for bit; a load-time
specializer flattens the parameters once per input shape, and small tensors stay on the calling thread.
Quantize may absorb a Multiply before it (lpt.fuse_scale, :func:`quantize_scaled_reference`). The
per-tensor loop (_quantize_plane) is also what a convolution runs on an input Quantize it absorbed
(int8_conv).
"""
from __future__ import annotations

import numba
import numpy as np

from irtool.runtime.kernels.int8_epilogue import INT8, _JIT
from irtool.runtime.registry import kernel, specializer


def quantize_codes(x: np.ndarray, lo, hi, isc, ish) -> np.ndarray:
    """FakeQuantize's first half: ``rint(clip(x) * isc + ish)`` with one rounding (FMA), as u8."""
    y = np.clip(x.astype(np.float32, copy=False), lo, hi).astype(np.float64)
    return np.rint((y * isc + ish).astype(np.float32)).astype(np.uint8)


def dequantize_codes(k: np.ndarray, osc, osh) -> np.ndarray:
    """FakeQuantize's second half: ``k * osc + osh`` with one rounding (FMA), as float32."""
    return (k.astype(np.float64) * osc + osh).astype(np.float32)


@numba.njit(inline="always")
def _quantize_plane(nc, C, R, src, lo, hi, isc, ish, dst):  # pragma: no cover (jit)
    """Plane ``nc`` (= n * C + c, R values) of _quantize on the flat arrays: one loop, the parameters
    in registers and unsigned offsets (no wraparound), which LLVM vectorizes."""
    c = nc % C
    a, b, s, t = lo[c % lo.size], hi[c % hi.size], isc[c % isc.size], ish[c % ish.size]
    base = np.uint64(nc * R)
    for r in range(np.uint64(R)):
        v = min(max(src[base + r], a), b)
        dst[base + r] = np.uint8(np.int32(np.rint(np.float32(np.float64(v) * s + t))))


@numba.njit(**_JIT)
def _quantize(x, lo, hi, isc, ish, out):  # pragma: no cover (jit)
    """One pass of quantize_codes over x [N, C, ...] (C-contiguous) with per-channel (or broadcast)
    parameters."""
    N, C = x.shape[0], x.shape[1]
    R = x.size // max(N * C, 1)
    src, dst = x.reshape(-1), out.reshape(-1)
    for nc in numba.prange(N * C):
        _quantize_plane(nc, C, R, src, lo, hi, isc, ish, dst)


@numba.njit(cache=True, nogil=True)
def _quantize_serial(x, lo, hi, isc, ish, out):  # pragma: no cover (jit)
    """_quantize on the calling thread (tensors under threads.SERIAL_BELOW: no parallel region);
    per-tensor parameters in one pass over all planes."""
    N, C = x.shape[0], x.shape[1]
    R = x.size // max(N * C, 1)
    src, dst = x.reshape(-1), out.reshape(-1)
    if lo.size == hi.size == isc.size == ish.size == 1:
        _quantize_plane(0, 1, N * C * R, src, lo, hi, isc, ish, dst)
        return
    for nc in range(N * C):
        _quantize_plane(nc, C, R, src, lo, hi, isc, ish, dst)


def _channel_params(v, x: np.ndarray, dtype) -> np.ndarray | None:
    """A quantization parameter as one value, or one per channel (axis 1), flat; None if it varies
    along another axis. The kernels read channel c's at [c % size]."""
    v = np.asarray(v, dtype)
    if v.size == 1:
        return v.reshape(1)
    if x.ndim > 1 and v.size == x.shape[1] and v.ndim == x.ndim and v.shape[1] == v.size:
        return np.ascontiguousarray(v.reshape(-1))
    return None


@numba.njit(cache=True, nogil=True)
def _quantize_scaled(x, m, lo, hi, isc, ish, out):  # pragma: no cover (jit)
    """quantize_codes(x * m) with per-tensor parameters, ``m`` float32 along the last axis: the
    product rounded to float32 as the separate Multiply rounds it, then the same steps as _quantize."""
    K = m.size
    src, dst = x.reshape(-1), out.reshape(-1)
    a, b, s, t = lo[0], hi[0], isc[0], ish[0]
    for row in range(x.size // K):
        base = np.uint64(row * K)
        for j in range(np.uint64(K)):
            v = min(max(np.float32(src[base + j] * m[j]), a), b)
            dst[base + j] = np.uint8(np.int32(np.rint(np.float32(np.float64(v) * s + t))))


def quantize_scaled_reference(x, lo, hi, isc, ish, m):
    """numpy: the Multiply, then quantize_codes."""
    return quantize_codes((x * np.asarray(m, np.float32)).astype(np.float32), lo, hi, isc, ish)


@kernel("Quantize", versions=(INT8,), impl="jit")
def quantize(x, lo, hi, isc, ish, scale=None):
    """FakeQuantize's first half (f32 -> u8 codes); with ``scale`` (float32 along the last axis, an
    absorbed Multiply, see lpt.fuse_scale) of ``x * scale``."""
    return prepare_quantize(lo, hi, isc, ish, scale)(x)


def prepare_quantize(lo, hi, isc, ish, scale=None):
    """``x -> u8 codes`` for constant parameters: checked and flattened once per input shape; small
    tensors on the calling thread."""
    if scale is not None:
        m = np.ascontiguousarray(np.asarray(scale, np.float32).reshape(-1))
        params = [np.asarray(v, d).reshape(1) for v, d in ((lo, np.float32), (hi, np.float32), (isc, np.float64),
                                                          (ish, np.float64))]

        def run_scaled(x, *_):
            if x.dtype != np.float32 or x.shape[-1] != m.size:
                return quantize_scaled_reference(x, lo, hi, isc, ish, m)
            out = np.empty(x.shape, np.uint8)
            _quantize_scaled(x if x.flags.c_contiguous else np.ascontiguousarray(x), m, *params, out)
            return out
        return run_scaled

    return _per_shape_pass(((lo, np.float32), (hi, np.float32), (isc, np.float64), (ish, np.float64)),
                           _quantize_serial, _quantize, np.float32, np.uint8,
                           lambda x: quantize_codes(x, lo, hi, isc, ish))


def _per_shape_pass(params, serial, parallel, in_dtype, out_dtype, reference):
    """``x -> y`` for a per-channel elementwise pass (Quantize, Dequantize): per input shape, its
    parameters checked and flattened once (_channel_params; ``params``: (value, dtype) pairs) and the
    kernel chosen (``serial`` below threads.SERIAL_BELOW elements, else ``parallel``), called as
    ``kernel(x, *flat params, out)``; other shapes, and inputs not of ``in_dtype`` (None: any), take
    ``reference(x)``."""
    from irtool.runtime.threads import SERIAL_BELOW

    plans: dict = {}

    def run(x, *_):  # the constant inputs again (the plugin passes every input)
        plan = plans.get(x.shape)
        if plan is None:
            flat = [_channel_params(v, x, d) for v, d in params]
            ok = x.ndim >= 2 and x.size > 0 and all(p is not None for p in flat)
            fn = serial if x.size < SERIAL_BELOW else parallel
            plan = plans[x.shape] = (flat, fn) if ok else None
        if plan is None or in_dtype is not None and x.dtype != in_dtype:
            return reference(x)
        flat, fn = plan
        out = np.empty(x.shape, out_dtype)
        fn(x if x.flags.c_contiguous else np.ascontiguousarray(x), *flat, out)
        return out
    return run


@specializer(quantize)
def _prepare_quantize(consts, **_):
    if any(c is None for c in consts[1:]):
        return None
    return prepare_quantize(*consts[1:])


@numba.njit(inline="always")
def _dequantize_plane(nc, C, R, src, osc, osh, dst):  # pragma: no cover (jit)
    """Plane ``nc`` of _dequantize on the flat arrays (vectorized as _quantize_plane)."""
    c = nc % C
    s, t = osc[c % osc.size], osh[c % osh.size]
    base = np.uint64(nc * R)
    for r in range(np.uint64(R)):
        dst[base + r] = np.float32(np.float64(src[base + r]) * s + t)


@numba.njit(**_JIT)
def _dequantize(k, osc, osh, out):  # pragma: no cover (jit)
    N, C = k.shape[0], k.shape[1]
    R = k.size // max(N * C, 1)
    src, dst = k.reshape(-1), out.reshape(-1)
    for nc in numba.prange(N * C):
        _dequantize_plane(nc, C, R, src, osc, osh, dst)


@numba.njit(cache=True, nogil=True)
def _dequantize_serial(k, osc, osh, out):  # pragma: no cover (jit)
    N, C = k.shape[0], k.shape[1]
    R = k.size // max(N * C, 1)
    src, dst = k.reshape(-1), out.reshape(-1)
    if osc.size == osh.size == 1:
        _dequantize_plane(0, 1, N * C * R, src, osc, osh, dst)
        return
    for nc in range(N * C):
        _dequantize_plane(nc, C, R, src, osc, osh, dst)


@kernel("Dequantize", versions=(INT8,), impl="jit")
def dequantize(k, osc, osh):
    return prepare_dequantize(osc, osh)(k)


def prepare_dequantize(osc, osh):
    """``codes -> float32`` for constant parameters (see prepare_quantize)."""
    return _per_shape_pass(((osc, np.float64), (osh, np.float64)), _dequantize_serial, _dequantize, None,
                           np.float32, lambda k: dequantize_codes(k, osc, osh))


@specializer(dequantize)
def _prepare_dequantize(consts, **_):
    if any(c is None for c in consts[1:]):
        return None
    return prepare_dequantize(*consts[1:])


__all__ = ["dequantize_codes", "quantize_codes"]
