"""Integer kernels of the INT8 path: quantize, dequantize, u8 x s8 convolution and matrix product.

Activations travel as u8 codes ``k`` with a zero point ``z`` (real value ``(k - z) * s``); weights as
integer codes with a per-output-channel scale. Products accumulate exactly in int32: inputs are
widened to int16 ``(k - z)`` and multiplied with int16 weights (LLVM turns the dot products into
``vpmovsxbw``/``vpmaddwd``/``vpaddd``), never the saturating ``vpmaddubsw``, so results do not depend
on the CPU. The epilogue turns the accumulator into FP32 ``acc * scale[oc] + bias[oc]``, applies a
clamp (ReLU, ReLU6...) and, when the next layer takes INT8, requantizes to u8 on the spot.

Quantize followed by Dequantize is bit-identical to FakeQuantize (same float32/FMA arithmetic as
``kernels/fake_quantize.py``); the integer products are exact; what differs from the FP32 emulation
of the same IR is only the order of float rounding in the epilogue: at most one quantization step.
"""
from __future__ import annotations

import numba
import numpy as np

from irtool.runtime.kernels.conv import _to3, conv_out_shape, conv_pads
from irtool.runtime.registry import kernel

INT8 = "irtool-int8"  # the opset of irtool's internal INT8 layers (never written to a file)
_JIT = dict(parallel=True, cache=True, nogil=True)


# ------------------------------------------------------------------------------------------ quantize
def quantize_codes(x: np.ndarray, lo, hi, isc, ish) -> np.ndarray:
    """FakeQuantize's first half: ``rint(clip(x) * isc + ish)`` with one rounding (FMA), as u8."""
    y = np.clip(x.astype(np.float32, copy=False), lo, hi).astype(np.float64)
    return np.rint((y * isc + ish).astype(np.float32)).astype(np.uint8)


def dequantize_codes(k: np.ndarray, osc, osh) -> np.ndarray:
    """FakeQuantize's second half: ``k * osc + osh`` with one rounding (FMA), as float32."""
    return (k.astype(np.float64) * osc + osh).astype(np.float32)


@numba.njit(**_JIT)
def _quantize(x, lo, hi, isc, ish, out):  # pragma: no cover (jit)
    """One pass of quantize_codes over x [N, C, R] with per-channel (or broadcast) parameters."""
    N, C, R = x.shape
    for nc in numba.prange(N * C):
        n, c = nc // C, nc % C
        a, b, s, t = lo[c], hi[c], isc[c], ish[c]
        for r in range(R):
            v = min(max(x[n, c, r], a), b)
            out[n, c, r] = np.uint8(np.rint(np.float32(np.float64(v) * s + t)))


def _channel_params(v, x: np.ndarray, dtype) -> np.ndarray | None:
    """A quantization parameter as one value per channel (axis 1), or None if it varies otherwise."""
    v = np.asarray(v, dtype)
    C = x.shape[1] if x.ndim > 1 else 1
    if v.size == 1:
        return np.full(C, v.reshape(()), dtype)
    if x.ndim > 1 and v.size == C and v.ndim == x.ndim and v.shape[1] == C:
        return np.ascontiguousarray(v.reshape(C))
    return None


@kernel("Quantize", versions=(INT8,), impl="jit")
def quantize(x, lo, hi, isc, ish):
    params = [_channel_params(v, x, d) for v, d in ((lo, np.float32), (hi, np.float32), (isc, np.float64),
                                                     (ish, np.float64))]
    if x.dtype != np.float32 or x.ndim < 2 or any(p is None for p in params):
        return quantize_codes(x, lo, hi, isc, ish)
    x3 = np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)
    out = np.empty(x3.shape, np.uint8)
    _quantize(x3, *params, out)
    return out.reshape(x.shape)


@numba.njit(**_JIT)
def _dequantize(k, osc, osh, out):  # pragma: no cover (jit)
    N, C, R = k.shape
    for nc in numba.prange(N * C):
        n, c = nc // C, nc % C
        s, t = osc[c], osh[c]
        for r in range(R):
            out[n, c, r] = np.float32(np.float64(k[n, c, r]) * s + t)


@kernel("Dequantize", versions=(INT8,), impl="jit")
def dequantize(k, osc, osh):
    params = [_channel_params(v, k, np.float64) for v in (osc, osh)]
    if k.ndim < 2 or any(p is None for p in params):
        return dequantize_codes(k, osc, osh)
    k3 = np.ascontiguousarray(k).reshape(k.shape[0], k.shape[1], -1)
    out = np.empty(k3.shape, np.float32)
    _dequantize(k3, *params, out)
    return out.reshape(k.shape)


# ------------------------------------------------------------------------------------------ GEMM core
# The epilogue of every INT8 layer is one float64 table, a column per output channel:
SCALE, BIAS, LO, HI, ISC, ISH = range(6)  # y = clip(acc * scale + bias, lo, hi); q = rint(y * isc + ish)


def epilogue(n_out: int, scale, bias=None, lo=-np.inf, hi=np.inf, isc=0.0, ish=0.0) -> np.ndarray:
    """The [6, n_out] epilogue table; each entry a scalar or one value per output channel."""
    table = np.empty((6, n_out), np.float64)
    for row, v in zip(range(6), (scale, 0.0 if bias is None else bias, lo, hi, isc, ish)):
        table[row] = np.broadcast_to(np.asarray(v, np.float64).reshape(-1), (n_out,))
    return table


@numba.njit(inline="always")
def _store(acc, r, o, ch, ep, levels, channel_major, out_f, out_q):  # pragma: no cover (jit)
    """Epilogue of one accumulator of output channel ``ch``, stored at [r, o] (or [o, r] when
    ``channel_major``, as convolutions want it); requantized to u8 codes when ``levels`` > 0."""
    y = np.float32(np.float64(acc) * ep[0, ch] + ep[1, ch])
    y = min(max(y, np.float32(ep[2, ch])), np.float32(ep[3, ch]))
    if levels > 0:
        q = np.uint8(min(max(np.rint(np.float32(np.float64(y) * ep[4, ch] + ep[5, ch])), 0.0), levels - 1))
        if channel_major:
            out_q[o, r] = q
        else:
            out_q[r, o] = q
    elif channel_major:
        out_f[o, r] = y
    else:
        out_f[r, o] = y


@numba.njit(**_JIT)
def _gemm_rows(rows, w, ep, levels, channel_major, out_f, out_q):  # pragma: no cover (jit)
    """acc[r, o] = sum_k rows[r, k] * w[o, k], int16 x int16 -> exact int32, then the epilogue.

    Four rows at a time share each weight row loaded (register blocking); the k loops vectorize to
    vpmaddwd. A final partial block runs row by row."""
    R, K = rows.shape
    O = w.shape[0]
    for blk in numba.prange((R + 3) // 4):
        r0 = blk * 4
        if r0 + 4 <= R:
            a0, a1, a2, a3 = rows[r0], rows[r0 + 1], rows[r0 + 2], rows[r0 + 3]
            for o in range(O):
                wo = w[o]
                s0 = np.int32(0)
                s1 = np.int32(0)
                s2 = np.int32(0)
                s3 = np.int32(0)
                for k in range(K):
                    wk = np.int32(wo[k])
                    s0 = np.int32(s0 + np.int32(a0[k]) * wk)
                    s1 = np.int32(s1 + np.int32(a1[k]) * wk)
                    s2 = np.int32(s2 + np.int32(a2[k]) * wk)
                    s3 = np.int32(s3 + np.int32(a3[k]) * wk)
                _store(s0, r0, o, o, ep, levels, channel_major, out_f, out_q)
                _store(s1, r0 + 1, o, o, ep, levels, channel_major, out_f, out_q)
                _store(s2, r0 + 2, o, o, ep, levels, channel_major, out_f, out_q)
                _store(s3, r0 + 3, o, o, ep, levels, channel_major, out_f, out_q)
        else:
            for r in range(r0, R):
                for o in range(O):
                    acc = np.int32(0)
                    for k in range(K):
                        acc = np.int32(acc + np.int32(rows[r, k]) * np.int32(w[o, k]))
                    _store(acc, r, o, o, ep, levels, channel_major, out_f, out_q)


def _outputs(shape, levels: int):
    """(float output, u8 output): the one the epilogue writes has ``shape``, the other is a stub."""
    return (np.empty(shape if levels == 0 else (1, 1), np.float32),
            np.empty(shape if levels > 0 else (1, 1), np.uint8))


def gemm_int8(rows: np.ndarray, w: np.ndarray, ep: np.ndarray, levels: int = 0,
              channel_major: bool = False) -> np.ndarray:
    """``rows`` int16 [R, K] (activation codes minus zero point), ``w`` int16 [O, K] -> [R, O] (or
    [O, R] when ``channel_major``): the float32 epilogue, or u8 codes when ``levels`` > 0."""
    R, O = rows.shape[0], w.shape[0]
    out_f, out_q = _outputs((O, R) if channel_major else (R, O), levels)
    _gemm_rows(np.ascontiguousarray(rows), np.ascontiguousarray(w), np.ascontiguousarray(ep, np.float64),
               levels, channel_major, out_f, out_q)
    return out_q if levels else out_f


def gemm_int8_reference(rows, w, ep, levels=0, channel_major=False):
    acc = rows.astype(np.int64) @ w.astype(np.int64).T
    y = (acc.astype(np.float64) * ep[SCALE] + ep[BIAS]).astype(np.float32)
    y = np.minimum(np.maximum(y, ep[LO].astype(np.float32)), ep[HI].astype(np.float32))
    if levels:
        y = np.clip(np.rint((y.astype(np.float64) * ep[ISC] + ep[ISH]).astype(np.float32)), 0, levels - 1)
        y = y.astype(np.uint8)
    return np.ascontiguousarray(y.T) if channel_major else y


@numba.njit(**_JIT)
def _im2row(xp, kh, kw, sh, sw, dh, dw, Ho, Wo, cols):  # pragma: no cover (jit)
    """cols[oh*Wo + ow, (a, b, c)] = xp[oh*sh + a*dh, ow*sw + b*dw, c] from a zero-padded HWC input:
    channels innermost, so each (pixel, kernel row) is one contiguous run of kw*C values (dw == 1)."""
    Hp, Wp, C = xp.shape
    x = xp.ravel()
    run = kw * C
    for oh in numba.prange(Ho):
        for ow in range(Wo):
            dst = cols[oh * Wo + ow]
            for a in range(kh):
                base = ((oh * sh + a * dh) * Wp + ow * sw) * C
                if dw == 1:
                    for t in range(run):
                        dst[a * run + t] = x[base + t]
                else:
                    for b in range(kw):
                        src = base + b * dw * C
                        for c in range(C):
                            dst[a * run + b * C + c] = x[src + c]


# ------------------------------------------------------------------------------------------ layers
def _shifted(codes: np.ndarray, zero_point) -> np.ndarray:
    """Codes minus the zero point(s) (one, or one per channel along axis 1), as int16."""
    z = np.asarray(zero_point, np.int16)
    if z.size > 1:
        z = z.reshape((1, -1) + (1,) * (codes.ndim - 2))
    return codes.astype(np.int16) - z.reshape(z.shape if z.size > 1 else ())


@numba.njit(**_JIT)
def _to_hwc(k, z, ph, pw, out):  # pragma: no cover (jit)
    """out[h + ph, w + pw, c] = k[c, h, w] - z[c]: shifted codes, channels last, inside a zero border."""
    C, H, W = k.shape
    for h in numba.prange(H):
        for w in range(W):
            for c in range(C):
                out[h + ph, w + pw, c] = np.int16(k[c, h, w]) - z[c]


@kernel("Convolution", versions=(INT8,), impl="jit")
def convolution_int8(k, w, ep, *, zero_point: list[int], strides: list[int], dilations: list[int],
                     pads_begin: list[int], pads_end: list[int], auto_pad: str = "explicit", levels: int = 0):
    """u8 codes [N, C, (H,) W] x int16 weights [O, (kh,) kw, C] (channels last) -> f32 [N, O, ...]
    (or u8 when requantizing)."""
    N, C = k.shape[:2]
    in_sp, k_sp, O = k.shape[2:], w.shape[1:-1], w.shape[0]
    pb, pe = conv_pads(in_sp, k_sp, strides, dilations, pads_begin, pads_end, auto_pad)
    out_sp = conv_out_shape(in_sp, k_sp, strides, dilations, pb, pe)
    (_, Hk, Wk), (_, sh, sw), (_, dh, dw), (_, ph, pw), (_, qh, qw) = (
        _to3(v, d) for v, d in ((k_sp, 1), (strides, 1), (dilations, 1), (pb, 0), (pe, 0)))
    H, W = _to3(in_sp, 1)[1:]
    Ho, Wo = _to3(out_sp, 1)[1:]
    z = np.broadcast_to(np.asarray(zero_point, np.int16), (C,)).copy()
    wf = w.reshape(O, -1)
    codes = k.reshape(N, C, H, W)
    xp = np.zeros((H + ph + qh, W + pw + qw, C), np.int16)  # zero border: exact, codes are shifted
    cols = np.empty((Ho * Wo, C * Hk * Wk), np.int16)
    out = np.empty((N, O, *out_sp), np.float32 if levels == 0 else np.uint8)
    pointwise = Hk == Wk == 1 and sh == sw == 1 and not (ph or pw or qh or qw)
    for n in range(N):
        _to_hwc(codes[n], z, ph, pw, xp)
        if pointwise:  # a 1x1 convolution: the channels-last input already is the patch matrix
            cols = xp.reshape(H * W, C)
        else:
            _im2row(xp, Hk, Wk, sh, sw, dh, dw, Ho, Wo, cols)
        out[n] = gemm_int8(cols, wf, ep, levels, channel_major=True).reshape(O, *out_sp)
    return out


@numba.njit(**_JIT)
def _depthwise(xp, w, sh, sw, dh, dw, Ho, Wo, ep, levels, out_f, out_q):  # pragma: no cover (jit)
    """One channel per group: acc[c, oh, ow] = sum_ab xp[c, oh*sh + a*dh, ow*sw + b*dw] * w[c, a, b];
    the epilogue as in _gemm_rows (out_f/out_q are [C, Ho*Wo])."""
    C, kh, kw = w.shape
    for c in numba.prange(C):
        acc = np.zeros(Wo, np.int32)
        for oh in range(Ho):
            acc[:] = 0
            for a in range(kh):
                src = xp[c, oh * sh + a * dh]
                for b in range(kw):
                    wk = np.int32(w[c, a, b])
                    base = b * dw
                    if sw == 1:  # contiguous: the loop vectorizes
                        run = src[base: base + Wo]
                        for ow in range(Wo):
                            acc[ow] = np.int32(acc[ow] + np.int32(run[ow]) * wk)
                    else:
                        for ow in range(Wo):
                            acc[ow] = np.int32(acc[ow] + np.int32(src[base + ow * sw]) * wk)
            for ow in range(Wo):
                _store(acc[ow], c, oh * Wo + ow, c, ep, levels, False, out_f, out_q)


@kernel("GroupConvolution", versions=(INT8,), impl="jit")
def depthwise_int8(k, w, ep, *, zero_point: list[int], strides: list[int], dilations: list[int],
                   pads_begin: list[int], pads_end: list[int], auto_pad: str = "explicit", levels: int = 0):
    """Depthwise (one input channel per group) on u8 codes [N, C, (H,) W], int16 weights [C, (kh,) kw];
    the activation may be quantized per channel (one zero point each; ``scale`` folds both scales)."""
    N, C = k.shape[:2]
    in_sp, k_sp = k.shape[2:], w.shape[1:]
    pb, pe = conv_pads(in_sp, k_sp, strides, dilations, pads_begin, pads_end, auto_pad)
    out_sp = conv_out_shape(in_sp, k_sp, strides, dilations, pb, pe)
    (_, sh, sw), (_, dh, dw), (_, ph, pw), (_, qh, qw) = (_to3(v, d) for v, d in
                                                           ((strides, 1), (dilations, 1), (pb, 0), (pe, 0)))
    Ho, Wo = _to3(out_sp, 1)[1:]
    w3 = np.ascontiguousarray(w.reshape(C, *_to3(k_sp, 1)[1:]))
    x = _shifted(k, zero_point).reshape(N, C, *_to3(in_sp, 1)[1:])
    xp = np.pad(x, ((0, 0), (0, 0), (ph, qh), (pw, qw)))
    ep = np.ascontiguousarray(ep, np.float64)
    out_f = np.empty((N, C, Ho * Wo) if levels == 0 else (N, 1, 1), np.float32)
    out_q = np.empty((N, C, Ho * Wo) if levels > 0 else (N, 1, 1), np.uint8)
    for n in range(N):
        _depthwise(xp[n], w3, sh, sw, dh, dw, Ho, Wo, ep, levels, out_f[n], out_q[n])
    return (out_q if levels else out_f).reshape(N, C, *out_sp)


@kernel("MatMul", versions=(INT8,), impl="jit")
def matmul_int8(k, w, ep, *, zero_point: list[int], levels: int = 0):
    """u8 codes [..., K] x int16 weights [O, K] -> [..., O]."""
    lead = k.shape[:-1]
    rows = _shifted(k, zero_point[0]).reshape(-1, k.shape[-1])
    y = gemm_int8(rows, w, ep, levels)
    return y.reshape(*lead, w.shape[0])


@numba.njit(**_JIT)
def _add_codes(a, b, pa, pb, lo, hi, isc, ish, qmax, out):  # pragma: no cover (jit)
    """out = quantize(clip(dequantize(a) + dequantize(b))) element by element, each step rounded
    exactly as the separate Dequantize, Add, Clamp and Quantize layers round it."""
    for i in numba.prange(a.size):
        da = np.float32(np.float64(a[i]) * pa[0] + pa[1])
        db = np.float32(np.float64(b[i]) * pb[0] + pb[1])
        y = min(max(np.float32(da + db), lo), hi)
        out[i] = np.uint8(min(max(np.rint(np.float32(np.float64(y) * isc + ish)), 0.0), qmax))


@kernel("Add", versions=(INT8,), impl="jit")
def add_int8(a, b, pa, pb, *, clamp: list[float], requant: list[float]):
    """Residual Add on u8 codes of equal shape: ``pa``/``pb`` are (scale, shift) of each input's
    dequantization; ``clamp`` the fused activation; ``requant`` (isc, ish, max code) the next FQ."""
    out = np.empty(a.size, np.uint8)
    _add_codes(np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1), pa, pb,
               np.float32(clamp[0]), np.float32(clamp[1]), requant[0], requant[1], requant[2], out)
    return out.reshape(a.shape)


__all__ = ["INT8", "dequantize_codes", "epilogue", "gemm_int8", "gemm_int8_reference", "quantize_codes"]
