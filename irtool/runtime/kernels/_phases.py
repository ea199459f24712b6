"""Inlined helpers of the convolution kernels: zero-padded, stride-phase-split copies of an input
plane (what the kernels read), and the fused bias + clamp step.

With xq[q, p, i, j] = xpad[i*sh + q, j*sw + p], every kernel tap (b, e) over an output window is a dense
block of xq, whatever the strides: inner loops stay contiguous and carry no bounds logic.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always")
def _zero(a):  # pragma: no cover (jit)
    flat = a.reshape(a.size)
    for t in range(flat.size):
        flat[t] = 0


@numba.njit(inline="always")
def _fill_phases(plane, ph, pw, Hp, Wp, xq):  # pragma: no cover (jit)
    """xq[q, p, i, j] = xpad[i*sh + q, j*sw + p] for the padded plane cropped to Hp x Wp, written where
    the plane has data: the padding is the caller's to zero, once for every plane of a call (it is the
    same cells each time). Flat arrays indexed with unsigned offsets: numba then emits no negative-
    index wraparound, so LLVM vectorizes the copies, and no view is made per row (each costs two
    reference-count calls, more than copying a short row). One loop per column stride (a branch on
    it inside the row loop kept LLVM from vectorizing: 3x slower), and the phase and row of each input
    row are stepped, not divided (a division per row costs more than copying it); stride 2 splits each
    row into its two phases in one pass."""
    sh, sw, Hq, Wq = xq.shape
    H, W = plane.shape
    flat, img = xq.reshape(xq.size), plane.reshape(plane.size)
    width = min(W, Wp - pw)
    rows = min(H, Hp - ph)
    q, i = ph % sh, ph // sh
    one = np.uint64(1)
    if sh == 1 and sw == 1 and pw == 0 and width == W == Wq:  # the rows land end to end: one run
        d0 = np.uint64(i * Wq)
        for t in range(np.uint64(rows * W)):
            flat[d0 + t] = img[t]
    elif sw == 1:
        for y in range(rows):
            s0, d0 = np.uint64(y * W), np.uint64((q * Hq + i) * Wq + pw)
            for t in range(np.uint64(width)):
                flat[d0 + t] = img[s0 + t]
            q, i = (0, i + 1) if q + 1 == sh else (q + 1, i)
    elif sw == 2:  # even columns to phase pw % 2, odd ones to the other
        for y in range(rows):
            s0 = np.uint64(y * W)
            ev = np.uint64(((q * 2 + pw % 2) * Hq + i) * Wq + pw // 2)
            od = np.uint64(((q * 2 + (pw + 1) % 2) * Hq + i) * Wq + (pw + 1) // 2)
            for t in range(np.uint64(width // 2)):
                flat[ev + t] = img[s0 + t + t]
                flat[od + t] = img[s0 + t + t + one]
            if width % 2:
                flat[ev + np.uint64(width // 2)] = img[s0 + np.uint64(width - 1)]
            q, i = (0, i + 1) if q + 1 == sh else (q + 1, i)
    else:
        for y in range(rows):
            for p in range(sw):  # phase p holds input columns c0, c0 + sw, ... (c0 + pw = p mod sw)
                c0 = (p - pw) % sw
                d0, s0 = np.uint64(((q * sw + p) * Hq + i) * Wq + (c0 + pw) // sw), np.uint64(y * W + c0)
                step = np.uint64(sw)
                for t in range(np.uint64(max(0, (width - c0 + sw - 1) // sw))):
                    flat[d0 + t] = img[s0 + t * step]
            q, i = (0, i + 1) if q + 1 == sh else (q + 1, i)


# fastmath for the float kernels, less the flags that assume no NaN or infinity: NaN in the data must
# give what OpenVINO gives (a ReLU or Clamp turns it into its lower bound), which 'nnan' would not keep
FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}


@numba.njit(inline="always")
def clamp(v, lo, hi):  # pragma: no cover (jit)
    """min(max(v, lo), hi) with NaN -> lo, as OpenVINO's ReLU/Clamp (vmaxps(v, lo) gives lo for NaN)."""
    if not v >= lo:
        return lo
    return hi if v > hi else v


@numba.njit(inline="always")
def _plus_clamped(v, b, has_bias, lo, hi):  # pragma: no cover (jit)
    """``clamp(v (+ b), lo, hi)`` as the Add and ReLU/Clamp layers compute it (NaN -> lo, as in OpenVINO)."""
    if has_bias:
        v = v + b
    if not v >= lo:
        v = lo
    if v > hi:
        v = hi
    return v
