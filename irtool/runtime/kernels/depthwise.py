"""FP32 depthwise 3x3 convolution at stride 2 (the per-channel kernels for the other cases are in
``conv.py`` and ``conv_prepare.py``).

Each input plane is split into its even and odd columns by one flat pass (interleaved loads), its rows
left whole; an output row then reads three input rows of the two halves with contiguous, vectorized
loads. Unsigned flat offsets throughout: numba emits no negative-index wraparound, and no view is
made per row (a view costs two reference-count calls, more than a 16-wide row of arithmetic).
"""
from __future__ import annotations

import numba
import numpy as np

from irtool.runtime.kernels._phases import clamp


# ------------------------------------------------------------------- 3x3 stride 2: rows of two phases
@numba.njit(inline="always")
def _at(valid, row, S, pe, dj, zero):  # pragma: no cover (jit)
    """The buffer offsets where taps e = 0, 1, 2 of an input row start (see _depthwise_s2)."""
    if valid:
        return (np.uint64(pe[0] * S + row + dj[0]), np.uint64(pe[1] * S + row + dj[1]),
                np.uint64(pe[2] * S + row + dj[2]))
    return np.uint64(zero + dj[0]), np.uint64(zero + dj[1]), np.uint64(zero + dj[2])


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _depthwise_s2(x, w, mult, ph, pe, dj, keep, bias, lo, hi, buf, y):  # pragma: no cover (jit)
    """A 3x3 depthwise layer at stride 2 (dilation 1) on planes of even width, for one image: each
    input plane split into its even and odd columns by one flat pass (its rows stay whole, each half
    as wide), then each output row from three input rows of the two halves: tap (b, e) of output
    column ow reads half ``pe[e]`` at column ``ow + dj[e]``, masked by ``keep[e, ow]`` where that
    falls outside the row. Input rows outside the plane read a row of zeros. ``buf``: both halves
    with a guard of W/2 + 2 zeros around each, then the zero row (zeroed by the caller)."""
    O, Ho, Wo = y.shape
    C, H, W = x.shape
    Wh = W // 2
    G = Wh + 2
    S = G + H * Wh + G  # one half with its guards
    zero = 2 * S + 2  # the zero row (starts 2 in: dj >= -1)
    k0, k1, k2 = keep[0], keep[1], keep[2]
    yf = y.reshape(y.size)
    n = np.uint64(Wo)
    # unsigned flat offsets throughout: no wraparound checks, no view per row (two reference-count
    # calls each, more than a 16-wide row's arithmetic)
    for oc in range(O):
        if oc % mult == 0:
            img = x[oc // mult].reshape(H * W)
            e0, o0 = np.uint64(G), np.uint64(S + G)
            for m in range(np.uint64(H * Wh)):
                buf[e0 + m] = img[m + m]
                buf[o0 + m] = img[m + m + np.uint64(1)]
        w0, w1, w2, w3, w4 = w[oc, 0, 0], w[oc, 0, 1], w[oc, 0, 2], w[oc, 1, 0], w[oc, 1, 1]
        w5, w6, w7, w8 = w[oc, 1, 2], w[oc, 2, 0], w[oc, 2, 1], w[oc, 2, 2]
        bo = bias[oc]
        z = np.float32(0)
        for oh in range(Ho):
            r0, r1, r2 = 2 * oh - ph, 2 * oh + 1 - ph, 2 * oh + 2 - ph
            v0, v1, v2 = 0 <= r0 < H, 0 <= r1 < H, 0 <= r2 < H
            # where each tap's run starts: its half's row, or the zero row for rows outside the plane
            i00, i01, i02 = _at(v0, G + r0 * Wh, S, pe, dj, zero)
            i10, i11, i12 = _at(v1, G + r1 * Wh, S, pe, dj, zero)
            i20, i21, i22 = _at(v2, G + r2 * Wh, S, pe, dj, zero)
            d = np.uint64((oc * Ho + oh) * Wo)
            for ow in range(n):  # the masks select inputs, not products: the taps stay FMAs
                m0, m1, m2 = k0[ow] != 0, k1[ow] != 0, k2[ow] != 0
                # every input loaded first, then the masks select: a conditional load would be a
                # masked load (vmaskmovps), slow on Zen 2
                x0, x1, x2 = buf[i00 + ow], buf[i01 + ow], buf[i02 + ow]
                x3, x4, x5 = buf[i10 + ow], buf[i11 + ow], buf[i12 + ow]
                x6, x7, x8 = buf[i20 + ow], buf[i21 + ow], buf[i22 + ow]
                a = w0 * (x0 if m0 else z) + w1 * (x1 if m1 else z) + w2 * (x2 if m2 else z)
                b = w3 * (x3 if m0 else z) + w4 * (x4 if m1 else z) + w5 * (x5 if m2 else z)
                c = w6 * (x6 if m0 else z) + w7 * (x7 if m1 else z) + w8 * (x8 if m2 else z)
                yf[d + ow] = clamp(a + b + c + bo, lo, hi)


class StrideTwoDepthwisePlan:
    """A 3x3 stride-2 depthwise layer on planes of even width (see _depthwise_s2)."""

    __slots__ = ("w", "mult", "ph", "pe", "dj", "keep", "bias", "lo", "hi", "nbuf", "out", "_pool")

    def __init__(self, w, mult, ph, pe, dj, keep, bias, lo, hi, nbuf, out):
        self.w, self.mult, self.ph, self.pe, self.dj, self.keep = w, mult, ph, pe, dj, keep
        self.bias, self.lo, self.hi, self.nbuf, self.out = bias, np.float32(lo), np.float32(hi), nbuf, out
        self._pool: list[np.ndarray] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x float32 [N, C, H, W] C-contiguous -> y [N, O, Ho, Wo]."""
        y = np.empty((x.shape[0], *self.out), np.float32)
        pool = self._pool
        buf = pool.pop() if pool else np.zeros(self.nbuf, np.float32)
        for n in range(x.shape[0]):
            _depthwise_s2(x[n], self.w, self.mult, self.ph, self.pe, self.dj, self.keep, self.bias, self.lo,
                          self.hi, buf, y[n])
        pool.append(buf)
        return y


def stride_two_depthwise_plan(w: np.ndarray, bias: np.ndarray, lo, hi, C: int, H: int, W: int,
                              pads: tuple[int, int], out: tuple[int, int]) -> StrideTwoDepthwisePlan | None:
    """The plan for 3x3 stride-2 depthwise weights ``w`` [O, 3, 3] (dilation 1) on [C, H, W] inputs, or
    None when W is odd (its rows would not split into halves of one width) or a tap column reaches
    past the guards."""
    O = w.shape[0]
    (ph, pw), (Ho, Wo) = pads, out
    Wh = W // 2
    e = np.arange(3) - pw  # input column of tap e, less 2*ow
    pe, dj = e % 2, e // 2
    if W % 2 or Wh < 1 or dj.min() < -1 or Wo - 1 + dj.max() > Wh + 1:
        return None
    ow = np.arange(Wo)
    keep = np.stack([(ow + dj[k] >= 0) & (ow + dj[k] < Wh) for k in range(3)]).astype(np.int32)
    G = Wh + 2
    nbuf = 2 * (G + H * Wh + G) + 2 + Wo + 4  # the halves, then the zero row (and its reach)
    return StrideTwoDepthwisePlan(np.ascontiguousarray(w, np.float32), O // C, ph, pe.astype(np.int64),
                                  dj.astype(np.int64), keep, np.ascontiguousarray(bias, np.float32), lo, hi, nbuf,
                                  (O, Ho, Wo))


def depthwise_reference(x: np.ndarray, w: np.ndarray, bias: np.ndarray, lo, hi, strides, dilations, pads,
                        out) -> np.ndarray:
    """What a DepthwisePlan computes, in float64 sums: x [N, C, H, W], w [O, kh, kw] -> [N, O, Ho, Wo]."""
    N, C, H, W = x.shape
    O, kh, kw = w.shape
    (sh, sw), (dh, dw), (ph, pw), (Ho, Wo) = strides, dilations, pads, out
    xp = np.zeros((N, C, H + ph + kh * dh + Ho * sh, W + pw + kw * dw + Wo * sw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    y = np.zeros((N, O, Ho, Wo))
    for b in range(kh):
        for e in range(kw):
            win = xp[:, :, b * dh:b * dh + Ho * sh:sh, e * dw:e * dw + Wo * sw:sw][:, np.arange(O) // (O // C)]
            y += w[None, :, b, e, None, None] * win
    y = y.astype(np.float32) + bias.reshape(1, O, 1, 1)
    return np.fmin(np.fmax(y, np.float32(lo)), np.float32(hi))


# ---------------------------------------------------------------------- INT8: 3x3 'same' on u8 codes
@numba.njit(cache=True, nogil=True)
def _depthwise_same_codes(k, z, geo, w, keep, t, levels, bufs, out_q, out_f):  # pragma: no cover (jit)
    """The INT8 path's 3x3 depthwise layer at stride 1 with an output as wide as its input, on u8
    codes k [N, C, H, W]: each plane as float32 ``code - z[c]`` in three copies, one per tap column,
    shifted so that tap (b, e) of output pixel p reads ``bufs[e, p + b*W + G]`` (the layout of
    conv_prepare._depthwise_same: masked flat copies, ``keep`` [3, H*W]; ``bufs`` comes zeroed and only its data
    cells are written). The sums of nine integer products are exact in float32, in any order; then
    the epilogue ``y = acc * a + b`` with t [4, C] = (a, b, lo, hi): levels > 0, codes
    ``clip(rint(y), lo, hi)`` into out_q [N, C, Ho, W] (u8), else ``clip(y, lo, hi)`` into out_f.
    Compiled without fastmath: the epilogue's multiply and add stay two roundings, as its reference.
    geo: ph, pw, G."""
    N, C, H, W = k.shape
    ph, pw, G = geo[0], geo[1], geo[2]
    HW, S = H * W, bufs.shape[1]
    Ho = out_q.shape[2] if levels > 0 else out_f.shape[2]
    L = Ho * W
    buf, kf = bufs.reshape(bufs.size), k.reshape(k.size)
    oq, of = out_q.reshape(out_q.size), out_f.reshape(out_f.size)
    k0, k1, k2 = keep[0], keep[1], keep[2]
    i00, i01, i02 = np.uint64(G), np.uint64(S + G), np.uint64(2 * S + G)
    i10, i11, i12 = np.uint64(W + G), np.uint64(S + W + G), np.uint64(2 * S + W + G)
    i20, i21, i22 = np.uint64(2 * W + G), np.uint64(S + 2 * W + G), np.uint64(2 * S + 2 * W + G)
    e0, e1, e2 = np.uint64(ph * W + pw + G), np.uint64(S + ph * W + pw - 1 + G), np.uint64(2 * S + ph * W + pw - 2 + G)
    for n in range(N):
        for c in range(C):
            s0, zc = np.uint64((n * C + c) * HW), np.float32(z[c])
            for p in range(np.uint64(HW)):  # loaded unconditionally, then selected (no masked load)
                v = np.float32(kf[s0 + p]) - zc
                buf[e0 + p] = v if k0[p] else np.float32(0)
                buf[e1 + p] = v if k1[p] else np.float32(0)
                buf[e2 + p] = v if k2[p] else np.float32(0)
            w0, w1, w2, w3, w4 = w[c, 0, 0], w[c, 0, 1], w[c, 0, 2], w[c, 1, 0], w[c, 1, 1]
            w5, w6, w7, w8 = w[c, 1, 2], w[c, 2, 0], w[c, 2, 1], w[c, 2, 2]
            a, b, lo, hi = t[0, c], t[1, c], t[2, c], t[3, c]
            d = np.uint64((n * C + c) * L)
            if levels > 0:
                for p in range(np.uint64(L)):
                    acc = (buf[i00 + p] * w0 + buf[i01 + p] * w1 + buf[i02 + p] * w2) + \
                          (buf[i10 + p] * w3 + buf[i11 + p] * w4 + buf[i12 + p] * w5) + \
                          (buf[i20 + p] * w6 + buf[i21 + p] * w7 + buf[i22 + p] * w8)
                    oq[d + p] = np.int32(min(max(np.rint(acc * a + b), lo), hi))
            else:
                for p in range(np.uint64(L)):
                    acc = (buf[i00 + p] * w0 + buf[i01 + p] * w1 + buf[i02 + p] * w2) + \
                          (buf[i10 + p] * w3 + buf[i11 + p] * w4 + buf[i12 + p] * w5) + \
                          (buf[i20 + p] * w6 + buf[i21 + p] * w7 + buf[i22 + p] * w8)
                    of[d + p] = clamp(acc * a + b, lo, hi)


def same_codes_layout(H: int, W: int, Ho: int, ph: int, pw: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(geo, keep, zeroed bufs) for _depthwise_same_codes on [H, W] planes with these pads (3x3, stride 1,
    an output Ho x W), or None when a copy would start before its buffer (pw > 2)."""
    if pw > 2 or ph < 0:
        return None
    G = 2
    S = max((Ho + 2) * W, (H + ph) * W + pw) + G
    col = np.arange(H * W) % W  # tap column e reads input column ow + e - pw
    keep = np.stack([(col >= e - pw) & (col < W + e - pw) for e in range(3)]).astype(np.uint8)
    return np.array([ph, pw, G], np.int64), keep, np.zeros((3, S), np.float32)
