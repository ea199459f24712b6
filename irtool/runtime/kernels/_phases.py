"""Inlined helpers of the convolution kernels: zero-padded, stride-phase-split copies of an input
plane (what the kernels read), and the fused bias + clamp step.

With xq[q, p, i, j] = xpad[i*sh + q, j*sw + p], every kernel tap (b, e) over an output window is a dense
block of xq, whatever the strides: inner loops stay contiguous and carry no bounds logic.
"""
from __future__ import annotations

import numba


@numba.njit(inline="always")
def _zero(a):  # pragma: no cover (jit)
    flat = a.reshape(a.size)
    for t in range(flat.size):
        flat[t] = 0


@numba.njit(inline="always")
def _fill_phases(plane, ph, pw, Hp, Wp, xq):  # pragma: no cover (jit)
    """xq[q, p, i, j] = xpad[i*sh + q, j*sw + p] for the padded plane cropped to Hp x Wp, written where
    the plane has data: the padding is the caller's to zero, once for every plane of a call (it is the
    same cells each time). Rows are 1-D slices of flat views indexed from 0: numba types them
    C-contiguous and drops its negative-index checks, so LLVM vectorizes the copies. One loop per
    column stride (a branch on it inside the row loop kept LLVM from vectorizing: 3x slower), and the
    phase and row of each input row are stepped, not divided (a division per row costs more than
    copying it); stride 2 splits each row into its two phases in one pass."""
    sh, sw, Hq, Wq = xq.shape
    H, W = plane.shape
    flat, img = xq.reshape(xq.size), plane.reshape(plane.size)
    width = min(W, Wp - pw)
    rows = min(H, Hp - ph)
    q, i = ph % sh, ph // sh
    if sw == 1:
        for y in range(rows):
            src, row = img[y * W:y * W + W], flat[(q * Hq + i) * Wq + pw:]
            for t in range(width):
                row[t] = src[t]
            q, i = (0, i + 1) if q + 1 == sh else (q + 1, i)
    elif sw == 2:  # even columns to phase pw % 2, odd ones to the other
        for y in range(rows):
            src = img[y * W:y * W + W]
            ev = flat[((q * 2 + pw % 2) * Hq + i) * Wq + pw // 2:]
            od = flat[((q * 2 + (pw + 1) % 2) * Hq + i) * Wq + (pw + 1) // 2:]
            for t in range(width // 2):
                ev[t] = src[2 * t]
                od[t] = src[2 * t + 1]
            if width % 2:
                ev[width // 2] = src[width - 1]
            q, i = (0, i + 1) if q + 1 == sh else (q + 1, i)
    else:
        for y in range(rows):
            src = img[y * W:y * W + W]
            for p in range(sw):  # phase p holds input columns c0, c0 + sw, ... (c0 + pw = p mod sw)
                c0 = (p - pw) % sw
                row, part = flat[((q * sw + p) * Hq + i) * Wq + (c0 + pw) // sw:], src[c0:]
                for t in range(max(0, (width - c0 + sw - 1) // sw)):
                    row[t] = part[t * sw]
            q, i = (0, i + 1) if q + 1 == sh else (q + 1, i)


@numba.njit(inline="always")
def _plus_clamped(v, b, has_bias, lo, hi):  # pragma: no cover (jit)
    """``clamp(v (+ b), lo, hi)`` as the Add and ReLU/Clamp layers compute it (NaN passes through)."""
    if has_bias:
        v = v + b
    if v < lo:
        v = lo
    if v > hi:
        v = hi
    return v
