"""INT8 depthwise GroupConvolution (one input channel a group) on u8 codes, in float32 (exact).

The activation may be quantized per channel (a zero point each). Which kernel a layer runs, per input
shape: a 3x3 kernel at stride 2 without dilation reads the padded input's two column phases
(_dw_s2_images); a small 3x3 'same' layer, on one thread, the masked-copy layout of the FP32 kernel on
codes (depthwise._depthwise_same_codes); other 3x3 kernels without dilation gathered planes
(_dw3_images); the rest the general kernel, in float64 (_depthwise). The call is bound once per shape
and thread (_int8_bound), the geometry shared with int8_conv.
"""
from __future__ import annotations

import numba
import numpy as np

from irtool.runtime.kernels._int8_bound import _Bound, _bound_runner, _frozen, _zero_points
from irtool.runtime.kernels.depthwise import _depthwise_same_codes, same_codes_layout
from irtool.runtime.kernels.int8_conv import _geometry
from irtool.runtime.kernels.int8_epilogue import INT8, _JIT, _U1, _ep_one, compose
from irtool.runtime.registry import kernel, specializer


# Depthwise layers compute in float32 on the shifted codes: every product |code - z| * |w| <= 255 * 255
# and every partial sum of up to 258 of them is an integer under 2^24, so float32 arithmetic is exact
# here (in any order), the products and sums take the FP32 path's vector units, and the sum goes to the
# epilogue as it is. Larger kernels accumulate in float64 (exact to 2^53).


@numba.njit(nogil=True)
def _pad_shift(k, z, ph, pw, out):  # pragma: no cover (jit)
    """out[c, col % S, h + ph, col // S] = k[c, h, w] - z[c] (float32, exact) at padded column
    col = w + pw, inside the zero border ``out`` has: S = out.shape[1] = 1, or 2 column phases (a
    stride-2 layer then reads each tap's inputs contiguously). Flat unsigned indices (see below)."""
    C, H, W = k.shape
    S, Hq, Wq = out.shape[1], out.shape[2], out.shape[3]
    src, dst = k.reshape(-1), out.reshape(-1)
    pairs = np.uint64(W // 2)
    for c in range(C):  # memory bound: not worth a parallel region
        zc = np.float32(z[c])
        for h in range(H):
            s0 = np.uint64((c * H + h) * W)
            if S == 1:
                d0 = np.uint64(((c * Hq) + h + ph) * Wq + pw)
                for i in range(np.uint64(W)):
                    dst[d0 + i] = np.float32(src[s0 + i]) - zc
                continue
            # input column 2i goes to phase pw % 2, column 2i + 1 to the other: one loop reading
            # both (an interleaved pair of loads, which LLVM vectorizes with shuffles)
            de = np.uint64(((c * 2 + pw % 2) * Hq + h + ph) * Wq + pw // 2)
            do = np.uint64(((c * 2 + (pw + 1) % 2) * Hq + h + ph) * Wq + (pw + 1) // 2)
            for i in range(pairs):
                dst[de + i] = np.float32(src[s0 + i + i]) - zc
                dst[do + i] = np.float32(src[s0 + i + i + _U1]) - zc
            if W % 2:
                dst[de + pairs] = np.float32(src[s0 + pairs + pairs]) - zc


@numba.njit(cache=True, nogil=True)
def _depthwise3x3_s2(xp, w, Ho, Wo, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """3x3 depthwise at stride 2 (rows and columns), dilation 1: xp [C, 2, Hq, Wq] the padded
    input's two column phases (_pad_shift), taps x[p], x[q], x[p + 1] of the even (p) and odd (q)
    phase rows, one vectorized loop an output row (_dw3_taps); outputs flat [C * Ho * Wo] (the other
    a stub)."""
    C, S, Hq, Wq = xp.shape
    x = xp.reshape(-1)
    W, W2, n = np.uint64(Wq), np.uint64(2 * Wq), np.uint64(Wo)
    for c in range(C):
        wt, tc = _nine_taps(w[c]), (t[0, c], t[1, c], t[2, c], t[3, c])
        even, odd = np.uint64(c * 2 * Hq * Wq), np.uint64((c * 2 + 1) * Hq * Wq)
        for oh in range(Ho):
            r = np.uint64(2 * oh) * W
            p, q = even + r, odd + r
            o = (p, q, p + _U1, p + W, q + W, p + W + _U1, p + W2, q + W2, p + W2 + _U1)
            d = np.uint64(c * Ho * Wo + oh * Wo)
            if levels > 0:
                _dw3_taps(x, o, wt, tc, levels, out_q, d, n)
            else:
                _dw3_taps(x, o, wt, tc, levels, out_f, d, n)


@numba.njit(inline="always")
def _nine_taps(wc):  # pragma: no cover (jit)
    """A 3x3 kernel's weights [3, 3] as nine scalars, row by row."""
    return wc[0, 0], wc[0, 1], wc[0, 2], wc[1, 0], wc[1, 1], wc[1, 2], wc[2, 0], wc[2, 1], wc[2, 2]


@numba.njit(inline="always")
def _dw_gather(k, z, sh, sw, ph, pw, kw, Hk, Wo, buf):  # pragma: no cover (jit)
    """Channel plane ``k`` [H, W] (u8 codes) as float32 ``code - z``, gathered so that a 3-row
    depthwise kernel reads flat runs: buf[((rp * kw + b) * Hk + i) * Wo + ow] = xpad[i * sh + rp,
    ow * sw + b] (xpad the zero-padded plane) for row phases rp < sh, taps b < kw, i < Hk. Tap (a, b)
    of output pixel p = oh * Wo + ow is then buf[((a % sh) * kw + b) * Hk * Wo + (a // sh) * Wo + p]."""
    H, W = k.shape
    src = k.reshape(-1)
    zf = np.float32(z)
    for rp in range(sh):
        for b in range(kw):
            o_lo = min(Wo, max(0, -((b - pw) // sw)))  # the output columns that read inside the plane
            o_hi = max(o_lo, min(Wo, (W - 1 - b + pw) // sw + 1))
            for i in range(Hk):
                d = np.uint64(((rp * kw + b) * Hk + i) * Wo)
                h = i * sh + rp - ph
                if h < 0 or h >= H:
                    for j in range(np.uint64(Wo)):
                        buf[d + j] = 0.0
                    continue
                for j in range(np.uint64(o_lo)):
                    buf[d + j] = 0.0
                s0 = np.uint64(h * W + o_lo * sw + b - pw)
                dv = d + np.uint64(o_lo)
                step = np.uint64(sw)
                for j in range(np.uint64(o_hi - o_lo)):
                    buf[dv + j] = np.float32(src[s0 + j * step]) - zf
                for j in range(np.uint64(o_hi), np.uint64(Wo)):
                    buf[d + j] = 0.0


@numba.njit(inline="always")
def _zero_column(buf, first, pitch, n):  # pragma: no cover (jit)
    """buf[first + r * pitch] = 0 for r < n."""
    f, p = np.uint64(first), np.uint64(pitch)
    for r in range(np.uint64(n)):
        buf[f + r * p] = 0.0


@numba.njit(inline="always")
def _dw_gather_same(k, z, ph, pw, Hk, buf):  # pragma: no cover (jit)
    """_dw_gather for stride 1 and an output as wide as the input (pitch W), in flat passes: buffer b
    (at b * P + 1, P = Hk * W + 2) is the whole plane copied at once, shifted by the tap's column
    offset; then zeros in the padding rows and in the columns that the shift carried across a row's
    edge. Tap (a, b) of output pixel p is buf[b * P + 1 + a * W + p]."""
    H, W = k.shape
    src = k.reshape(-1)
    zf = np.float32(z)
    P = Hk * W + 2
    HW = np.uint64(H * W)
    for b in range(3):
        shift = b - pw  # tap b of output column j reads input column j + shift
        base = np.uint64(b * P + 1 + ph * W - shift)  # >= 0: ph >= 0, |shift| <= 2 <= 1 + ... (see caller)
        for t in range(HW):
            buf[base + t] = np.float32(src[t]) - zf
        start = b * P
        for i in range(start, start + 1 + ph * W):  # the slack and the padding rows above
            buf[i] = 0.0
        for i in range(start + 1 + (ph + H) * W, start + P):  # below, and the slack
            buf[i] = 0.0
        # the columns the shift carried across a row's edge (at most 2), each one strided pass
        for j in range(max(0, W - shift), W):
            _zero_column(buf, start + 1 + ph * W + j, W, H)
        for j in range(min(W, -shift)):
            _zero_column(buf, start + 1 + ph * W + j, W, H)


@numba.njit(inline="always")
def _dw3_taps(buf, o, wt, tc, levels, dst, d, n):  # pragma: no cover (jit)
    """out[d + i] = epilogue(sum of the 9 taps buf[o_t + i] * w_t), i < n: one flat loop over the
    channel's output pixels (see _dw_gather), which LLVM vectorizes (the type of ``dst`` is a
    constant where this is inlined)."""
    o0, o1, o2, o3, o4, o5, o6, o7, o8 = o
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = wt
    a, b, lo, hi = tc
    for i in range(n):
        acc = ((buf[o0 + i] * w0 + buf[o1 + i] * w1 + buf[o2 + i] * w2)
               + (buf[o3 + i] * w3 + buf[o4 + i] * w4 + buf[o5 + i] * w5)
               + (buf[o6 + i] * w6 + buf[o7 + i] * w7 + buf[o8 + i] * w8))
        y = acc * a + b
        if levels > 0:
            dst[d + i] = np.int32(min(max(np.rint(y), lo), hi))
        else:
            dst[d + i] = min(max(y, lo), hi)


@numba.njit(inline="always")
def _dw3_channel(c, k, z, w, geo, t, levels, buf, out_q, out_f):  # pragma: no cover (jit)
    """Channel ``c`` of a 3x3 depthwise layer without dilation: gather (_dw_gather), then the taps.
    ``geo``: sh, sw, ph, pw, Ho, Wo, Hk."""
    sh, sw, ph, pw, Ho, Wo, Hk, same = geo
    wt, tc = _nine_taps(w[c]), (t[0, c], t[1, c], t[2, c], t[3, c])
    if same:
        _dw_gather_same(k[c], z[c], ph, pw, Hk, buf)
        P = Hk * Wo + 2
        o = (np.uint64(1), np.uint64(P + 1), np.uint64(2 * P + 1), np.uint64(Wo + 1), np.uint64(P + Wo + 1),
             np.uint64(2 * P + Wo + 1), np.uint64(2 * Wo + 1), np.uint64(P + 2 * Wo + 1), np.uint64(2 * P + 2 * Wo + 1))
    else:
        _dw_gather(k[c], z[c], sh, sw, ph, pw, 3, Hk, Wo, buf)
        o = _dw3_offsets(sh, Hk * Wo, Wo)
    n = np.uint64(Ho * Wo)
    d = np.uint64(c * Ho * Wo)
    if levels > 0:
        _dw3_taps(buf, o, wt, tc, levels, out_q, d, n)
    else:
        _dw3_taps(buf, o, wt, tc, levels, out_f, d, n)


@numba.njit(inline="always")
def _dw3_offsets(sh, plane, Wo):  # pragma: no cover (jit)
    """The flat offsets of the 9 taps in _dw_gather's layout: tap (a, b) at
    ((a % sh) * 3 + b) * plane + (a // sh) * Wo."""
    r0, r1, r2 = (0 % sh) * 3 * plane, (1 % sh) * 3 * plane, (2 % sh) * 3 * plane
    d0, d1, d2 = (0 // sh) * Wo, (1 // sh) * Wo, (2 // sh) * Wo
    return (np.uint64(r0 + d0), np.uint64(r0 + plane + d0), np.uint64(r0 + 2 * plane + d0),
            np.uint64(r1 + d1), np.uint64(r1 + plane + d1), np.uint64(r1 + 2 * plane + d1),
            np.uint64(r2 + d2), np.uint64(r2 + plane + d2), np.uint64(r2 + 2 * plane + d2))


@numba.njit(cache=True, nogil=True)
def _depthwise3x3(k, z, w, geo, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """3x3 depthwise without dilation, on the calling thread: k u8 codes [C, H, W], z [C], w float32
    [C, 3, 3], outputs flat [C * Ho * Wo] (the other a stub)."""
    sh, sw, ph, pw, Ho, Wo, Hk, same = geo
    buf = np.empty(sh * 3 * (Hk * Wo + 2), np.float32)
    for c in range(w.shape[0]):
        _dw3_channel(c, k, z, w, geo, t, levels, buf, out_q, out_f)


@numba.njit(**_JIT)
def _depthwise3x3_parallel(k, z, w, geo, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """_depthwise3x3 with the channels spread over numba's threads."""
    sh, sw, ph, pw, Ho, Wo, Hk, same = geo
    C = w.shape[0]
    bufs = np.empty((C, sh * 3 * (Hk * Wo + 2)), np.float32)
    for c in numba.prange(C):
        _dw3_channel(c, k, z, w, geo, t, levels, bufs[c], out_q, out_f)


@numba.njit(**_JIT)
def _depthwise(xp, w, sh, sw, dh, dw, Ho, Wo, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """Any depthwise layer: acc[c, oh, ow] = sum_ab xp[c, 0, oh*sh + a*dh, ow*sw + b*dw] * w[c, a, b],
    accumulated in float64 (exact for any kernel size), then the epilogue."""
    C, kh, kw = w.shape
    for c in numba.prange(C):
        acc = np.zeros(Wo, np.float64)
        oq, of = (out_q[c], out_f[0]) if levels > 0 else (out_q[0], out_f[c])  # the other a stub
        for oh in range(Ho):
            acc[:] = 0
            for a in range(kh):
                src = xp[c, 0, oh * sh + a * dh]
                for b in range(kw):
                    wk = np.float64(w[c, a, b])
                    for ow in range(Wo):
                        acc[ow] += np.float64(src[ow * sw + b * dw]) * wk
            for ow in range(Wo):
                _ep_one(acc[ow], t, c, levels, oq, of, oh * Wo + ow)


@numba.njit(inline="always")
def _image_outputs(n, levels, out_q, out_f):  # pragma: no cover (jit)
    """Image ``n``'s output, flat, and the stub for the other type."""
    if levels > 0:
        return out_q[n].reshape(-1), out_f.reshape(-1)
    return out_q.reshape(-1), out_f[n].reshape(-1)


@numba.njit(cache=True, nogil=True)
def _dw_s2_images(k, z, geo, xp, w, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """Each image of a 3x3 stride-2 depthwise layer: _pad_shift into the column phases xp, then
    _depthwise3x3_s2. geo: ph, pw, Ho, Wo."""
    for n in range(k.shape[0]):
        _pad_shift(k[n], z, geo[0], geo[1], xp)
        dq, df = _image_outputs(n, levels, out_q, out_f)
        _depthwise3x3_s2(xp, w, geo[2], geo[3], t, levels, dq, df)


@numba.njit(cache=True, nogil=True)
def _dw3_images(k, z, geo, w, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """Each image of a 3x3 depthwise layer without dilation: _depthwise3x3 (gathered planes). geo:
    sh, sw, ph, pw, Ho, Wo, Hk, same."""
    g = (geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7])
    for n in range(k.shape[0]):
        dq, df = _image_outputs(n, levels, out_q, out_f)
        _depthwise3x3(k[n], z, w, g, t, levels, dq, df)


@numba.njit(cache=True, nogil=True)
def _dw3_images_parallel(k, z, geo, w, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """_dw3_images with the channels on every thread."""
    g = (geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7])
    for n in range(k.shape[0]):
        dq, df = _image_outputs(n, levels, out_q, out_f)
        _depthwise3x3_parallel(k[n], z, w, g, t, levels, dq, df)


@numba.njit(cache=True, nogil=True)
def _dw_images(k, z, geo, xp, w, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """Each image of any depthwise layer: _pad_shift, then _depthwise. geo: ph, pw, sh, sw, dh, dw,
    Ho, Wo."""
    C = w.shape[0]
    for n in range(k.shape[0]):
        _pad_shift(k[n], z, geo[0], geo[1], xp)
        dq, df = _image_outputs(n, levels, out_q, out_f)
        _depthwise(xp, w, geo[2], geo[3], geo[4], geo[5], geo[6], geo[7], t, levels,
                   dq.reshape((C, -1)) if levels > 0 else dq.reshape((1, -1)),
                   df.reshape((C, -1)) if levels == 0 else df.reshape((1, -1)))


def prepare_depthwise_int8(w, ep, *, zero_point, strides, dilations, pads_begin, pads_end, auto_pad="explicit",
                           levels=0):
    """``k -> y`` for depthwise_int8 with these constants (see prepare_convolution_int8): a 3x3
    kernel at stride 2 reads the padded input's column phases; other 3x3 kernels without dilation
    the gathered planes; the rest the general kernel (float64)."""
    from irtool.runtime.threads import PARALLEL_MACS

    C = w.shape[0]
    w3 = np.ascontiguousarray(w.reshape(C, -1, w.shape[-1]), np.float32)
    t = compose(ep, levels)
    attrs = (tuple(strides), tuple(dilations), tuple(pads_begin), tuple(pads_end), auto_pad)
    z = _zero_points(tuple(zero_point), C)
    fast3 = w3.shape[1:] == (3, 3)

    def make(shape) -> _Bound:
        g = _geometry(shape[2:], w.shape[1:], *attrs)
        k_shape = (shape[0], C, g.H, g.W)
        out_shape = (shape[0], C, *g.out_sp)
        if fast3 and g.sh == g.sw == 2 and g.dh == g.dw == 1 and g.Wo >= S2_MIN_WIDTH:
            xp = np.zeros((C, 2, g.Hp + 1, -(-g.Wp // 2) + 1), np.float32)  # zero border, never written
            return _Bound(_dw_s2_images, k_shape, (z, _frozen((g.ph, g.pw, g.Ho, g.Wo)), xp, w3, t, levels), (),
                          out_shape, levels)
        if fast3 and g.dh == g.dw == 1 and g.sh == g.sw == 1 and g.Wo == g.W and C * g.Ho * g.Wo * 9 < PARALLEL_MACS:
            # one thread: the masked-copy layout of the FP32 kernel, on codes (depthwise.py; 256x4x4:
            # 42 -> 10 us, 96x16x16: 29 -> 24 us, bit-identical)
            layout = same_codes_layout(g.H, g.W, g.Ho, g.ph, g.pw)
            if layout is not None:
                geo, keep, bufs = layout  # (bufs per thread, as _Bound's buffers: its zero cells persist)
                return _Bound(_depthwise_same_codes, k_shape, (z, geo, w3, keep, t, levels, bufs), (), out_shape,
                              levels)
        if fast3 and g.dh == g.dw == 1:
            same = g.sh == g.sw == 1 and g.Wo == g.W and g.pw <= 2  # (then |shift| <= 2, base >= 0 below)
            geo = _frozen((g.sh, g.sw, g.ph, g.pw, g.Ho, g.Wo, g.Ho + 2 // g.sh, int(same)))
            fn = _dw3_images_parallel if C * g.Ho * g.Wo * 9 >= PARALLEL_MACS else _dw3_images
            return _Bound(fn, k_shape, (z, geo, w3, t, levels), (), out_shape, levels)
        xp = np.zeros((C, 1, g.Hp, g.Wp), np.float32)
        geo = _frozen((g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, g.Ho, g.Wo))
        return _Bound(_dw_images, k_shape, (z, geo, xp, w3, t, levels), (), out_shape, levels)
    return _bound_runner(make)


# Stride-2 3x3 depthwise layers with output rows this wide read the column phases (measured on the
# 2-core target: 128x8x8 12.6 us against 31 us gathered, 64x32x32 21 against 30): all of them.
S2_MIN_WIDTH = 1


@kernel("GroupConvolution", versions=(INT8,), impl="jit")
def depthwise_int8(k, w, ep, *, zero_point: list[int], strides: list[int], dilations: list[int],
                   pads_begin: list[int], pads_end: list[int], auto_pad: str = "explicit", levels: int = 0):
    """Depthwise (one input channel per group) on u8 codes [N, C, (H,) W], integer weights [C, (kh,) kw];
    the activation may be quantized per channel (one zero point each; ``scale`` folds both scales)."""
    return prepare_depthwise_int8(w, ep, zero_point=zero_point, strides=strides, dilations=dilations,
                                  pads_begin=pads_begin, pads_end=pads_end, auto_pad=auto_pad, levels=levels)(k)


@specializer(depthwise_int8)
def _prepare_depthwise_int8(consts, **attrs):
    if consts[1] is None or consts[2] is None:
        return None
    return prepare_depthwise_int8(consts[1], consts[2], **attrs)
