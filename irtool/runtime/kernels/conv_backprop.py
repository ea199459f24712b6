"""Transposed convolutions: ConvolutionBackpropData, GroupConvolutionBackpropData (opset1).

Semantics: OpenVINO's CPU plugin (its padding with ``output_shape``: see ``backprop_geometry``).
Layout NC + 1 to 3 spatial dims, on a 3-D spatial view as in ``conv.py``. Floats: a GEMM ``W^T @ x``
(BLAS) to per-output-pixel contributions, then a numba col2im scatter-add (prange over (n, out
channel): no write races), f32 throughout (f64 stays f64, f16 computes in f32); registered as
``gemm_blas``. Integers take the exact numpy reference (scatter, accumulating in i64), which the tests
also hold the fast path to.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from irtool.runtime.kernels.conv import _JIT, _attrs, _compute_dtype, _mode, _per_axis, _to3
from irtool.runtime.registry import kernel


# ------------------------------------------------------------------------------------------ geometry
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
