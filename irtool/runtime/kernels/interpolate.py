"""Interpolate opset1/4/11: nearest, linear, linear_onnx, cubic, bilinear_pillow, bicubic_pillow.

Every mode is separable here: each interpolated axis gets a table of source indices and weights
(``(out, taps)``), and the axes are resampled one after another with ``np.take``. The tables follow
OpenVINO's CPU plugin (the oracle) to the float32 operation:

- source coordinate (``coordinate_transformation_mode``), with ``scale`` the given scale in
  ``scales`` mode and ``out / padded_in`` in ``sizes`` mode; an axis whose scale is 1 or whose size does
  not change maps straight through. ``align_corners`` is ``out * ((in - 1) / (out - 1))``.
- nearest: ``nearest_mode`` rounding (``simple``: ceil when downsampling, else truncation), clipped.
- linear_onnx: the two neighbours of the clipped coordinate (0.5/0.5 at the last pixel).
- cubic: four taps ``floor(x)-1 .. floor(x)+2`` (clipped) with the Keys kernel of ``cube_coeff``.
- linear: taps ``round(x) +- r`` with ``a * max(0, 1 - |a * d|)`` weights normalized to sum 1
  (``a`` = the axis scale with antialias, else 1; ``r`` = 2 upsampling, ``ceil(2 / a)`` otherwise).
  The CPU plugin honours ``antialias`` for 5-D inputs only (up- and downsampling alike); 3-D/4-D
  inputs resample as without it.
- pillow modes: Pillow's Resample.c in double (centre ``(o + 0.5) * in / out`` whatever the
  coordinate mode; bicubic with a = -0.5 whatever ``cube_coeff``), x pass then y pass.
- Input pads (``pads_begin/pads_end``) are zeros added before interpolating.

Interpolate-1 runs as OpenVINO converts it to Interpolate-4: nearest_mode simple, asymmetric
coordinates (align_corners if set; half_pixel for linear unless the input is 4-D with axes {2, 3}
or there are pads), ``linear`` is linear_onnx below rank 5.
"""
from __future__ import annotations

import math

import numpy as np

from irtool.runtime.registry import kernel

_F = np.float32


# ----------------------------------------------------------------------------------------- coordinates
def _source_coords(out_len: int, in_len: int, scale: float, ctm: str) -> np.ndarray:
    """Float32 source coordinate of each output index along one axis."""
    o = np.arange(out_len, dtype=_F)
    s = _F(scale)
    if s == _F(1) or in_len == out_len:
        return o
    if ctm == "half_pixel":
        return (o + _F(0.5)) / s - _F(0.5)
    if ctm == "pytorch_half_pixel":
        return (o + _F(0.5)) / s - _F(0.5) if out_len > 1 else np.zeros(out_len, _F)
    if ctm == "asymmetric":
        return o / s
    if ctm == "tf_half_pixel_for_nn":
        return (o + _F(0.5)) / s
    if ctm == "align_corners":
        return o * (_F(in_len - 1) / _F(out_len - 1)) if out_len > 1 else np.zeros(out_len, _F)
    raise ValueError(f"coordinate_transformation_mode '{ctm}' is not known")


def _round_away(c):
    return np.sign(c) * np.floor(np.abs(c) + _F(0.5))


def _nearest_index(c: np.ndarray, mode: str, downsample: bool) -> np.ndarray:
    if mode == "round_prefer_floor":
        r = np.where(c == np.trunc(c) + _F(0.5), np.floor(c), _round_away(c))
    elif mode == "round_prefer_ceil":
        r = _round_away(c)
    elif mode == "floor":
        r = np.floor(c)
    elif mode == "ceil":
        r = np.ceil(c)
    elif mode == "simple":
        r = np.ceil(c) if downsample else np.trunc(c)
    else:
        raise ValueError(f"nearest_mode '{mode}' is not known")
    return r.astype(np.int64)


# ----------------------------------------------------------------------------------------- tap tables
def _table(mode, in_len, out_len, scale, attrs):
    """(indices (out, taps) int64, weights (out, taps) f32 or None for a pure gather)."""
    ctm = attrs["ctm"]
    c = _source_coords(out_len, in_len, scale, ctm)
    if mode == "nearest":
        idx = np.clip(_nearest_index(c, attrs["nearest_mode"], _F(scale) < 1), 0, in_len - 1)
        return idx[:, None], None
    if mode == "linear_onnx":
        c = np.clip(c, _F(0), _F(in_len - 1))
        i0 = np.minimum(c.astype(np.int64), in_len - 1)
        i1 = np.minimum(i0 + 1, in_len - 1)
        w1, w0 = np.abs(c - i0.astype(_F)), np.abs(c - i1.astype(_F))
        same = i0 == i1
        w0, w1 = np.where(same, _F(0.5), w0), np.where(same, _F(0.5), w1)
        return np.stack([i0, i1], 1), np.stack([w0, w1], 1).astype(_F)
    if mode == "cubic":
        a = _F(attrs["cube_coeff"])
        base = np.floor(c)
        m = np.abs(c - base)
        w = np.stack([a * (m - 1) * (m - 1) * m,
                      ((a + 2) * m - (a + 3)) * m * m + 1,
                      (((-a - 2) * m + (2 * a + 3)) * m - a) * m,
                      -a * m * m * (m - 1)], 1).astype(_F)
        idx = np.clip(base.astype(np.int64)[:, None] + np.arange(-1, 3), 0, in_len - 1)
        return idx, w
    if mode == "linear":
        a = _F(scale) if attrs["antialias"] else _F(1)
        r = 2 if _F(scale) > 1 else int(math.ceil(_F(2) / a))
        centre = _round_away(c).astype(np.int64)
        idx = centre[:, None] + np.arange(-r, r + 1)
        d = c[:, None] - idx.astype(_F)
        w = a * np.maximum(_F(0), _F(1) - np.abs(a * d))
        w = np.where((idx >= 0) & (idx < in_len), w, _F(0))
        total = w.sum(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(total > 0, w / total, _F(0)).astype(_F)
        return np.clip(idx, 0, in_len - 1), w
    if mode in ("bilinear_pillow", "bicubic_pillow"):  # Pillow's Resample.c, in double, as OpenVINO has it
        step = in_len / out_len
        fscale = max(step, 1.0)
        support = (1.0 if mode == "bilinear_pillow" else 2.0) * fscale
        taps = int(math.ceil(support)) * 2 + 1
        centre = (np.arange(out_len) + 0.5) * step
        lo = np.maximum((centre - support + 0.5).astype(np.int64), 0)
        count = np.minimum((centre + support + 0.5).astype(np.int64), in_len) - lo
        k = np.arange(taps)
        m = np.abs((lo[:, None] + k - centre[:, None] + 0.5) / fscale)
        if mode == "bilinear_pillow":
            w = np.where(m < 1, 1 - m, 0.0)
        else:
            a = -0.5  # the CPU plugin's Pillow bicubic ignores cube_coeff
            w = np.where(m < 1, ((a + 2) * m - (a + 3)) * m * m + 1,
                         np.where(m < 2, (((m - 5) * m + 8) * m - 4) * a, 0))
        w = np.where(k < count[:, None], w, 0.0)
        total = w.sum(1, keepdims=True)
        w = w / np.where(total != 0, total, 1)
        return np.clip(lo[:, None] + k, 0, in_len - 1), w
    raise ValueError(f"interpolate mode '{mode}' is not supported")


def _resample_axis(x: np.ndarray, axis: int, idx: np.ndarray, w: np.ndarray | None, fma: bool = False) -> np.ndarray:
    if w is None:
        return np.take(x, idx[:, 0], axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    if fma:  # two taps as the CPU plugin's JIT blends them: fma(x1, w1, x0 * w0), one rounding for the
        # multiply-add (a float32 product is exact in float64); integer outputs show the difference
        x0 = np.take(x, idx[:, 0], axis=axis) * w[:, 0].reshape(shape)
        x1 = np.take(x, idx[:, 1], axis=axis).astype(np.float64) * w[:, 1].reshape(shape)
        return (x1 + x0).astype(_F)
    out = None
    for t in range(idx.shape[1]):
        wt = w[:, t]
        if not wt.any():
            continue
        term = np.take(x, idx[:, t], axis=axis) * wt.reshape(shape)
        out = term if out is None else out + term
    if out is None:
        shape = list(x.shape)
        shape[axis] = idx.shape[0]
        out = np.zeros(shape, _F)
    return out


def _pad(x: np.ndarray, pads_begin, pads_end) -> np.ndarray:
    """Zero pads (negative pads crop)."""
    pb = (list(pads_begin) + [0] * x.ndim)[:x.ndim]
    pe = (list(pads_end) + [0] * x.ndim)[:x.ndim]
    if not any(pb) and not any(pe):
        return x
    x = np.pad(x, [(max(b, 0), max(e, 0)) for b, e in zip(pb, pe)])
    return x[tuple(slice(-min(b, 0), x.shape[i] + min(e, 0)) for i, (b, e) in enumerate(zip(pb, pe)))]


def interpolate(x, axes, out_sizes, scales, mode, *, ctm="half_pixel", nearest_mode="round_prefer_floor",
                antialias=False, cube_coeff=-0.75, pads_begin=(), pads_end=()):
    """Resample padded ``x`` along ``axes`` to ``out_sizes``, source coordinates from ``scales``."""
    mode, ctm, nearest_mode = mode.lower(), ctm.lower(), nearest_mode.lower()
    xp = _pad(np.asarray(x), pads_begin, pads_end)
    y = xp if mode == "nearest" or xp.dtype == _F else xp.astype(_F)
    attrs = {"ctm": ctm, "nearest_mode": nearest_mode, "antialias": antialias and xp.ndim == 5,
             "cube_coeff": cube_coeff}
    order = list(zip(axes, out_sizes, scales))
    if mode in ("bilinear_pillow", "bicubic_pillow", "linear_onnx"):
        # Pillow: the x (last) pass first. linear_onnx too: the CPU plugin blends each row's left/right
        # pair first, then top/bottom (then front/end), each with an FMA (``_resample_axis``); the
        # rounding shows in integer outputs (u8 231.49998 -> 231 against OpenVINO's 231.5 -> 232)
        order = sorted(order, key=lambda t: -t[0])
    for axis, size, scale in order:
        in_len = y.shape[axis]
        if in_len == size:  # every mode maps an unchanged axis straight through
            continue
        idx, w = _table(mode, in_len, int(size), scale, attrs)
        y = _resample_axis(y, axis, idx, w, fma=mode == "linear_onnx")
    if y.dtype != x.dtype:
        y = np.round(y).astype(x.dtype) if x.dtype.kind in "iu" else y.astype(x.dtype)
    return y


def _axes(axes, rank: int) -> list[int]:
    return [int(a) + rank if int(a) < 0 else int(a) for a in np.asarray(axes).reshape(-1)]


def _sizes_and_scales(padded_shape, axes, values, by_scales: bool):
    values = np.asarray(values).reshape(-1)
    if by_scales:
        scales = [_F(v) for v in values[:len(axes)]]
        sizes = [int(_F(padded_shape[a]) * (s + _F(1e-6))) if s != _F(1) else padded_shape[a]
                 for a, s in zip(axes, scales)]
    else:
        sizes = [int(v) for v in values[:len(axes)]]
        scales = [_F(s) / _F(padded_shape[a]) for a, s in zip(axes, sizes)]
    return sizes, scales


def _padded_shape(shape, pads_begin, pads_end):
    pb = (list(pads_begin) + [0] * len(shape))[:len(shape)]
    pe = (list(pads_end) + [0] * len(shape))[:len(shape)]
    return [d + b + e for d, b, e in zip(shape, pb, pe)]


# ----------------------------------------------------------------------------------------- kernels
@kernel("Interpolate", versions=("opset1",))
def interpolate_v1(x, target_shape, *, axes: list[int], mode: str, align_corners: bool = False,
                   antialias: bool = False, pads_begin: list[int] = (), pads_end: list[int] = ()):
    rank = x.ndim
    axes = _axes(axes, rank)
    mode = mode.lower()
    if mode == "linear":
        mode = "linear_onnx" if rank < 5 else "linear"
    elif mode not in ("nearest", "cubic", "linear_onnx"):
        raise ValueError(f"Interpolate-1 mode '{mode}' is not supported")
    sizes = [int(v) for v in np.asarray(target_shape).reshape(-1)[:len(axes)]]
    ctm = "asymmetric"
    if align_corners:
        ctm = "align_corners"
    elif (mode in ("linear", "linear_onnx") and not any(pads_begin) and not any(pads_end)
          and not (rank == 4 and sorted(axes) == [2, 3])):
        ctm = "half_pixel"
    padded = _padded_shape(x.shape, pads_begin, pads_end)
    scales = [_F(s) / _F(padded[a]) for a, s in zip(axes, sizes)]  # the CPU plugin recomputes them padded
    return interpolate(x, axes, sizes, scales, mode, ctm=ctm, nearest_mode="simple", antialias=antialias,
                       pads_begin=pads_begin, pads_end=pads_end)


def _v4_like(x, sizes_in, scales_in, axes_in, mode, shape_calculation_mode, ctm, nearest_mode, antialias,
             pads_begin, pads_end, cube_coeff):
    axes = _axes(axes_in, x.ndim) if axes_in is not None else list(range(x.ndim))
    padded = _padded_shape(x.shape, pads_begin, pads_end)
    by_scales = shape_calculation_mode.lower() == "scales"
    sizes, scales = _sizes_and_scales(padded, axes, scales_in if by_scales else sizes_in, by_scales)
    return interpolate(x, axes, sizes, scales, mode, ctm=ctm, nearest_mode=nearest_mode, antialias=antialias,
                       cube_coeff=cube_coeff, pads_begin=pads_begin, pads_end=pads_end)


@kernel("Interpolate", versions=("opset4",))
def interpolate_v4(x, sizes, scales, axes=None, *, mode: str, shape_calculation_mode: str,
                   coordinate_transformation_mode: str = "half_pixel", nearest_mode: str = "round_prefer_floor",
                   antialias: bool = False, pads_begin: list[int] = (), pads_end: list[int] = (),
                   cube_coeff: float = -0.75):
    return _v4_like(x, sizes, scales, axes, mode, shape_calculation_mode, coordinate_transformation_mode,
                    nearest_mode, antialias, pads_begin, pads_end, cube_coeff)


@kernel("Interpolate", versions=("opset11",))
def interpolate_v11(x, scales_or_sizes, axes=None, *, mode: str, shape_calculation_mode: str,
                    coordinate_transformation_mode: str = "half_pixel", nearest_mode: str = "round_prefer_floor",
                    antialias: bool = False, pads_begin: list[int] = (), pads_end: list[int] = (),
                    cube_coeff: float = -0.75):
    return _v4_like(x, scales_or_sizes, scales_or_sizes, axes, mode, shape_calculation_mode,
                    coordinate_transformation_mode, nearest_mode, antialias, pads_begin, pads_end, cube_coeff)
