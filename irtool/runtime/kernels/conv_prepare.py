"""Load-time specialization of 2-D float32 Convolution / GroupConvolution with constant weights.

``prepare_convolution`` picks, once per input shape, the direct FMA kernel of ``conv_direct.py``, or for
small layers (see threads.SERIAL_BELOW) the serial numba kernels below: depthwise variants (any channel
multiplier; 'same' width, stride 2), a pitched im2col + BLAS, a 1x1 BLAS product, bias, residual and
clamp fused into the pass that writes the output. Results are those of ``conv.py``'s kernels followed
by the Add / Clamp layers (OpenVINO CPU plugin semantics), up to the order of float additions inside
the convolution.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from irtool.runtime.kernels._phases import FAST, _fill_phases, _plus_clamped, _zero, clamp
from irtool.runtime.kernels.conv import _conv_geometry, _tuple, convolution, group_convolution
from irtool.runtime.kernels.conv_direct import direct_plan
from irtool.runtime.kernels.depthwise import stride_two_depthwise_plan
from irtool.runtime.registry import specializer


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

