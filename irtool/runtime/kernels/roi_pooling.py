"""Region pooling of detectors: ROIPooling (opset2), PSROIPooling (opset1), DeformablePSROIPooling (opset1).

Regions come as rows ``[batch, x0, y0, x1, y1]`` (the batch index a float). numpy is the kernel and
its own reference: ROIPooling ``max`` takes each region's bins as two passes of maxima over its
crop (columns, then rows); PSROIPooling ``average`` reads bin sums off an integral image (float64);
the bilinear forms gather their taps for all regions at once. Float32 as OpenVINO's CPU plugin
computes, in its order of operations.

OpenVINO's CPU plugin is the oracle; the semantics kept here are its own:

ROIPooling
- ``max``: corners ``round(c * spatial_scale)`` (halves away from zero), a region at least 1 x 1
  cell, bin ``i`` of ``n`` rows ``[floor(i * h / n), ceil((i + 1) * h / n))`` from its top, clipped to
  the map; an empty bin is 0.
- ``bilinear``: the corners are fractions of the map (``spatial_scale`` unused); one sample a bin,
  ``y = y0 * (H - 1) + i * (y1 - y0) * (H - 1) / (n - 1)`` (the last bin ``y1 * (H - 1)``, a single bin
  the middle); a sample outside the map is 0.
- regions end at the first batch index -1: those after it are 0.

PSROIPooling (output ``[R, output_dim, group_size, group_size]``)
- ``average``: corners ``round(x0) * scale`` and ``round(x1 + 1) * scale``, the size at least 0.1; bin
  rows ``[floor(i * size / g + y0), ceil((i + 1) * size / g + y0))`` clipped to the map; output channel
  ``c`` at bin ``(i, j)`` is the mean of input channel ``(c * g + i) * g + j``; an empty bin is 0.
- ``bilinear``: corners ``x * scale``; the region cut into ``spatial_bins_y x spatial_bins_x``
  boxes, box ``(by, bx)`` read from input channel ``c + (by * bins_x + bx) * output_dim`` at the
  ``g x g`` points spread over it as in ROIPooling's bilinear form; output: the sum over the boxes of
  the samples inside the map, divided by the number of boxes.
- regions end at the first batch index -1: those after it are 0.

DeformablePSROIPooling (``bilinear_deformable``, output ``[R, output_dim, group_size, group_size]``)
- corners ``round(x0) * scale - 0.5`` and ``(round(x1) + 1) * scale - 0.5``, the size at least 0.1;
  ``spatial_bins_y x spatial_bins_x`` samples a bin starting at its corner, shifted by
  ``offset * trans_std * region size`` (offsets ``[R, 2 * classes, part_size, part_size]``, x then y
  per class; class ``c // (output_dim / classes)``, part ``i * part_size // group_size``); samples
  beyond half a cell outside the map are skipped, the others clamped to it; the mean of the samples
  taken (0 without any) from input channel ``(c * g + i) * g + j``.
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.registry import kernel

F32 = np.float32


def _round(x: np.ndarray) -> np.ndarray:
    """``std::round`` of float32 values: halves away from zero (exact in float64)."""
    x = np.asarray(x, np.float64)
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


def _regions(data, rois) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """float32 maps [N, C, H, W], float32 regions [R, 5], their batch indices, how many are real
    (before the first batch index -1)."""
    if np.ndim(data) != 4:
        raise ValueError(f"the feature maps must be 4-D [N, C, H, W], got {list(np.shape(data))}")
    x = np.asarray(data, F32)
    r = np.asarray(rois, F32)
    if r.ndim != 2 or r.shape[1] != 5:
        raise ValueError(f"the regions must be [R, 5], got {list(r.shape)}")
    b = r[:, 0].astype(np.int64)
    real = int(np.argmax(b == -1)) if np.any(b == -1) else len(r)
    if np.any((b[:real] < 0) | (b[:real] >= x.shape[0])):
        raise ValueError(f"a region's batch index is outside [0, {x.shape[0]}): {b[:real].tolist()}")
    return x, r, b, real


def _bilinear_points(start: np.ndarray, end: np.ndarray, size: int, pooled: int) -> np.ndarray:
    """ROIPooling bilinear's sample positions [R, pooled] along one axis, in cells, from fractional
    corners ``start``, ``end`` [R]."""
    n1 = F32(size - 1)
    if pooled == 1:  # the middle, computed in double (0.5 is a double literal there)
        return (0.5 * (start.astype(np.float64) + end) * float(size - 1)).astype(F32)[:, None]
    scale = ((end - start) * n1) / F32(pooled - 1)
    pos = np.arange(pooled, dtype=F32)[None, :] * scale[:, None] + (start * n1)[:, None]
    pos[:, -1] = end * n1  # the last one exactly at the end
    return pos


def _interpolate(plane, y: np.ndarray, x: np.ndarray, H: int, W: int) -> np.ndarray:
    """``top + (bottom - top) * dy`` with ``top = tl + (tr - tl) * dx`` at float32 points (y, x) of an
    H x W map, ``plane(rows, cols)`` reading its values; 0 outside the map."""
    inside = (y >= 0) & (y <= F32(H - 1)) & (x >= 0) & (x <= F32(W - 1))
    ys, xs = np.where(inside, y, F32(0)), np.where(inside, x, F32(0))
    top, left = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    bottom, right = np.minimum(np.ceil(ys).astype(np.int64), H - 1), np.minimum(np.ceil(xs).astype(np.int64), W - 1)
    dx, dy = xs - left.astype(F32), ys - top.astype(F32)
    tl, tr, bl, br = plane(top, left), plane(top, right), plane(bottom, left), plane(bottom, right)
    t = tl + (tr - tl) * dx
    b = bl + (br - bl) * dx
    return np.where(inside, t + (b - t) * dy, F32(0))


# ------------------------------------------------------------------------------------------ ROIPooling
def _max_bins(start: np.ndarray, end: np.ndarray, pooled: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """ROIPooling max's bins along one axis, [R, pooled] starts and ends, clipped to [0, size]."""
    length = np.maximum(end - start + 1, 1)[:, None]
    i = np.arange(pooled)[None, :]
    lo = (i * length) // pooled
    hi = -((-(i + 1) * length) // pooled)
    return np.clip(lo + start[:, None], 0, size), np.clip(hi + start[:, None], 0, size)


def _roi_max(x, r, b, real, pooled_h, pooled_w, spatial_scale) -> np.ndarray:
    N, C, H, W = x.shape
    out = np.zeros((len(r), pooled_h, pooled_w, C), F32)
    corners = _round(r[:real, 1:5] * F32(spatial_scale)).astype(np.int64)
    hs, he = _max_bins(corners[:, 1], corners[:, 3], pooled_h, H)
    ws, we = _max_bins(corners[:, 0], corners[:, 2], pooled_w, W)
    last = x.transpose(0, 2, 3, 1)  # channels last: the maxima run over contiguous rows of channels
    for n in range(real):
        rows = [i for i in range(pooled_h) if he[n, i] > hs[n, i]]
        cols = [j for j in range(pooled_w) if we[n, j] > ws[n, j]]
        if not rows or not cols:
            continue
        h0, h1 = hs[n, rows].min(), he[n, rows].max()
        crop = np.ascontiguousarray(last[b[n], h0:h1, ws[n, cols].min():we[n, cols].max()])
        w0 = ws[n, cols].min()
        by_col = np.stack([crop[:, ws[n, j] - w0:we[n, j] - w0].max(axis=1) for j in cols], axis=1)  # [h, cols, C]
        for i in rows:
            out[n, i, cols] = by_col[hs[n, i] - h0:he[n, i] - h0].max(axis=0)
    return out.transpose(0, 3, 1, 2)


def _roi_bilinear(x, r, b, real, pooled_h, pooled_w) -> np.ndarray:
    N, C, H, W = x.shape
    out = np.zeros((len(r), C, pooled_h, pooled_w), F32)
    if real == 0:
        return out
    c = r[:real]
    y = _bilinear_points(c[:, 2], c[:, 4], H, pooled_h)[:, :, None]  # [R, ph, 1]
    xs = _bilinear_points(c[:, 1], c[:, 3], W, pooled_w)[:, None, :]  # [R, 1, pw]
    y, xs = np.broadcast_arrays(y, xs)
    plane = (b[:real, None, None, None] * C + np.arange(C)[None, :, None, None]) * (H * W)
    flat = x.reshape(-1)
    val = _interpolate(lambda i, j: np.take(flat, plane + i * W + j), y[:, None], xs[:, None], H, W)
    out[:real] = val
    return out


@kernel("ROIPooling", versions=("opset2",))
def roi_pooling(data, rois, *, pooled_h: int, pooled_w: int, spatial_scale: float, method: str = "max"):
    """[R, C, pooled_h, pooled_w]: each region's bins, their maximum or a bilinear sample."""
    x, r, b, real = _regions(data, rois)
    if method == "max":
        out = _roi_max(x, r, b, real, pooled_h, pooled_w, spatial_scale)
    elif method == "bilinear":
        out = _roi_bilinear(x, r, b, real, pooled_h, pooled_w)
    else:
        raise ValueError(f"ROIPooling method '{method}' is not max or bilinear")
    return out.astype(np.asarray(data).dtype, copy=False)


# ------------------------------------------------------------------------------------------ PSROIPooling
def _ps_average(x, r, b, real, output_dim, g, spatial_scale) -> np.ndarray:
    N, C, H, W = x.shape
    out = np.zeros((len(r), output_dim, g, g), F32)
    if real == 0:
        return out
    scale = F32(spatial_scale)
    c = r[:real]
    x0, y0 = _round(c[:, 1]).astype(F32) * scale, _round(c[:, 2]).astype(F32) * scale
    x1 = _round(c[:, 3] + F32(1)).astype(F32) * scale
    y1 = _round(c[:, 4] + F32(1)).astype(F32) * scale
    bin_w = np.maximum(x1 - x0, F32(0.1)) / F32(g)
    bin_h = np.maximum(y1 - y0, F32(0.1)) / F32(g)
    i = np.arange(g, dtype=F32)[None, :]
    hs = np.clip(np.floor(i * bin_h[:, None] + y0[:, None]), 0, H).astype(np.int64)  # [R, g]
    he = np.clip(np.ceil((i + 1) * bin_h[:, None] + y0[:, None]), 0, H).astype(np.int64)
    ws = np.clip(np.floor(i * bin_w[:, None] + x0[:, None]), 0, W).astype(np.int64)
    we = np.clip(np.ceil((i + 1) * bin_w[:, None] + x0[:, None]), 0, W).astype(np.int64)
    integral = np.zeros((N, C, H + 1, W + 1), np.float64)
    integral[:, :, 1:, 1:] = x.cumsum(axis=2, dtype=np.float64).cumsum(axis=3)
    ch = (np.arange(output_dim)[:, None, None] * g + np.arange(g)[None, :, None]) * g + np.arange(g)[None, None, :]
    bb = b[:real, None, None, None]
    hs, he = hs[:, None, :, None], he[:, None, :, None]
    ws, we = ws[:, None, None, :], we[:, None, None, :]
    total = ((integral[bb, ch, he, we] - integral[bb, ch, hs, we])
             - (integral[bb, ch, he, ws] - integral[bb, ch, hs, ws]))
    area = ((he - hs) * (we - ws)).astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:real] = np.where(area > 0, total.astype(F32) / area, F32(0))
    return out


def _ps_bilinear(x, r, b, real, output_dim, g, spatial_scale, bins_x, bins_y) -> np.ndarray:
    N, C, H, W = x.shape
    out = np.zeros((len(r), output_dim, g, g), F32)
    if real == 0:
        return out
    scale = F32(spatial_scale)
    c = r[:real] * scale
    x0, y0, roi_w, roi_h = c[:, 1], c[:, 2], c[:, 3] - c[:, 1], c[:, 4] - c[:, 2]
    acc = np.zeros((real, output_dim, g, g), F32)
    flat = x.reshape(-1)
    dim = np.arange(output_dim)[None, :, None, None]
    for by in range(bins_y):
        top, bottom = y0 + F32(by) * (roi_h / F32(bins_y)), y0 + F32(by + 1) * (roi_h / F32(bins_y))
        ys = _box_points(top, bottom, H, g)  # [R, g]
        for bx in range(bins_x):
            left, right = x0 + F32(bx) * (roi_w / F32(bins_x)), x0 + F32(bx + 1) * (roi_w / F32(bins_x))
            xs = _box_points(left, right, W, g)
            plane = (b[:real, None, None, None] * C + dim + (by * bins_x + bx) * output_dim) * (H * W)
            y, xx = np.broadcast_arrays(ys[:, None, :, None], xs[:, None, None, :])
            val = _interpolate(lambda i, j, p=plane: np.take(flat, p + i * W + j), y, xx, H, W)
            acc += val
    out[:real] = acc / F32(bins_x * bins_y)
    return out


def _box_points(lo: np.ndarray, hi: np.ndarray, size: int, g: int) -> np.ndarray:
    """PSROIPooling bilinear's ``g`` sample positions in a box [lo, hi] (map coordinates) along one axis."""
    n1 = F32(size - 1)
    if g == 1:
        return (F32(0.5) * (lo + hi) * n1)[:, None]
    step = (hi - lo) * n1 / F32(g - 1)
    return np.arange(g, dtype=F32)[None, :] * step[:, None] + (lo * n1)[:, None]


@kernel("PSROIPooling", versions=("opset1",))
def psroi_pooling(data, rois, *, output_dim: int, group_size: int, spatial_scale: float, mode: str = "average",
                  spatial_bins_x: int = 1, spatial_bins_y: int = 1):
    """[R, output_dim, group_size, group_size]: position-sensitive pooling (module docstring)."""
    x, r, b, real = _regions(data, rois)
    if mode == "average":
        if x.shape[1] < output_dim * group_size * group_size:
            raise ValueError(f"{x.shape[1]} channels for output_dim {output_dim} x group_size {group_size}^2")
        out = _ps_average(x, r, b, real, output_dim, group_size, spatial_scale)
    elif mode == "bilinear":
        if x.shape[1] < output_dim * spatial_bins_x * spatial_bins_y:
            raise ValueError(f"{x.shape[1]} channels for output_dim {output_dim} x {spatial_bins_x} x "
                             f"{spatial_bins_y} spatial bins")
        out = _ps_bilinear(x, r, b, real, output_dim, group_size, spatial_scale, spatial_bins_x, spatial_bins_y)
    else:
        raise ValueError(f"PSROIPooling mode '{mode}' is not average or bilinear")
    return out.astype(np.asarray(data).dtype, copy=False)


# ------------------------------------------------------------------------------------------ DeformablePSROIPooling
@kernel("DeformablePSROIPooling", versions=("opset1",))
def deformable_psroi_pooling(data, rois, offsets=None, *, output_dim: int, spatial_scale: float, group_size: int = 1,
                             mode: str = "bilinear_deformable", spatial_bins_x: int = 1, spatial_bins_y: int = 1,
                             trans_std: float = 1.0, part_size: int = 1):
    """[R, output_dim, group_size, group_size]: bins sampled where the offsets move them."""
    if mode != "bilinear_deformable":
        raise ValueError(f"DeformablePSROIPooling mode '{mode}' is not bilinear_deformable")
    x, r, b, real = _regions(data, rois)
    N, C, H, W = x.shape
    g = group_size
    if C < output_dim * g * g:
        raise ValueError(f"{C} channels for output_dim {output_dim} x group_size {g}^2")
    out = np.zeros((len(r), output_dim, g, g), F32)
    if real == 0:
        return out.astype(np.asarray(data).dtype, copy=False)
    scale = F32(spatial_scale)
    c = _round(r[:real, 1:5]).astype(F32)
    x0, y0 = c[:, 0] * scale - F32(0.5), c[:, 1] * scale - F32(0.5)
    x1, y1 = (c[:, 2] + F32(1)) * scale - F32(0.5), (c[:, 3] + F32(1)) * scale - F32(0.5)
    roi_w, roi_h = np.maximum(x1 - x0, F32(0.1)), np.maximum(y1 - y0, F32(0.1))
    bin_w, bin_h = roi_w / F32(g), roi_h / F32(g)
    sub_w, sub_h = bin_w / F32(spatial_bins_x), bin_h / F32(spatial_bins_y)
    i = np.arange(g)
    if offsets is None:
        tx = ty = np.zeros((real, output_dim, g, g), F32)
    else:
        t = np.asarray(offsets, F32)
        classes = t.shape[1] // 2 if t.ndim == 4 else 0
        if classes == 0 or t.shape[0] < real or output_dim % classes:
            raise ValueError(f"offsets {list(t.shape)} do not fit {len(r)} regions and output_dim {output_dim}")
        cls = np.arange(output_dim) // (output_dim // classes)
        part = i * part_size // g
        sel = (np.arange(real)[:, None, None, None], cls[None, :, None, None], part[None, None, :, None],
               part[None, None, None, :])
        tx = t[sel[0], 2 * sel[1], sel[2], sel[3]] * F32(trans_std)
        ty = t[sel[0], 2 * sel[1] + 1, sel[2], sel[3]] * F32(trans_std)
    col = (i.astype(F32)[None, None, None, :] * bin_w[:, None, None, None] + x0[:, None, None, None]
           + tx * roi_w[:, None, None, None])  # [R, dim, g, g]: each bin's first sample
    row = (i.astype(F32)[None, None, :, None] * bin_h[:, None, None, None] + y0[:, None, None, None]
           + ty * roi_h[:, None, None, None])
    ch = (np.arange(output_dim)[:, None, None] * g + i[None, :, None]) * g + i[None, None, :]
    plane = (b[:real, None, None, None] * C + ch) * (H * W)  # [R, dim, g, g]: where each bin's channel starts
    flat = x.reshape(-1)
    total = np.zeros((real, output_dim, g, g), F32)
    count = np.zeros((real, output_dim, g, g), np.int64)
    for sy in range(spatial_bins_y):
        for sx in range(spatial_bins_x):
            w1 = col + F32(sx) * sub_w[:, None, None, None]
            h1 = row + F32(sy) * sub_h[:, None, None, None]
            ok = (w1 >= -0.5) & (w1 <= W - 0.5) & (h1 >= -0.5) & (h1 <= H - 0.5)
            w1 = np.clip(w1, F32(0), F32(W - 1))
            h1 = np.clip(h1, F32(0), F32(H - 1))
            xl, xr = np.floor(w1).astype(np.int64), np.ceil(w1).astype(np.int64)
            yt, yb = np.floor(h1).astype(np.int64), np.ceil(h1).astype(np.int64)
            dx, dy = w1 - xl.astype(F32), h1 - yt.astype(F32)
            v11, v12 = np.take(flat, plane + yt * W + xl), np.take(flat, plane + yb * W + xl)
            v21, v22 = np.take(flat, plane + yt * W + xr), np.take(flat, plane + yb * W + xr)
            one = F32(1)
            val = ((((one - dx) * (one - dy)) * v11 + ((one - dx) * dy) * v12) + (dx * (one - dy)) * v21) \
                + (dx * dy) * v22
            total += np.where(ok, val, F32(0))
            count += ok
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:real] = np.where(count > 0, total / count.astype(F32), F32(0))
    return out.astype(np.asarray(data).dtype, copy=False)
