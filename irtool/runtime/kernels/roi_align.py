"""Bilinear ROI sampling: ROIAlign (opset3, opset9) and ROIAlignRotated (opset15).

Both pool, for every region and bin, bilinear samples of the feature map: a regular grid of
``sampling_ratio`` (0: ``ceil(bin size)``, per region) samples a side in each bin. numpy is the
kernel and its own reference: the regions are grouped by their grid size, and each group gathers the
four taps of all its samples at once (in chunks, to bound the memory), in float32 as OpenVINO's CPU
plugin computes them.

OpenVINO's CPU plugin is the oracle; the semantics kept here are its own:

- a sample outside ``[-1, W] x [-1, H]`` counts 0 (in the mean too); inside, its coordinates are
  clamped to >= 0 and the taps at the last row/column collapse onto it.
- ROIAlign ``max`` is ``max(0, samples)``, not the spec's maximum of the samples: the CPU node starts
  each bin from 0 (measured: all-negative maps pool to 0). ``avg`` is the sum of the samples times
  ``1 / count``.
- ROIAlign: corners ``(c + offset_src) * spatial_scale + offset_dst`` (opset9 ``half_pixel``: 0.5 and
  -0.5; ``half_pixel_for_nn``: 0 and -0.5; ``asymmetric`` and opset3: 0 and 0); without an aligned
  mode the region is at least 1 x 1. The regions end at the first batch index -1: the CPU node leaves
  the rest of its output unwritten (here 0).
- ROIAlignRotated (OpenVINO's reference, which the CPU node calls): region ``[cx, cy, w, h, angle]``,
  center ``c * spatial_scale - 0.5``, size ``w * spatial_scale`` (no minimum), the grid rotated by
  ``angle`` (``-angle`` with ``clockwise_mode``) about the center; the mean divides every sample by
  the count before adding.
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.registry import kernel

F32 = np.float32
_CHUNK = 1 << 22  # gathered taps per chunk of regions (float32: 16 MiB)


def bilinear_taps(sy: np.ndarray, sx: np.ndarray, H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """The four taps of float32 samples ``(sy, sx)`` on an H x W map as OpenVINO's ROIAlign takes them:
    flat indices and weights ``[..., 4]`` (top-left, top-right, bottom-left, bottom-right); samples
    outside ``[-1, H] x [-1, W]`` get index 0 and weight 0."""
    out = (sx < -1) | (sx > W) | (sy < -1) | (sy > H)
    y = np.where(out, F32(0), np.maximum(sy, F32(0)))
    x = np.where(out, F32(0), np.maximum(sx, F32(0)))
    yl, xl = y.astype(np.int64), x.astype(np.int64)  # truncation: y, x >= 0
    ye, xe = yl >= H - 1, xl >= W - 1  # the last row/column: both taps on it, the sample too
    yl, xl = np.where(ye, H - 1, yl), np.where(xe, W - 1, xl)
    yh, xh = np.where(ye, yl, yl + 1), np.where(xe, xl, xl + 1)
    y, x = np.where(ye, yl.astype(F32), y), np.where(xe, xl.astype(F32), x)
    ly, lx = y - yl.astype(F32), x - xl.astype(F32)
    hy, hx = F32(1) - ly, F32(1) - lx
    weights = np.stack([hy * hx, hy * lx, ly * hx, ly * lx], axis=-1)
    index = np.stack([yl * W + xl, yl * W + xh, yh * W + xl, yh * W + xh], axis=-1)
    weights[out] = 0
    index[out] = 0
    return index, weights


def _pool(maps: np.ndarray, batch: np.ndarray, samples, shape: tuple[int, int, int, int], mode: str) -> np.ndarray:
    """Pool the samples of regions on images ``batch`` [G] of ``maps`` [N, H, W, C] (channels last:
    each tap gathers one contiguous row of channels): [G, C, ph, pw]. ``samples(g0, g1, s0, s1)``
    gives the float32 coordinates (sy, sx) of samples ``s0:s1`` of regions ``g0:g1``, broadcastable to
    [g, ph, pw, s]; ``shape`` is (G, ph, pw, S). ``mode``: "avg" (sum times 1/S), "avg_div" (each
    sample divided by S, then summed), "max" (max of 0 and the samples: the bins start from 0)."""
    N, H, W, C = maps.shape
    rows = maps.reshape(N * H * W, C)
    G, ph, pw, S = shape
    out = np.zeros((G, ph, pw, C), F32)
    if S <= 0 or G == 0:  # a grid of 0 samples: nothing added (OpenVINO's reference)
        return out.transpose(0, 3, 1, 2)
    per_sample = C * ph * pw * 4
    g_step = max(1, _CHUNK // (per_sample * S))
    s_step = S if g_step > 1 else max(1, _CHUNK // per_sample)  # a large grid: its samples in chunks too
    for g0 in range(0, G, g_step):
        g1 = min(G, g0 + g_step)
        acc = out[g0:g1]
        for s0 in range(0, S, s_step):
            sy, sx = np.broadcast_arrays(*samples(g0, g1, s0, min(S, s0 + s_step)))
            index, weights = bilinear_taps(sy, sx, H, W)  # [g, ph, pw, s, 4]
            index += (batch[g0:g1] * (H * W))[:, None, None, None, None]
            taps = np.take(rows, index.reshape(-1), axis=0).reshape(*index.shape, C)  # [g, ph, pw, s, 4, C]
            w = weights[..., None]
            v = ((w[..., 0, :] * taps[..., 0, :] + w[..., 1, :] * taps[..., 1, :]) + w[..., 2, :] * taps[..., 2, :]) \
                + w[..., 3, :] * taps[..., 3, :]  # [g, ph, pw, s, C]
            if mode == "max":
                np.maximum(acc, v.max(axis=3), out=acc)
            elif mode == "avg":
                acc += v.sum(axis=3, dtype=F32)
            else:
                acc += (v / F32(S)).sum(axis=3, dtype=F32)
        if mode == "avg":
            acc *= F32(1) / F32(S)
    return out.transpose(0, 3, 1, 2)


def _grid(start: np.ndarray, bin_size: np.ndarray, pooled: int, ratio: int) -> np.ndarray:
    """Sample coordinates along one axis, [G, pooled, ratio]: ``start + bin * size + step * (0.5 + i)``
    in float32, OpenVINO's order of operations."""
    bins = np.arange(pooled, dtype=F32)[None, :, None]
    steps = (bin_size / F32(ratio))[:, None, None] if ratio else np.zeros((len(start), 1, 1), F32)
    return (start[:, None, None] + bins * bin_size[:, None, None]) + steps * (F32(0.5) + np.arange(ratio, dtype=F32))


def _ratios(bin_w: np.ndarray, bin_h: np.ndarray, sampling_ratio: int) -> tuple[np.ndarray, np.ndarray]:
    if sampling_ratio > 0:
        return np.full(bin_w.shape, sampling_ratio, np.int64), np.full(bin_h.shape, sampling_ratio, np.int64)
    return np.ceil(bin_w).astype(np.int64), np.ceil(bin_h).astype(np.int64)


def _maps(data: np.ndarray) -> np.ndarray:
    """The feature maps [N, C, H, W] as float32 [N, H, W, C] (the CPU node computes f16 maps in f32)."""
    if np.ndim(data) != 4:
        raise ValueError(f"the feature maps must be 4-D [N, C, H, W], got {list(np.shape(data))}")
    return np.ascontiguousarray(np.asarray(data, F32).transpose(0, 2, 3, 1))


def _batches(batch_indices, count: int, N: int, stop_at_minus_one: bool) -> tuple[np.ndarray, int]:
    b = np.asarray(batch_indices).reshape(-1).astype(np.int64)
    if b.size != count:
        raise ValueError(f"{b.size} batch indices for {count} regions")
    real = count
    if stop_at_minus_one and np.any(b == -1):
        real = int(np.argmax(b == -1))
    if np.any((b[:real] < 0) | (b[:real] >= N)):
        raise ValueError(f"a batch index is outside [0, {N}): {b[:real].tolist()}")
    return b, real


def _by_grid(srx: np.ndarray, sry: np.ndarray):
    """Groups of regions with the same sampling grid: (x ratio, y ratio, their indices)."""
    for rx, ry in sorted(set(zip(srx.tolist(), sry.tolist()))):
        yield rx, ry, np.nonzero((srx == rx) & (sry == ry))[0]


@kernel("ROIAlign", versions=("opset3", "opset9"))
def roi_align(data, rois, batch_indices, *, pooled_h: int, pooled_w: int, sampling_ratio: int,
              spatial_scale: float, mode: str, aligned_mode: str = "asymmetric"):
    """[R, C, pooled_h, pooled_w]: each region's bins pooled from bilinear samples (module docstring)."""
    if mode not in ("avg", "max"):
        raise ValueError(f"ROIAlign mode '{mode}' is not avg or max")
    offsets = {"asymmetric": (0.0, 0.0), "half_pixel_for_nn": (0.0, -0.5), "half_pixel": (0.5, -0.5)}
    if aligned_mode not in offsets:
        raise ValueError(f"ROIAlign aligned_mode '{aligned_mode}' is not one of {', '.join(offsets)}")
    maps = _maps(data)
    N, C = maps.shape[0], maps.shape[3]
    r = np.asarray(rois, F32).reshape(-1, 4)
    b, real = _batches(batch_indices, len(r), N, stop_at_minus_one=True)
    src, dst = (F32(v) for v in offsets[aligned_mode])
    corners = (r[:real] + src) * F32(spatial_scale) + dst
    x1, y1 = corners[:, 0], corners[:, 1]
    roi_w, roi_h = corners[:, 2] - x1, corners[:, 3] - y1
    if aligned_mode == "asymmetric":
        roi_w, roi_h = np.maximum(roi_w, F32(1)), np.maximum(roi_h, F32(1))
    bin_w, bin_h = roi_w / F32(pooled_w), roi_h / F32(pooled_h)
    srx, sry = _ratios(bin_w, bin_h, sampling_ratio)
    out = np.zeros((len(r), C, pooled_h, pooled_w), F32)
    for rx, ry, i in _by_grid(srx, sry):
        gx = _grid(x1[i], bin_w[i], pooled_w, rx)  # [G, pw, rx]
        gy = _grid(y1[i], bin_h[i], pooled_h, ry)  # [G, ph, ry]

        def samples(g0, g1, s0, s1, gx=gx, gy=gy, rx=rx):
            iy, ix = np.divmod(np.arange(s0, s1), rx)  # sample s: row s // rx, column s % rx of the grid
            return gy[g0:g1][:, :, None, iy], gx[g0:g1][:, None, :, ix]
        out[i] = _pool(maps, b[i], samples, (len(i), pooled_h, pooled_w, rx * ry), mode)
    return out.astype(np.asarray(data).dtype, copy=False)


@kernel("ROIAlignRotated", versions=("opset15",))
def roi_align_rotated(data, rois, batch_indices, *, pooled_h: int, pooled_w: int, sampling_ratio: int,
                      spatial_scale: float, clockwise_mode: bool = False):
    """[R, C, pooled_h, pooled_w]: the mean of bilinear samples on each region's rotated grid."""
    maps = _maps(data)
    N, C = maps.shape[0], maps.shape[3]
    r = np.asarray(rois, F32).reshape(-1, 5)
    b, _ = _batches(batch_indices, len(r), N, stop_at_minus_one=False)
    scale = F32(spatial_scale)
    cx, cy = r[:, 0] * scale - F32(0.5), r[:, 1] * scale - F32(0.5)
    roi_w, roi_h = r[:, 2] * scale, r[:, 3] * scale
    angle = -r[:, 4] if clockwise_mode else r[:, 4]
    cos, sin = np.cos(angle), np.sin(angle)
    bin_w, bin_h = roi_w / F32(pooled_w), roi_h / F32(pooled_h)
    srx, sry = _ratios(bin_w, bin_h, sampling_ratio)
    out = np.zeros((len(r), C, pooled_h, pooled_w), F32)
    for rx, ry, i in _by_grid(srx, sry):
        gx = _grid(-roi_w[i] / F32(2), bin_w[i], pooled_w, rx)  # in the region's frame, about its center
        gy = _grid(-roi_h[i] / F32(2), bin_h[i], pooled_h, ry)
        c, s, x0, y0 = (v[i][:, None, None, None] for v in (cos, sin, cx, cy))

        def samples(g0, g1, s0, s1, gx=gx, gy=gy, rx=rx, c=c, s=s, x0=x0, y0=y0):
            iy, ix = np.divmod(np.arange(s0, s1), rx)
            py, px = gy[g0:g1][:, :, None, iy], gx[g0:g1][:, None, :, ix]  # [g, ph, 1, s], [g, 1, pw, s]
            k = slice(g0, g1)
            return (py * c[k] - px * s[k]) + y0[k], (py * s[k] + px * c[k]) + x0[k]
        out[i] = _pool(maps, b[i], samples, (len(i), pooled_h, pooled_w, rx * ry), "avg_div")
    return out.astype(np.asarray(data).dtype, copy=False)
