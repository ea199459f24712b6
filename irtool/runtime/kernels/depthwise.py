"""FP32 depthwise 3x3 convolution on tiny planes (4x4, 8x8): every channel in one flat pass.

A depthwise layer does 9 multiply-adds per output; on planes of a few dozen pixels what costs is each
channel's fixed work (its loops, copies and edges: ~70 ns a channel against ~5 ns of arithmetic). Here
the whole layer is one loop over every output cell of every channel: tap k of cell u reads the input
copied between zero guards at ``u + shift_k``, times a weight expanded per cell at load time, zero
where the tap falls in the padding (or, across a plane's edge, in the next row or channel). The
larger planes go to the per-channel kernels of ``conv.py``.
"""
from __future__ import annotations

import numba
import numpy as np


# ------------------------------------------------------------------------ tiny planes: one flat pass
@numba.njit(cache=True, nogil=True, fastmath={"contract"})  # FMAs; no 'fast' flags: they would fold the inf test
def _depthwise_tiny(x, mult, G, offs, we, be, lo, hi, sub, buf, full, y):  # pragma: no cover (jit)
    """A 3x3 depthwise layer on planes of a few dozen pixels, every channel in one flat pass: the
    output at stride 1 over the whole input grid, ``full[u] = clamp(sum_k we[k, u] * buf[offs[k] + u]
    + be[u], lo, hi)`` for u = (oc, i, j), with the weights expanded per output cell (zero where the tap
    reads padding or another channel) and the input copied between zero guards; then, when the layer
    is strided or crops, ``y[v] = full[sub[v]]``. No per-channel work at all: on 4x4 and 8x8 planes
    that fixed cost is what dominates. Returns False (nothing written) when the input is not all
    finite: a zero weight times an inf beside the padding would give NaN where the layer gives a
    number, so the caller then runs the exact kernel."""
    C, H, W = x.shape
    img = x.reshape(x.size)
    n = img.size
    dst = buf[G:G + n * mult]
    if mult == 1:
        for t in range(n):
            dst[t] = img[t]
    else:  # a channel multiplier: each input plane once per output channel it feeds
        HW = H * W
        for c in range(C):
            for m in range(mult):
                for t in range(HW):
                    dst[(c * mult + m) * HW + t] = img[c * HW + t]
    special = 0  # inf and NaN have every exponent bit set: an integer test, which vectorizes
    bits = img.view(np.int32)
    for t in range(n):
        special = max(special, bits[t] & 0x7F800000)
    if special == 0x7F800000:
        return False
    U = we.shape[1]
    out = full if sub.size else y.reshape(y.size)
    s0, s1, s2 = buf[offs[0]:offs[0] + U], buf[offs[1]:offs[1] + U], buf[offs[2]:offs[2] + U]
    s3, s4, s5 = buf[offs[3]:offs[3] + U], buf[offs[4]:offs[4] + U], buf[offs[5]:offs[5] + U]
    s6, s7, s8 = buf[offs[6]:offs[6] + U], buf[offs[7]:offs[7] + U], buf[offs[8]:offs[8] + U]
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = we[0], we[1], we[2], we[3], we[4], we[5], we[6], we[7], we[8]
    for u in range(U):  # three independent chains of FMAs (one chain of nine is latency-bound)
        a = w0[u] * s0[u] + w1[u] * s1[u] + w2[u] * s2[u]
        b = w3[u] * s3[u] + w4[u] * s4[u] + w5[u] * s5[u]
        c = w6[u] * s6[u] + w7[u] * s7[u] + w8[u] * s8[u]
        out[u] = min(max(a + b + c + be[u], lo), hi)
    if sub.size:
        yf = y.reshape(y.size)
        for v in range(sub.size):
            yf[v] = full[sub[v]]
    return True


class TinyDepthwisePlan:
    """A 3x3 depthwise layer on small planes (see _depthwise_tiny), with the general plan behind it
    for inputs that are not all finite."""

    __slots__ = ("mult", "G", "offs", "we", "be", "lo", "hi", "sub", "nbuf", "nfull", "out", "exact", "_pool")

    def __init__(self, mult, G, offs, we, be, lo, hi, sub, nbuf, nfull, out, exact):
        self.mult, self.G, self.offs, self.we, self.be = mult, G, offs, we, be
        self.lo, self.hi, self.sub, self.nbuf, self.nfull, self.out = np.float32(lo), np.float32(hi), sub, nbuf, nfull, out
        self.exact = exact
        self._pool: list[tuple[np.ndarray, np.ndarray]] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x float32 [N, C, H, W] C-contiguous -> y [N, O, Ho, Wo]."""
        y = np.empty((x.shape[0], *self.out), np.float32)
        pool = self._pool
        buf, full = pool.pop() if pool else (np.zeros(self.nbuf, np.float32), np.empty(self.nfull, np.float32))
        for n in range(x.shape[0]):
            if not _depthwise_tiny(x[n], self.mult, self.G, self.offs, self.we, self.be, self.lo, self.hi, self.sub,
                                   buf, full, y[n]):
                y[n] = self.exact(x[n:n + 1])[0]
        pool.append((buf, full))
        return y


TINY_CELLS = 8192  # channels x input cells up to which the flat pass wins (its expanded weights, 9 floats
# per cell, stay in L2: measured on the 2-core target, 256x4x4 19 -> 4 us, 128x8x8 14 -> 6 us)


def tiny_depthwise_plan(w: np.ndarray, bias: np.ndarray, lo, hi, C: int, H: int, W: int, strides: tuple[int, int],
                        dilations: tuple[int, int], pads: tuple[int, int], out: tuple[int, int],
                        exact) -> TinyDepthwisePlan | None:
    """The flat-pass plan for 3x3 depthwise weights ``w`` [O, 3, 3] on [C, H, W] inputs, or None when
    the layer is not 3x3, too large (TINY_CELLS), or its outputs are not on the input grid (an output
    row or column past the input's). ``exact``: the plan for inputs that are not all finite."""
    O, kh, kw = w.shape
    (sh, sw), (dh, dw), (ph, pw), (Ho, Wo) = strides, dilations, pads, out
    if (kh, kw) != (3, 3) or O * H * W > TINY_CELLS or (Ho - 1) * sh >= H or (Wo - 1) * sw >= W:
        return None
    HW, U = H * W, O * H * W
    i, j = np.divmod(np.arange(HW), W)  # each output cell of the stride-1 grid
    we, shifts = np.zeros((9, U), np.float32), []
    for b in range(3):
        for e in range(3):
            r, c = i + b * dh - ph, j + e * dw - pw  # the input cell tap (b, e) reads
            valid = (r >= 0) & (r < H) & (c >= 0) & (c < W)
            we[b * 3 + e] = (w[:, b, e, None] * valid[None, :]).reshape(-1)  # zero: padding
            shifts.append((b * dh - ph) * W + (e * dw - pw))
    G = max(abs(s) for s in shifts)
    offs = np.array([G + s for s in shifts], np.int64)
    be = np.repeat(np.asarray(bias, np.float32), HW)
    if (sh, sw, Ho, Wo) == (1, 1, H, W):
        sub = np.zeros(0, np.int64)
    else:
        oc, oh, ow = np.meshgrid(np.arange(O), np.arange(Ho) * sh, np.arange(Wo) * sw, indexing="ij")
        sub = (oc * HW + oh * W + ow).reshape(-1).astype(np.int64)
    return TinyDepthwisePlan(O // C, G, offs, we, be, lo, hi, sub, G + U + G, U if sub.size else 0, (O, Ho, Wo),
                             exact)


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
                a = w0 * (buf[i00 + ow] if m0 else z) + w1 * (buf[i01 + ow] if m1 else z) + \
                    w2 * (buf[i02 + ow] if m2 else z)
                b = w3 * (buf[i10 + ow] if m0 else z) + w4 * (buf[i11 + ow] if m1 else z) + \
                    w5 * (buf[i12 + ow] if m2 else z)
                c = w6 * (buf[i20 + ow] if m0 else z) + w7 * (buf[i21 + ow] if m1 else z) + \
                    w8 * (buf[i22 + ow] if m2 else z)
                yf[d + ow] = min(max(a + b + c + bo, lo), hi)


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
    return np.minimum(np.maximum(y, np.float32(lo)), np.float32(hi))
