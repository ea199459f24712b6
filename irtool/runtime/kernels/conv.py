"""Forward convolutions: Convolution, GroupConvolution (opset1), and the geometry every convolution shares.

Layout NC + 1 to 3 spatial dims. Every kernel runs on a 3-D spatial view (a 1-D conv is D=H=1, a 2-D
conv D=1), so one set of numba kernels serves 1-D, 2-D and 3-D alike. Semantics: OpenVINO's CPU plugin.

Fast paths, f32 throughout (f64 stays f64; f16 computes in f32; integers take the exact reference):
- 2-D Convolution with constant weights (the models' case, specialized at load time in
  ``conv_prepare.py``): the direct FMA kernel of ``conv_direct.py``, which reads shifted windows of the
  (padded, stride-split) input in place, no patch matrix, on every core for layers worth it
  (``threads.PARALLEL_MACS``); small layers take serial kernels there.
- Other Convolution / GroupConvolution with Cin/G > 1: a numba im2col (prange over (n, channel),
  contiguous inner copies) then one BLAS sgemm per sample and group through ``np.matmul``. A 1x1
  unpadded convolution skips im2col (the input is already the patch matrix; strides only subsample it).
- Cin/G == 1 (depthwise, any channel multiplier): a direct numba kernel, prange over (n, out channel),
  each a few long contiguous FMA passes over an L1-resident plane. GroupConvolution is registered as
  ``jit``: in real models it is nearly always depthwise.
- The transposed convolutions are in ``conv_backprop.py``.

Parallel numba kernels are compiled lazily on first use and cached (each costs ~180 ms to load at
start-up, only when a model uses it). Large batches run in chunks so that the im2col buffer stays
under ``_COLS_BYTES``.

Each op has a short numpy reference beside it (sliding window, accumulating in f64 or i64); the tests
hold the kernels to the references and to OpenVINO.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np

from irtool.errors import IRFormatError
from irtool.runtime.kernels._phases import FAST
from irtool.runtime.registry import kernel

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

