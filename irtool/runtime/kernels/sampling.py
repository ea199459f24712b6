"""Sampling an image at given places and folding patches back into one: GridSample (opset9) and
Col2Im (opset15), with the semantics of OpenVINO's CPU plugin.

numpy gathers: every tap of every output point is one fancy-indexed read of all channels at once
(``data[n, :, y, x]``), and Col2Im is one strided add per kernel position, so the kernel is its own
reference.
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.registry import kernel


# ------------------------------------------------------------------------------------------- GridSample
def _unnormalize(coord: np.ndarray, size: int, align_corners: bool) -> np.ndarray:
    """[-1, 1] -> pixel coordinates: the extreme pixels' centres (align_corners) or their outer edges.
    The CPU plugin's FMA forms, each rounded once to f32 (an f32 product is exact in f64):
    ``g*(size-1)/2 + (size-1)/2``, or ``(g*size + size)*0.5 - 0.5``: at exact halves (nearest mode
    rounds them to even) ``((g + 1)*size - 1)/2`` in plain f32 steps lands one ulp off (measured)."""
    g = coord.astype(np.float64)
    if align_corners:
        half = float(np.float32((size - 1) / 2))
        return (g * half + half).astype(np.float32)
    scaled = (g * size + size).astype(np.float32).astype(np.float64)
    return (scaled * 0.5 - 0.5).astype(np.float32)


def _pad_index(idx: np.ndarray, size: int, padding_mode: str, align_corners: bool):
    """An integer tap index -> (an index inside the image, whether it reads the image at all).
    Reflection folds the index itself (the CPU plugin's integer reflection, as its reference's)."""
    if padding_mode == "zeros":
        inside = (idx >= 0) & (idx < size)
        return np.clip(idx, 0, size - 1), inside
    if padding_mode == "border":
        return np.clip(idx, 0, size - 1), None
    if align_corners:  # period 2(size-1): the edge pixels are not repeated
        period = 1 if size == 1 else 2 * (size - 1)
        idx = np.abs(idx) % period
        return np.where(idx >= size, period - idx, idx), None
    period = 2 * size  # the edge pixels are repeated: ... 1 0 | 0 1 ... size-1 | size-1 ...
    idx = idx % period
    return np.where(idx >= size, period - 1 - idx, idx), None


def _taps(data, n_idx, yi, xi, padding_mode, align_corners):
    """``data[n, :, y, x]`` for integer tap positions of shape [N, Ho, Wo]: [N, Ho, Wo, C], zero where
    the tap falls outside under zeros padding."""
    h, w = data.shape[2], data.shape[3]
    y, ym = _pad_index(yi, h, padding_mode, align_corners)
    x, xm = _pad_index(xi, w, padding_mode, align_corners)
    values = data[n_idx, :, y, x]
    if ym is not None:
        values = values * (ym & xm)[..., None]
    return values


def _fma(a, b, c) -> np.ndarray:
    """a*b + c rounded once to f32 as an FMA instruction does (an f32 product is exact in f64)."""
    return (np.asarray(a, np.float64) * b + c).astype(np.float32)


def _cubic_weights(d: np.ndarray) -> list[np.ndarray]:
    """The four weights (a = -0.75, PyTorch's and ONNX's cubic) of the taps at -1, 0, 1, 2 for the
    fraction ``d``, in the CPU plugin's FMA steps: ``-0.75 d (1 - d)^2``, ``(1.25 d - 2.25) d^2 + 1``,
    ``((1.5 - 1.25 d) d + 0.75) d``, ``-0.75 d^2 (1 - d)``. Integer outputs truncate the sum, so
    the order of its roundings decides some of them."""
    f = np.float32
    w0 = (_fma(d, d, _fma(-d, f(2), f(1))) * d) * f(-0.75)
    w1 = _fma(_fma(d, f(1.25), f(-2.25)) * d, d, f(1))
    w2 = _fma(_fma(-d, f(1.25), f(1.5)), d, f(0.75)) * d
    t = (f(-0.75) * d) * d
    w3 = _fma(-t, d, t)
    return [w0, w1, w2, w3]


@kernel("GridSample", versions=("opset9",))
def grid_sample(data, grid, *, align_corners: bool = False, mode: str = "bilinear", padding_mode: str = "zeros"):
    """``data`` [N, C, H, W] read at ``grid`` [N, Ho, Wo, 2] (x, y in [-1, 1]): out [N, C, Ho, Wo].
    Coordinates are computed in f32 like the CPU plugin's; bilinear and bicubic taps are padded
    one by one (zeros: out-of-image taps weigh nothing; border: clamped; reflection: folded)."""
    mode, padding_mode = mode.lower(), padding_mode.lower()
    work = data.astype(np.float32) if data.dtype != np.float32 else data
    g = grid.astype(np.float32)
    n, c, h, w = work.shape
    x = _unnormalize(g[..., 0], w, align_corners)
    y = _unnormalize(g[..., 1], h, align_corners)
    n_idx = np.arange(n).reshape(n, 1, 1)
    with np.errstate(invalid="ignore"):
        if mode == "nearest":  # round half to even (lrint under FE_TONEAREST)
            xi, yi = np.rint(x).astype(np.int64), np.rint(y).astype(np.int64)
            out = _taps(work, n_idx, yi, xi, padding_mode, align_corners)
        else:
            x0, y0 = np.floor(x), np.floor(y)
            dx, dy = (x - x0)[..., None], (y - y0)[..., None]
            xi, yi = x0.astype(np.int64), y0.astype(np.int64)
            if mode == "bilinear":  # the plugin's FMAs: q = dx*v1 - (dx*v0 - v0), q0 + dy*(q1 - q0)
                def row(j):
                    v0 = _taps(work, n_idx, yi + j, xi, padding_mode, align_corners)
                    v1 = _taps(work, n_idx, yi + j, xi + 1, padding_mode, align_corners)
                    return _fma(v1, dx, -_fma(v0, dx, -v0))
                q0, q1 = row(0), row(1)
                out = _fma(q1 - q0, dy, q0)
            else:  # bicubic over the 4x4 taps from (y0 - 1, x0 - 1), rows first, as the plugin's FMAs
                cx, cy = _cubic_weights(dx), _cubic_weights(dy)
                out = np.zeros(dx.shape[:-1] + (c,), np.float32)
                for j in range(4):
                    taps = [_taps(work, n_idx, yi + j - 1, xi + i - 1, padding_mode, align_corners) for i in range(4)]
                    line = taps[0] * cx[0]
                    for i in range(1, 4):
                        line = _fma(taps[i], cx[i], line)
                    out = _fma(line, cy[j], out)
    out = np.ascontiguousarray(np.moveaxis(np.asarray(out, np.float32), -1, 1))
    if data.dtype.kind in "iu":  # measured: 8-bit data rounds to nearest and saturates, wider truncates
        if data.dtype.itemsize == 1:
            info = np.iinfo(data.dtype)
            return np.clip(np.rint(out), info.min, info.max).astype(data.dtype)
        return np.trunc(out).astype(data.dtype)
    return out.astype(data.dtype, copy=False)


# ------------------------------------------------------------------------------------------- Col2Im
@kernel("Col2Im", versions=("opset15",))
def col2im(data, output_size, kernel_size, *, strides: list[int] = (1, 1), dilations: list[int] = (1, 1),
           pads_begin: list[int] = (0, 0), pads_end: list[int] = (0, 0)):
    """Sliding blocks back into an image (PyTorch's fold): ``data`` [N, C*kh*kw, L] (or without N),
    each column one block; overlapping elements add up (into the padded image), the padding is cut
    off. Out [N, C, H, W]."""
    batched = data.ndim == 3
    cols = data if batched else data[None]
    oh, ow = (int(v) for v in np.asarray(output_size).reshape(-1))
    kh, kw = (int(v) for v in np.asarray(kernel_size).reshape(-1))
    sh, sw = strides
    dh, dw = dilations
    ph, pw = pads_begin
    n, ckk, length = cols.shape
    c = ckk // (kh * kw)
    bh = (oh + ph + pads_end[0] - dh * (kh - 1) - 1) // sh + 1
    bw = (ow + pw + pads_end[1] - dw * (kw - 1) - 1) // sw + 1
    blocks = cols.reshape(n, c, kh, kw, bh, bw)
    acc_type = np.float32 if cols.dtype.kind == "f" and cols.dtype.itemsize < 4 else cols.dtype
    out = np.zeros((n, c, oh + ph + pads_end[0], ow + pw + pads_end[1]), acc_type)  # the padded image
    for i in range(kh):  # one kernel position: its blocks land on distinct pixels, one strided add
        for j in range(kw):
            out[:, :, i * dh:i * dh + bh * sh:sh, j * dw:j * dw + bw * sw:sw] += blocks[:, :, i, j]
    out = out[:, :, ph:ph + oh, pw:pw + ow].astype(cols.dtype)
    return out if batched else out[0]
