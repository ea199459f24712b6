"""Convolutions: Convolution, GroupConvolution, ConvolutionBackpropData, GroupConvolutionBackpropData (opset1).

Layout NC + 1 to 3 spatial dims. Every kernel runs on a 3-D spatial view (a 1-D conv is D=H=1, a 2-D
conv D=1), so one set of numba kernels serves 1-D, 2-D and 3-D alike.

Fast paths, f32 throughout (f64 stays f64; f16 computes in f32; integers take the exact reference):
- 2-D Convolution with constant weights (the models' case, specialized at load time): the direct FMA
  kernel of ``conv_direct.py``, which reads shifted windows of the (padded, stride-split) input in
  place, no patch matrix, on every core for layers worth it (``threads.PARALLEL_MACS``).
- Other Convolution / GroupConvolution with Cin/G > 1: a numba im2col (prange over (n, channel),
  contiguous inner copies) then one BLAS sgemm per sample and group through ``np.matmul``. A 1x1
  unpadded convolution skips im2col (the input is already the patch matrix; strides only subsample it).
- Cin/G == 1 (depthwise, any channel multiplier): a direct numba kernel, prange over (n, out channel),
  each a few long contiguous FMA passes over an L1-resident plane; small 2-D layers take serial
  variants specialized at load time. GroupConvolution is registered as ``jit``: in real models it is
  nearly always depthwise.
- ConvolutionBackpropData / GroupConvolutionBackpropData: GEMM ``W^T @ x`` (BLAS) to per-output-pixel
  contributions, then a numba col2im scatter-add (prange over (n, out channel): no write races).
  Registered as ``gemm_blas``.

Parallel numba kernels are compiled lazily on first use and cached (each costs ~180 ms to load at
start-up, only when a model uses it). Large batches run in chunks so that the im2col buffer stays
under ``_COLS_BYTES``.

Each op has a short numpy reference beside it (sliding window / scatter, accumulating in f64 or i64);
the tests hold the kernels to the references and to OpenVINO.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np

from irtool.errors import IRFormatError
from irtool.runtime.kernels._phases import FAST, _fill_phases, _plus_clamped, _zero, clamp
from irtool.runtime.kernels.conv_direct import direct_plan
from irtool.runtime.kernels.depthwise import stride_two_depthwise_plan
from irtool.runtime.registry import kernel, specializer

_COLS_BYTES = 64 << 20  # im2col buffer budget per chunk of the batch


# ------------------------------------------------------------------------------------------ geometry
def _mode(auto_pad: str) -> str:
    mode = (auto_pad or "explicit").lower()
    if mode not in ("explicit", "notset", "same_upper", "same_lower", "valid"):
        raise IRFormatError(f"auto_pad='{auto_pad}' is not one of explicit, same_upper, same_lower, valid, notset")
    return mode


def _per_axis(values, n: int, name: str, default: int) -> list[int]:
    if values is None or len(values) == 0:
        return [default] * n
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} values for {n} spatial dims")
    return [int(v) for v in values]


def conv_pads(in_sp, k_sp, strides, dilations, pads_begin, pads_end, auto_pad) -> tuple[list[int], list[int]]:
    """(pads_begin, pads_end) of a forward convolution as OpenVINO resolves them.

    same_upper / same_lower: output = ceil(in / stride); odd total padding puts the extra one at the
    end (same_upper) or the beginning (same_lower). valid: no padding. explicit/notset: as given.
    """
    n, mode = len(in_sp), _mode(auto_pad)
    if mode == "valid":
        return [0] * n, [0] * n
    if mode in ("same_upper", "same_lower"):
        pb, pe = [], []
        for i, k, s, d in zip(in_sp, k_sp, strides, dilations):
            total = max((-(-i // s) - 1) * s + (k - 1) * d + 1 - i, 0)
            pb.append(total // 2 if mode == "same_upper" else total - total // 2)
            pe.append(total - pb[-1])
        return pb, pe
    return _per_axis(pads_begin, n, "pads_begin", 0), _per_axis(pads_end, n, "pads_end", 0)


def conv_out_shape(in_sp, k_sp, strides, dilations, pb, pe) -> list[int]:
    out = [(i + b + e - d * (k - 1) - 1) // s + 1
           for i, k, s, d, b, e in zip(in_sp, k_sp, strides, dilations, pb, pe)]
    if min(out, default=1) < 1:
        raise ValueError(f"spatial input {list(in_sp)} is smaller than the dilated kernel {list(k_sp)}")
    return out


def backprop_geometry(in_sp, k_sp, strides, dilations, pads_begin, pads_end, auto_pad, output_padding,
                      output_shape) -> tuple[list[int], list[int]]:
    """(pads_begin, output spatial shape) of a transposed convolution, as OpenVINO's CPU plugin has them.

    Without ``output_shape``: auto_pad other than explicit means no padding, and
    ``out = s*(in-1) + d*(k-1) + 1 - pads_begin - pads_end + output_padding``.
    With it: same_upper/same_lower split ``total = max(s*(in-1) + d*(k-1) + 1 - out + output_padding, 0)``
    (the larger half at the beginning for same_upper, the smaller for same_lower, as the spec says); valid
    gives 0; explicit keeps ``pads_begin`` (the spec says the pads are then ignored, but the CPU plugin
    uses pads_begin and lets the end fall where ``output_shape`` puts it).
    """
    n, mode = len(in_sp), _mode(auto_pad)
    opad = _per_axis(output_padding, n, "output_padding", 0)
    full = [s * (i - 1) + d * (k - 1) + 1 for i, k, s, d in zip(in_sp, k_sp, strides, dilations)]
    explicit = mode in ("explicit", "notset")
    pb = _per_axis(pads_begin, n, "pads_begin", 0) if explicit else [0] * n
    if output_shape is None:
        pe = _per_axis(pads_end, n, "pads_end", 0) if explicit else [0] * n
        out = [f - b - e + p for f, b, e, p in zip(full, pb, pe, opad)]
    else:
        out = [int(v) for v in np.asarray(output_shape).reshape(-1)]
        if len(out) != n:
            raise ValueError(f"output_shape has {len(out)} values for {n} spatial dims")
        if mode in ("same_upper", "same_lower"):
            totals = [max(f - o + p, 0) for f, o, p in zip(full, out, opad)]
            pb = [t - t // 2 if mode == "same_upper" else t // 2 for t in totals]
    if min(out, default=1) < 1:
        raise ValueError(f"transposed convolution gives an empty output {out}")
    return pb, out


def _attrs(x_shape, w_k_sp, strides, dilations):
    n = len(x_shape) - 2
    if n < 1 or n > 3:
        raise ValueError(f"convolution input must have 1 to 3 spatial dims, got shape {list(x_shape)}")
    if len(w_k_sp) != n:
        raise ValueError(f"weights have {len(w_k_sp)} spatial dims, the input {n}")
    return _per_axis(strides, n, "strides", 1), _per_axis(dilations, n, "dilations", 1)


def _to3(values, fill):
    return [fill] * (3 - len(values)) + list(values)


def _compute_dtype(dtype: np.dtype):
    return np.float64 if dtype == np.float64 else np.float32


def _for_jit(a: np.ndarray, dtype) -> np.ndarray:
    """C-contiguous and writeable: numba types read-only arrays (IR constants) apart, one more compile each.
    (The checks by hand: ``np.require`` costs tens of microseconds per call.)"""
    if a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable:
        return a
    return np.array(a, dtype=dtype, order="C")


# ------------------------------------------------------------------------------------ numba kernels
# Each task (one sample and channel) first copies its plane, zero-padded, into a polyphase buffer:
# xq[z, q, p, i, j] = xpad[z, i*sh + q, j*sw + p]. Then every kernel tap (b, e) over the output window
# is a dense block of it, xq[z, (b*dh) % sh, (e*dw) % sw, oh + (b*dh)//sh, ow + (e*dw)//sw], whatever
# the strides: the inner loops are contiguous, carry no bounds logic and index from 0 (so numba drops
# its negative-index wraparound and LLVM vectorizes them).
_JIT = dict(parallel=True, cache=True, fastmath=FAST)


@numba.njit(inline="always")
def _polyphase(plane, pd, ph, pw, Dp, Hp, Wp, sh, sw):  # pragma: no cover (jit)
    """The polyphase buffer of ``plane`` padded by (pd, ph, pw) at the start, cropped to Dp x Hp x Wp."""
    D, H, W = plane.shape
    xq = np.zeros((Dp, sh, sw, (Hp + sh - 1) // sh, (Wp + sw - 1) // sw), plane.dtype)
    width = min(W, Wp - pw)
    for z in range(min(D, Dp - pd)):
        for y in range(min(H, Hp - ph)):
            src = plane[z, y]
            q, i = (y + ph) % sh, (y + ph) // sh
            for p in range(sw):  # phase p holds input columns c0, c0 + sw, ... (c0 + pw = p mod sw)
                c0 = (p - pw) % sw
                row, part = xq[z + pd, q, p, i, (c0 + pw) // sw:], src[c0:]
                if sw == 1:
                    for t in range(width):
                        row[t] = part[t]
                else:
                    for t in range(max(0, (width - c0 + sw - 1) // sw)):
                        row[t] = part[t * sw]
    return xq


@numba.njit(**_JIT)
def _im2col(x, kd, kh, kw, sd, sh, sw, dd, dh, dw, pd, ph, pw, Do, Ho, Wo, cols):  # pragma: no cover (jit)
    """cols[n, (c, a, b, e), (od, oh, ow)] = xpad[n, c, od*sd + a*dd, oh*sh + b*dh, ow*sw + e*dw]."""
    N, C = x.shape[0], x.shape[1]
    Dp, Hp, Wp = (Do - 1) * sd + (kd - 1) * dd + 1, (Ho - 1) * sh + (kh - 1) * dh + 1, (Wo - 1) * sw + (kw - 1) * dw + 1
    kvol = kd * kh * kw
    for r in numba.prange(N * C):
        n = r // C
        c = r - n * C
        xq = _polyphase(x[n, c], pd, ph, pw, Dp, Hp, Wp, sh, sw)
        for kk in range(kvol):
            a, b, e = kk // (kh * kw), (kk // kw) % kh, kk % kw
            q, bi, p, ej = (b * dh) % sh, (b * dh) // sh, (e * dw) % sw, (e * dw) // sw
            dst = cols[n, c * kvol + kk]
            for od in range(Do):
                for oh in range(Ho):
                    src = xq[od * sd + a * dd, q, p, oh + bi, ej:]
                    row = dst[(od * Ho + oh) * Wo:]
                    for ox in range(Wo):
                        row[ox] = src[ox]


@numba.njit(**_JIT)
def _depthwise(x, w, mult, sd, sh, sw, dd, dh, dw, pd, ph, pw, y):  # pragma: no cover (jit)
    """y[n, oc] = sum_k w[oc, k] * xpad[n, oc // mult, p*s + k*d]: one input channel per output channel.

    Each tap is one contiguous pass over the whole output plane laid at the buffer's row pitch Wq (the
    Wq - Wo columns past each row are scratch, dropped when copying out); taps go three to a pass.
    """
    N, O, Do, Ho, Wo = y.shape
    kd, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    Dp, Hp, Wp = (Do - 1) * sd + (kd - 1) * dd + 1, (Ho - 1) * sh + (kh - 1) * dh + 1, (Wo - 1) * sw + (kw - 1) * dw + 1
    Hq, Wq = (Hp + sh - 1) // sh, (Wp + sw - 1) // sw
    L = (Ho - 1) * Wq + Wo
    for r in numba.prange(N * O):
        n = r // O
        oc = r - n * O
        xq = _polyphase(x[n, oc // mult], pd, ph, pw, Dp, Hp, Wp, sh, sw)
        flat = np.empty(L, y.dtype)
        for od in range(Do):
            flat[:] = 0
            for a in range(kd):
                z = od * sd + a * dd
                for b in range(kh):
                    q, bi = (b * dh) % sh, (b * dh) // sh
                    e = 0
                    while e + 3 <= kw:
                        w0, w1, w2 = w[oc, a, b, e], w[oc, a, b, e + 1], w[oc, a, b, e + 2]
                        s0 = xq[z, q, (e * dw) % sw].reshape(Hq * Wq)[bi * Wq + (e * dw) // sw:]
                        s1 = xq[z, q, ((e + 1) * dw) % sw].reshape(Hq * Wq)[bi * Wq + ((e + 1) * dw) // sw:]
                        s2 = xq[z, q, ((e + 2) * dw) % sw].reshape(Hq * Wq)[bi * Wq + ((e + 2) * dw) // sw:]
                        for t in range(L):
                            flat[t] += w0 * s0[t] + w1 * s1[t] + w2 * s2[t]
                        e += 3
                    for e in range(e, kw):
                        wv = w[oc, a, b, e]
                        src = xq[z, q, (e * dw) % sw].reshape(Hq * Wq)[bi * Wq + (e * dw) // sw:]
                        for t in range(L):
                            flat[t] += wv * src[t]
            out = y[n, oc, od]
            for oh in range(Ho):
                for ox in range(Wo):
                    out[oh, ox] = flat[oh * Wq + ox]


@numba.njit(**_JIT)
def _col2im(cols, kd, kh, kw, Di, Hi, Wi, sd, sh, sw, dd, dh, dw, pd, ph, pw, y):  # pragma: no cover (jit)
    """y[n, oc, i*s + k*d - pad] += cols[n, (oc, k), i]: the scatter half of a transposed convolution."""
    N, O, Do, Ho, Wo = y.shape
    Dp = max((Di - 1) * sd + (kd - 1) * dd + 1, pd + Do)
    Hp = max((Hi - 1) * sh + (kh - 1) * dh + 1, ph + Ho)
    Wp = max((Wi - 1) * sw + (kw - 1) * dw + 1, pw + Wo)
    kvol = kd * kh * kw
    for r in numba.prange(N * O):
        n = r // O
        oc = r - n * O
        yp = np.zeros((Dp, Hp, Wp), y.dtype)  # the full, uncropped output plane
        for kk in range(kvol):
            a = kk // (kh * kw)
            b = (kk // kw) % kh
            e = kk % kw
            src = cols[n, oc * kvol + kk]
            for iz in range(Di):
                for iy in range(Hi):
                    dst = yp[iz * sd + a * dd, iy * sh + b * dh, e * dw:]
                    row = src[(iz * Hi + iy) * Wi:]
                    if sw == 1:
                        for ix in range(Wi):
                            dst[ix] += row[ix]
                    else:
                        for ix in range(Wi):
                            dst[ix * sw] += row[ix]
        y[n, oc] = yp[pd:pd + Do, ph:ph + Ho, pw:pw + Wo]


# Serial kernels of the load-time specialized 2-D convolutions (``prepare_convolution``): layers small
# enough to run on one thread (see threads.SERIAL_BELOW), bias and clamp fused into the pass that
# writes the output, no allocation per channel.
_SERIAL = dict(cache=True, fastmath=FAST)


@numba.njit(**_SERIAL)
def _im2col_pitched(x, kh, kw, dh, dw, ph, pw, Ho, Wo, xq, cols):  # pragma: no cover (jit)
    """cols[(c, b, e), oh*Wq + j] = xpad[c, oh*sh + b*dh, j*sw + e*dw] at the polyphase row pitch Wq:
    each row is one contiguous copy out of xq (scratch [sh, sw, Hq, Wq]); columns j >= Wo are scratch
    that the epilogue drops."""
    C = x.shape[0]
    sh, sw, Hq, Wq = xq.shape
    Hp, Wp = (Ho - 1) * sh + (kh - 1) * dh + 1, (Wo - 1) * sw + (kw - 1) * dw + 1
    L = Ho * Wq
    flat = xq.reshape(sh * sw * Hq * Wq)
    _zero(xq)
    for c in range(C):
        _fill_phases(x[c], ph, pw, Hp, Wp, xq)
        for b in range(kh):
            q, bi = (b * dh) % sh, (b * dh) // sh
            for e in range(kw):
                base = ((q * sw + (e * dw) % sw) * Hq + bi) * Wq + (e * dw) // sw
                src, dst = flat[base:base + L], cols[(c * kh + b) * kw + e]
                for t in range(L):  # (a slice assignment would check overlap and run 3x slower)
                    dst[t] = src[t]


@numba.njit(cache=True)
def _bias_clamp(src, Wq, bias, has_bias, lo, hi, y):  # pragma: no cover (jit)
    """y[o, oh, ow] = clamp(src[o, oh*Wq + ow] (+ bias[o]), lo, hi): the float operations of the separate
    Add and ReLU/Clamp layers (NaN -> lo, as OpenVINO's ReLU/Clamp give); src may alias y."""
    O, Ho, Wo = y.shape
    for o in range(O):
        b = bias[o]
        for oh in range(Ho):
            row = src[o, oh * Wq:]
            out = y[o, oh]
            for ow in range(Wo):
                out[ow] = _plus_clamped(row[ow], b, has_bias, lo, hi)


@numba.njit(cache=True)
def _bias_clamp_inplace(y, bias, has_bias, lo, hi):  # pragma: no cover (jit)
    """_bias_clamp on y [O, P] in place: one array read and written at the same index vectorizes, where
    _bias_clamp with src aliasing y fails LLVM's overlap check and runs its scalar loop."""
    O, P = y.shape
    for o in range(O):
        b, row = bias[o], y[o]
        for t in range(P):
            row[t] = _plus_clamped(row[t], b, has_bias, lo, hi)


@numba.njit(cache=True)
def _bias_residual_clamp(y, bias, res, lo, hi):  # pragma: no cover (jit)
    """y[o, t] = clamp((y[o, t] + bias[o]) + res[o, t], lo, hi) in place: the bias Add, the residual Add
    and the activation of the unfused layers, in their order."""
    O, P = y.shape
    for o in range(O):
        b, row, r = bias[o], y[o], res[o]
        for t in range(P):
            row[t] = _plus_clamped(row[t] + b, r[t], True, lo, hi)


@numba.njit(**_SERIAL)
def _depthwise_fused(x, w, mult, dh, dw, ph, pw, bias, lo, hi, xq, flat, y):  # pragma: no cover (jit)
    """_depthwise for one sample of a 2-D layer, on the calling thread, then ``clamp(acc + bias)`` in the
    copy-out (bias -0.0 for none: x + -0.0 == x for every x); scratch xq [sh, sw, Hq, Wq] and flat
    come from the caller."""
    O, Ho, Wo = y.shape
    kh, kw = w.shape[1], w.shape[2]
    sh, sw, Hq, Wq = xq.shape
    Hp, Wp = (Ho - 1) * sh + (kh - 1) * dh + 1, (Wo - 1) * sw + (kw - 1) * dw + 1
    L = (Ho - 1) * Wq + Wo
    xf = xq.reshape(xq.size)
    _zero(xq)
    for oc in range(O):
        if oc % mult == 0:
            _fill_phases(x[oc // mult], ph, pw, Hp, Wp, xq)
        for t in range(L):
            flat[t] = 0
        for b in range(kh):
            q, bi = (b * dh) % sh, (b * dh) // sh
            e = 0
            while e + 3 <= kw:
                w0, w1, w2 = w[oc, b, e], w[oc, b, e + 1], w[oc, b, e + 2]
                o0 = (q * sw + (e * dw) % sw) * Hq * Wq + bi * Wq + (e * dw) // sw
                o1 = (q * sw + ((e + 1) * dw) % sw) * Hq * Wq + bi * Wq + ((e + 1) * dw) // sw
                o2 = (q * sw + ((e + 2) * dw) % sw) * Hq * Wq + bi * Wq + ((e + 2) * dw) // sw
                s0, s1, s2 = xf[o0:o0 + L], xf[o1:o1 + L], xf[o2:o2 + L]
                for t in range(L):
                    flat[t] += w0 * s0[t] + w1 * s1[t] + w2 * s2[t]
                e += 3
            for e in range(e, kw):
                wv = w[oc, b, e]
                o0 = (q * sw + (e * dw) % sw) * Hq * Wq + bi * Wq + (e * dw) // sw
                src = xf[o0:o0 + L]
                for t in range(L):
                    flat[t] += wv * src[t]
        bo = bias[oc]
        for oh in range(Ho):
            src, out = flat[oh * Wq:oh * Wq + Wo], y[oc, oh]
            for ow in range(Wo):
                v = src[ow] + bo
                out[ow] = clamp(v, lo, hi)


@numba.njit(**_SERIAL)
def _depthwise_same(x, w, mult, dh, dw, ph, pw, G, keep, bias, lo, hi, bufs, y):  # pragma: no cover (jit)
    """_depthwise_fused for stride 1 and an output as wide as the input, without the padded copy's row
    pitch: one buffer per kernel column e holds the plane at offset ``ph*W + pw - e*dw + G``, rows of
    zeros above and below, and zeros in place of the columns that tap column reads across a row's
    edge (the previous row's last ones, or the next row's first: ``keep[e]`` says which stay). Then
    tap (b, e) of output pixel t is ``bufs[e, t + b*dh*W + G]`` for every t: each output plane is one
    flat pass, written directly. bufs [kw, S] comes zeroed from the caller, and only its data cells
    are written; G >= (kw-1)*dw keeps every offset >= 0. Unsigned flat offsets: no views per channel
    (two reference-count calls each), no wraparound checks."""
    O, Ho, W = y.shape
    H = x.shape[1]
    kh, kw = w.shape[1], w.shape[2]
    L, HW, S = Ho * W, H * W, bufs.shape[1]
    buf, yf, xf = bufs.reshape(bufs.size), y.reshape(y.size), x.reshape(x.size)
    for oc in range(O):
        if oc % mult == 0:
            s0 = np.uint64(oc // mult * HW)
            for e in range(kw):
                d0, ke = np.uint64(e * S + ph * W - (e * dw - pw) + G), keep[e]
                for t in range(np.uint64(HW)):
                    v = xf[s0 + t]  # loaded unconditionally: a select, not a masked load
                    buf[d0 + t] = v if ke[t] else np.float32(0)
        d, bo = np.uint64(oc * L), bias[oc]
        if kh == 3 and kw == 3:
            r0, r1, r2 = G, dh * W + G, 2 * dh * W + G
            i00, i01, i02 = np.uint64(r0), np.uint64(S + r0), np.uint64(2 * S + r0)
            i10, i11, i12 = np.uint64(r1), np.uint64(S + r1), np.uint64(2 * S + r1)
            i20, i21, i22 = np.uint64(r2), np.uint64(S + r2), np.uint64(2 * S + r2)
            w00, w01, w02, w10, w11 = w[oc, 0, 0], w[oc, 0, 1], w[oc, 0, 2], w[oc, 1, 0], w[oc, 1, 1]
            w12, w20, w21, w22 = w[oc, 1, 2], w[oc, 2, 0], w[oc, 2, 1], w[oc, 2, 2]
            for t in range(np.uint64(L)):  # three chains of FMAs (one of nine is latency-bound)
                a = w00 * buf[i00 + t] + w01 * buf[i01 + t] + w02 * buf[i02 + t]
                b = w10 * buf[i10 + t] + w11 * buf[i11 + t] + w12 * buf[i12 + t]
                c = w20 * buf[i20 + t] + w21 * buf[i21 + t] + w22 * buf[i22 + t]
                yf[d + t] = clamp(a + b + c + bo, lo, hi)
        else:
            out = y[oc].reshape(L)
            for t in range(L):
                out[t] = 0
            for b in range(kh):
                for e in range(kw):
                    wv, src = w[oc, b, e], bufs[e, b * dh * W + G:b * dh * W + G + L]
                    for t in range(L):
                        out[t] += wv * src[t]
            for t in range(L):
                out[t] = clamp(out[t] + bo, lo, hi)


@numba.njit(**_SERIAL)
def _depthwise_s2(x, w, mult, ph, pw, bias, lo, hi, acc, y):  # pragma: no cover (jit)
    """_depthwise_fused for a 3x3 kernel at stride 2, dilation 1, read straight from the input rows: no
    polyphase copy, whose per-row cost dominates small planes (measured on the 2-core target, 128x8x8
    and 96x16x16 inputs: 16 / 29 us against 29 / 38 us; at 64x32x32 80 against 55, so up to 8 output
    columns). Rows outside the input add nothing; acc [Wo]."""
    O, Ho, Wo = y.shape
    H, W = x.shape[1], x.shape[2]
    o0 = min(Wo, (pw + 1) // 2)  # the first column whose three taps are all inside the row
    o1 = max(o0, min(Wo, (W - 3 + pw) // 2 + 1))  # past the last one
    for oc in range(O):
        plane, bo = x[oc // mult], bias[oc]
        for oh in range(Ho):
            for t in range(Wo):
                acc[t] = 0
            for b in range(3):
                ih = oh * 2 + b - ph
                if ih < 0 or ih >= H:
                    continue
                src, w0, w1, w2 = plane[ih], w[oc, b, 0], w[oc, b, 1], w[oc, b, 2]
                # slices from the first inside column: indices provably >= 0, so numba drops its
                # negative-index checks and LLVM vectorizes the stride-2 reads (interleaved loads)
                run, part = src[o0 * 2 - pw:], acc[o0:o1]
                for j in range(o1 - o0):
                    part[j] += w0 * run[2 * j] + w1 * run[2 * j + 1] + w2 * run[2 * j + 2]
                for ow in range(o0):  # the edges, tap by tap
                    for e in range(3):
                        i = ow * 2 - pw + e
                        if 0 <= i < W:
                            acc[ow] += w[oc, b, e] * src[i]
                for ow in range(o1, Wo):
                    for e in range(3):
                        i = ow * 2 - pw + e
                        if 0 <= i < W:
                            acc[ow] += w[oc, b, e] * src[i]
            out = y[oc, oh]
            for t in range(Wo):
                out[t] = clamp(acc[t] + bo, lo, hi)


# ----------------------------------------------------------------------------------- forward conv
def convolution_reference(x, w, *, strides, dilations, pads_begin=None, pads_end=None, auto_pad="explicit",
                          groups=1):
    """Direct sliding window: ``y[n, g*Og+o, p] = sum_{c,k} w[g*Og+o, c, k] * xpad[n, g*Cg+c, p*s + k*d]``.

    ``w`` is [Cout, Cin/groups, k...]; f64 (i64 for integers) accumulation, the input's type out.
    """
    strides, dilations = _attrs(x.shape, w.shape[2:], strides, dilations)
    k_sp, sp = w.shape[2:], x.ndim - 2
    pb, pe = conv_pads(x.shape[2:], k_sp, strides, dilations, pads_begin, pads_end, auto_pad)
    out = conv_out_shape(x.shape[2:], k_sp, strides, dilations, pb, pe)
    acc = np.int64 if x.dtype.kind in "iub" else np.float64
    xp = np.pad(x.astype(acc), [(0, 0), (0, 0), *zip(pb, pe)])
    (N, C), O = x.shape[:2], w.shape[0]
    xg = xp.reshape(N, groups, C // groups, *xp.shape[2:])
    wg = w.astype(acc).reshape(groups, O // groups, C // groups, *k_sp)
    y = np.zeros((N, groups, O // groups, *out), acc)
    for k in np.ndindex(*k_sp):
        win = tuple(slice(k[i] * dilations[i], k[i] * dilations[i] + strides[i] * (out[i] - 1) + 1, strides[i])
                    for i in range(sp))
        y += np.einsum("ngc...,goc->ngo...", xg[(..., *win)], wg[(..., *k)])
    return y.reshape(N, O, *out).astype(x.dtype)


def group_convolution_reference(x, w, **attrs):
    """GroupConvolution: ``w`` is [G, Cout/G, Cin/G, k...]."""
    return convolution_reference(x, w.reshape(-1, *w.shape[2:]), groups=w.shape[0], **attrs)


@functools.lru_cache(maxsize=1024)
def _conv_geometry(x_shape, w_shape, groups, strides, dilations, pads_begin, pads_end, auto_pad):
    """Everything about a forward convolution that depends only on shapes and attributes, computed
    once per layer shape instead of at every call (this is most of a small layer's overhead)."""
    strides, dilations = _attrs(x_shape, w_shape[2:], strides, dilations)
    (N, C), O, Cg = x_shape[:2], w_shape[0], w_shape[1]
    if C != Cg * groups or O % groups:
        raise ValueError(f"input has {C} channels, weights {list(w_shape)} expect {Cg * groups} in {groups} groups")
    in_sp, k_sp = x_shape[2:], w_shape[2:]
    pb, pe = conv_pads(in_sp, k_sp, strides, dilations, pads_begin, pads_end, auto_pad)
    out_sp = tuple(conv_out_shape(in_sp, k_sp, strides, dilations, pb, pe))
    k3, s3, d3 = _to3(k_sp, 1), _to3(strides, 1), _to3(dilations, 1)
    return (strides, dilations, N, C, O, Cg, in_sp, out_sp, pb, pe, tuple(k3), tuple(s3), tuple(d3),
            tuple(_to3(pb, 0)), tuple(_to3(out_sp, 1)), math.prod(_to3(out_sp, 1)), math.prod(k3))


def _tuple(v):
    return None if v is None else tuple(int(i) for i in v)


def _convolution(x, w, groups, strides, dilations, pads_begin, pads_end, auto_pad):
    x, w = np.asarray(x), np.asarray(w)
    (strides, dilations, N, C, O, Cg, in_sp, out_sp, pb, pe, k3, s3, d3, pb3, out3, P, kvol) = _conv_geometry(
        x.shape, w.shape, groups, _tuple(strides), _tuple(dilations), _tuple(pads_begin), _tuple(pads_end), auto_pad)
    if x.dtype.kind in "iub":  # exact integer arithmetic, no fast path needed
        return convolution_reference(x, w, strides=strides, dilations=dilations, pads_begin=pads_begin,
                                     pads_end=pads_end, auto_pad=auto_pad, groups=groups)
    dt = _compute_dtype(x.dtype)
    x5 = _for_jit(x.reshape(N, C, *_to3(in_sp, 1)), dt)

    if Cg == 1 and groups > 1:  # depthwise (any channel multiplier): direct kernel
        y = np.empty((N, O, *out3), dt)
        w4 = _for_jit(w.reshape(O, *k3), dt)
        _depthwise(x5, w4, O // C, *s3, *d3, *pb3, y)
        return y.reshape(N, O, *out_sp).astype(x.dtype, copy=False)

    wm = np.ascontiguousarray(w.reshape(groups, O // groups, Cg * kvol), dtype=dt)
    if kvol == 1 and not any(pb) and not any(pe):  # 1x1: the (subsampled) input is the patch matrix
        cols = x5[:, :, ::s3[0], ::s3[1], ::s3[2]].reshape(N, groups, Cg, P)
        return np.matmul(wm, cols).reshape(N, O, *out_sp).astype(x.dtype, copy=False)
    y = np.empty((N, groups, O // groups, P), dt)
    chunk = max(1, min(N, _COLS_BYTES // max(1, C * kvol * P * x5.itemsize)))
    cols = np.empty((chunk, C * kvol, P), dt)
    for n0 in range(0, N, chunk):
        n1 = min(N, n0 + chunk)
        buf = cols[: n1 - n0]
        _im2col(x5[n0:n1], *k3, *s3, *d3, *pb3, *out3, buf)
        np.matmul(wm, buf.reshape(n1 - n0, groups, Cg * kvol, P), out=y[n0:n1])
    return y.reshape(N, O, *out_sp).astype(x.dtype, copy=False)


@kernel("Convolution", versions=("opset1",), impl="jit")
def convolution(x, w, *, strides: list[int], dilations: list[int], pads_begin: list[int] | None = None,
                pads_end: list[int] | None = None, auto_pad: str = "explicit"):
    return _convolution(x, w, 1, strides, dilations, pads_begin, pads_end, auto_pad)


@kernel("GroupConvolution", versions=("opset1",), impl="jit")
def group_convolution(x, w, *, strides: list[int], dilations: list[int], pads_begin: list[int] | None = None,
                      pads_end: list[int] | None = None, auto_pad: str = "explicit"):
    w = np.asarray(w)
    return _convolution(x, w.reshape(-1, *w.shape[2:]), w.shape[0], strides, dilations, pads_begin, pads_end,
                        auto_pad)


# ------------------------------------------------------------------------- load-time specialization
def _channel_bias(bias, O: int) -> np.ndarray | None:
    """A constant addend as one float32 per output channel, or None if it varies along other axes."""
    b = np.asarray(bias)
    if b.dtype != np.float32 or b.size != O or (b.ndim >= 3 and b.shape[-3] != O) or b.ndim > 4:
        return None
    return np.ascontiguousarray(b.reshape(O))


def prepare_convolution(consts, grouped: bool, fallback, *, strides, dilations, pads_begin=None, pads_end=None,
                        auto_pad="explicit", clamp=None):
    """``(x, w[, bias[, residual]]) -> y`` for a 2-D float32 convolution with constant weights (and
    per-channel bias; a residual tensor added after it), then ``clamp``: geometry and weight layout
    computed once per input shape; the direct FMA kernel, or for small depthwise layers the serial
    kernels above; anything else goes to ``fallback``.

    Results are those of the generic kernel followed by numpy's Adds and clip, up to the order of the
    float additions inside the convolution; the bias, residual and clamp are the same float operations
    in the same order.
    """
    from irtool.runtime.threads import SERIAL_BELOW

    w = consts[1]
    residual = len(consts) > 3
    if w is None or np.asarray(w).dtype != np.float32 or any(c is None for c in consts[2:3]) or grouped and residual:
        return None
    w = np.asarray(w)
    groups = w.shape[0] if grouped else 1
    w = w.reshape(-1, *w.shape[2:]) if grouped else w
    if w.ndim != 4:
        return None
    O = w.shape[0]
    bias = _channel_bias(consts[2], O) if len(consts) > 2 else np.zeros(O, np.float32)
    if bias is None:
        return None
    has_bias = len(consts) > 2
    dw_bias = bias if has_bias else np.full(O, -0.0, np.float32)  # x + -0.0 == x, -0.0 included
    inf = np.float32(np.inf)
    clo, chi = (np.float32(clamp[0]), np.float32(clamp[1])) if clamp else (-inf, inf)
    lo, hi = (-inf, inf) if residual else (clo, chi)  # with a residual, the clamp comes after adding it
    attrs = (groups, _tuple(strides), _tuple(dilations), _tuple(pads_begin), _tuple(pads_end), auto_pad)
    plans: dict = {}  # input shape -> (plan or None, output shape)

    def plan_for(shape):
        (_, _, N, C, O_, Cg, in_sp, out_sp, pb, pe, k3, s3, d3, pb3, out3, P, kvol) = _conv_geometry(
            shape, w.shape, *attrs)
        (_, kh, kw), (_, sh, sw), (_, dh, dw), (_, ph, pw), (_, Ho, Wo) = k3, s3, d3, pb3, out3
        pointwise_layer = kvol == 1 and not any(pb) and not any(pe)
        # one input channel at stride 1 (a first layer on a grey image): the depthwise kernels, each
        # output channel a multiple of the one plane (1->16 3x3 on 32x32: 13 -> 9 us; at stride 2 the
        # direct kernel stays faster)
        single = groups == 1 and C == 1 and kvol > 1 and sh == sw == 1
        # 1x1 layers: the direct kernel up to 32x32 (its epilogue fused, no separate bias pass: 4x4
        # planes 30% faster than BLAS, 8x8 to 32x32 5-15%), BLAS on larger planes
        if groups == 1 and not single and (not pointwise_layer or Ho * Wo <= 1024):
            direct = direct_plan(w, dw_bias, clo, chi, C, in_sp[0], in_sp[1], (sh, sw), (dh, dw), (ph, pw), (Ho, Wo))
            if direct is not None:
                return direct
        if math.prod(shape) >= SERIAL_BELOW or (groups > 1 and Cg != 1):
            return None
        Hp, Wp = (Ho - 1) * sh + (kh - 1) * dh + 1, (Wo - 1) * sw + (kw - 1) * dw + 1
        Wq = -(-Wp // sw)
        if groups > 1 or single:  # depthwise
            Hq = -(-Hp // sh)
            w3 = np.ascontiguousarray(w.reshape(O, kh, kw))
            mult = O // C
            if sh == sw == 1 and Wo == in_sp[1]:  # 'same' width: flat passes, no row pitch
                G = (kw - 1) * dw
                S = max((Ho + (kh - 1) * dh) * Wo, (in_sp[0] + ph) * Wo + pw) + G
                col = np.arange(in_sp[0] * Wo) % Wo  # tap column e reads input column ow + e*dw - pw
                keep = np.stack([(col >= e * dw - pw) & (col < Wo + e * dw - pw) for e in range(kw)]).astype(np.uint8)
                pool: list[np.ndarray] = []  # zeroed buffers (only their data cells are written)

                def depthwise_same(x):
                    y = np.empty((N, O, Ho, Wo), np.float32)
                    bufs = pool.pop() if pool else np.zeros((kw, S), np.float32)
                    for n in range(N):
                        _depthwise_same(x[n], w3, mult, dh, dw, ph, pw, G, keep, dw_bias, lo, hi, bufs, y[n])
                    pool.append(bufs)
                    return y
                return depthwise_same

            if sh == sw == 2 and kh == kw == 3 and dh == dw == 1 and Wo >= 8 and (
                    halves := stride_two_depthwise_plan(w3, dw_bias, lo, hi, C, *in_sp, (ph, pw), (Ho, Wo))):
                return halves  # even and odd columns split in one pass (64x32x32: 54 -> 29 us)

            if sh == sw == 2 and kh == kw == 3 and dh == dw == 1 and Wo <= 8:  # small planes: no copy

                def depthwise_s2(x):
                    y, acc = np.empty((N, O, Ho, Wo), np.float32), np.empty(Wo, np.float32)
                    for n in range(N):
                        _depthwise_s2(x[n], w3, mult, ph, pw, dw_bias, lo, hi, acc, y[n])
                    return y
                return depthwise_s2

            def depthwise(x):
                y = np.empty((N, O, Ho, Wo), np.float32)
                xq, flat = np.empty((sh, sw, Hq, Wq), np.float32), np.empty((Ho - 1) * Wq + Wo, np.float32)
                for n in range(N):
                    _depthwise_fused(x[n], w3, mult, dh, dw, ph, pw, dw_bias, lo, hi, xq, flat, y[n])
                return y
            return depthwise
        wm = np.ascontiguousarray(w.reshape(O, C * kvol))
        if pointwise_layer:  # 1x1: the (subsampled) input is the patch matrix

            def pointwise(x, residual=None):
                y = np.empty((N, O, Ho, Wo), np.float32)
                for n in range(N):
                    cols = x[n, :, ::sh, ::sw].reshape(C, Ho * Wo)
                    yn = np.matmul(wm, cols, out=y[n].reshape(O, Ho * Wo))
                    if residual is None:
                        _bias_clamp_inplace(yn, bias, has_bias, lo, hi)
                    else:
                        _bias_residual_clamp(yn, bias, residual[n].reshape(O, Ho * Wo), clo, chi)
                return y
            pointwise.takes_residual = True
            return pointwise
        Hq = max(-(-Hp // sh), (kh - 1) * dh // sh + Ho + 1)  # + a row: the last tap's run may go past

        def im2col(x):
            y = np.empty((N, O, Ho, Wo), np.float32)
            xq, cols = np.empty((sh, sw, Hq, Wq), np.float32), np.empty((C * kvol, Ho * Wq), np.float32)
            for n in range(N):
                _im2col_pitched(x[n], kh, kw, dh, dw, ph, pw, Ho, Wo, xq, cols)
                _bias_clamp(np.matmul(wm, cols), Wq, bias, has_bias, lo, hi, y[n])
            return y
        return im2col

    def run(x, *args):
        if type(x) is np.ndarray and x.dtype == np.float32 and x.ndim == 4 and x.flags.c_contiguous:
            entry = plans.get(x.shape)
            if entry is None:
                out = (x.shape[0], O, *_conv_geometry(x.shape, w.shape, *attrs)[14][1:])
                entry = plans[x.shape] = (plan_for(x.shape), out)
            plan, out = entry
            if plan is not None and not residual:
                return plan(x)
            res = args[-1]
            if plan is not None and type(res) is np.ndarray and res.dtype == np.float32 and \
                    res.flags.c_contiguous and res.shape == out:
                if getattr(plan, "takes_residual", False):
                    return plan(x, res)
                return numpy_epilogue(plan(x), None, clamp, res)  # the numpy Add and activation, as unfused
        return fallback(x, *args)
    return run


@specializer(convolution)
def _prepare_convolution(consts, **attrs):
    return prepare_convolution(consts, False, lambda *a: convolution(*a, **attrs), **attrs)


@specializer(group_convolution)
def _prepare_group_convolution(consts, **attrs):
    return prepare_convolution(consts, True, lambda *a: group_convolution(*a, **attrs), **attrs)


def numpy_epilogue(y: np.ndarray, bias: np.ndarray | None, clamp: list[float] | None,
                   residual: np.ndarray | None = None) -> np.ndarray:
    """In place on ``y``: ``+ bias``, ``+ residual``, then the clamp, with numpy's float operations: what
    the separate Add and ReLU/Clamp layers compute."""
    if bias is not None:
        np.add(y, bias, out=y)
    if residual is not None:
        np.add(y, residual, out=y)
    if clamp is not None:
        lo, hi = np.float32(clamp[0]), np.float32(clamp[1])
        np.fmax(y, lo, out=y)  # NaN -> lo, as OpenVINO's ReLU/Clamp give
        if not np.isinf(hi):
            np.fmin(y, hi, out=y)
    return y


# --------------------------------------------------------------------------------- transposed conv
def convolution_backprop_reference(x, w, output_shape=None, *, strides, dilations, pads_begin=None, pads_end=None,
                                   auto_pad="explicit", output_padding=None, groups=1):
    """Scatter form: input pixel i of channel c adds ``x[n, c, i] * w[c, o, k]`` at ``y[n, g*Og+o, i*s + k*d - pb]``.

    ``w`` is [Cin, Cout/groups, k...]; the full scatter is cropped to the output window.
    """
    strides, dilations = _attrs(x.shape, w.shape[2:], strides, dilations)
    in_sp, k_sp, sp = x.shape[2:], w.shape[2:], x.ndim - 2
    pb, out = backprop_geometry(in_sp, k_sp, strides, dilations, pads_begin, pads_end, auto_pad, output_padding,
                                output_shape)
    acc = np.int64 if x.dtype.kind in "iub" else np.float64
    (N, C), Og = x.shape[:2], w.shape[1]
    full = [max(s * (i - 1) + d * (k - 1) + 1, b + o) for i, k, s, d, b, o in zip(in_sp, k_sp, strides, dilations,
                                                                                   pb, out)]
    y = np.zeros((N, groups, Og, *full), acc)
    xg = x.astype(acc).reshape(N, groups, C // groups, *in_sp)
    wg = w.astype(acc).reshape(groups, C // groups, Og, *k_sp)
    for k in np.ndindex(*k_sp):
        win = tuple(slice(k[i] * dilations[i], k[i] * dilations[i] + strides[i] * (in_sp[i] - 1) + 1, strides[i])
                    for i in range(sp))
        y[(..., *win)] += np.einsum("ngc...,gco->ngo...", xg, wg[(..., *k)])
    crop = tuple(slice(b, b + o) for b, o in zip(pb, out))
    return y[(..., *crop)].reshape(N, groups * Og, *out).astype(x.dtype)


def group_convolution_backprop_reference(x, w, output_shape=None, **attrs):
    """GroupConvolutionBackpropData: ``w`` is [G, Cin/G, Cout/G, k...]."""
    return convolution_backprop_reference(x, w.reshape(-1, *w.shape[2:]), output_shape, groups=w.shape[0], **attrs)


def _backprop(x, w, output_shape, groups, strides, dilations, pads_begin, pads_end, auto_pad, output_padding):
    x, w = np.asarray(x), np.asarray(w)
    strides, dilations = _attrs(x.shape, w.shape[2:], strides, dilations)
    (N, C), Og = x.shape[:2], w.shape[1]
    if C != w.shape[0]:
        raise ValueError(f"input has {C} channels, weights {list(w.shape)} expect {w.shape[0]}")
    attrs = dict(strides=strides, dilations=dilations, pads_begin=pads_begin, pads_end=pads_end, auto_pad=auto_pad,
                 output_padding=output_padding, groups=groups)
    if x.dtype.kind in "iub":
        return convolution_backprop_reference(x, w, output_shape, **attrs)
    in_sp, k_sp = x.shape[2:], w.shape[2:]
    pb, out_sp = backprop_geometry(in_sp, k_sp, strides, dilations, pads_begin, pads_end, auto_pad, output_padding,
                                   output_shape)
    dt = _compute_dtype(x.dtype)
    k3, s3, d3, pb3 = _to3(k_sp, 1), _to3(strides, 1), _to3(dilations, 1), _to3(pb, 0)
    in3, out3 = _to3(in_sp, 1), _to3(out_sp, 1)
    Cg, kvol, P = C // groups, math.prod(k3), math.prod(in3)
    # contributions[n, g, (o, k), i] = sum_c w[g, c, (o, k)] * x[n, g, c, i]: one BLAS GEMM per sample and group
    wt = np.ascontiguousarray(w.reshape(groups, Cg, Og * kvol).transpose(0, 2, 1), dtype=dt)
    contrib = np.matmul(wt, np.ascontiguousarray(x.reshape(N, groups, Cg, P), dtype=dt))
    y = np.empty((N, groups * Og, *out3), dt)
    _col2im(contrib.reshape(N, groups * Og * kvol, P), *k3, *in3, *s3, *d3, *pb3, y)
    return y.reshape(N, groups * Og, *out_sp).astype(x.dtype, copy=False)


@kernel("ConvolutionBackpropData", versions=("opset1",), impl="gemm_blas")
def convolution_backprop_data(x, w, output_shape=None, *, strides: list[int], dilations: list[int],
                              pads_begin: list[int] | None = None, pads_end: list[int] | None = None,
                              auto_pad: str = "explicit", output_padding: list[int] | None = None):
    return _backprop(x, w, output_shape, 1, strides, dilations, pads_begin, pads_end, auto_pad, output_padding)


@kernel("GroupConvolutionBackpropData", versions=("opset1",), impl="gemm_blas")
def group_convolution_backprop_data(x, w, output_shape=None, *, strides: list[int], dilations: list[int],
                                    pads_begin: list[int] | None = None, pads_end: list[int] | None = None,
                                    auto_pad: str = "explicit", output_padding: list[int] | None = None):
    w = np.asarray(w)
    return _backprop(x, w.reshape(-1, *w.shape[2:]), output_shape, w.shape[0], strides, dilations, pads_begin,
                     pads_end, auto_pad, output_padding)
