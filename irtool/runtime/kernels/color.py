"""Colour conversion from YUV 4:2:0: NV12toRGB, NV12toBGR, I420toRGB, I420toBGR (opset8).

Layout NHWC. NV12: a Y plane [N, H, W, 1] and an interleaved UV plane [N, H/2, W/2, 2], or one
plane [N, 3H/2, W, 1] holding both. I420: Y, U [N, H/2, W/2, 1] and V planes, or one plane
[N, 3H/2, W, 1] (Y, then U, then V). Output [N, H, W, 3], the input's element type.

The arithmetic is OpenVINO's CPU plugin's (measured on every (y, u, v) triple of u8, and on float
inputs bit for bit): in float32, without fused multiply-adds,
``r = 1.164*(y-16) + 1.596*(v-128)``, ``g = 1.164*(y-16) - 0.391*(u-128) - 0.813*(v-128)``,
``b = 1.164*(y-16) + 2.018*(u-128)``, each clamped to [0, 255]. u8 outputs round half to even (the
JIT's vcvtps2dq; the reference implementation's ``std::round``, half away from zero, differs on
19216 of the 2^24 triples x 3 channels), float outputs are not rounded.
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.registry import kernel

_F = np.float32


def _yuv_to_rgb(y, u, v, dtype, bgr: bool) -> np.ndarray:
    """y [N, H, W], u and v [N, H/2, W/2] -> [N, H, W, 3] in ``dtype``."""
    u = np.repeat(np.repeat(u, 2, axis=1), 2, axis=2)
    v = np.repeat(np.repeat(v, 2, axis=1), 2, axis=2)
    c = y.astype(_F) - _F(16)
    d = u.astype(_F) - _F(128)
    e = v.astype(_F) - _F(128)
    yc = _F(1.164) * c
    r = yc + _F(1.596) * e
    g = yc - _F(0.391) * d - _F(0.813) * e
    b = yc + _F(2.018) * d
    out = np.stack((b, g, r) if bgr else (r, g, b), axis=-1)
    if np.dtype(dtype).kind in "iu":
        out = np.rint(out)
    np.clip(out, _F(0), _F(255), out=out)
    return out.astype(dtype)


def _check(y, h, w):
    if y.ndim != 4 or y.shape[3] != 1 or h % 2 or w % 2:
        raise ValueError(f"YUV 4:2:0 input must be [N, H, W, 1] with even H and W, got {list(y.shape)}")


def _nv12(y, uv, bgr):
    y = np.asarray(y)
    if uv is None:  # one plane: Y rows, then H/2 rows of interleaved UV
        n, h3, w = y.shape[:3]
        h = h3 * 2 // 3
        _check(y, h, w)
        uv = y[:, h:].reshape(n, h // 2, w // 2, 2)
        y = y[:, :h]
    else:
        n, h, w = y.shape[:3]
        _check(y, h, w)
        uv = np.asarray(uv)
        if uv.shape != (n, h // 2, w // 2, 2):
            raise ValueError(f"NV12 UV plane is {list(uv.shape)}, expected {[n, h // 2, w // 2, 2]}")
    return _yuv_to_rgb(y[..., 0], uv[..., 0], uv[..., 1], y.dtype, bgr)


def _i420(y, u, v, bgr):
    y = np.asarray(y)
    if u is None:  # one plane: Y rows, then the U plane, then the V plane (each H/2 x W/2, flat)
        n, h3, w = y.shape[:3]
        h = h3 * 2 // 3
        _check(y, h, w)
        flat = y.reshape(n, -1)
        q = h * w // 4
        u = flat[:, h * w:h * w + q].reshape(n, h // 2, w // 2)
        v = flat[:, h * w + q:h * w + 2 * q].reshape(n, h // 2, w // 2)
        y = y[:, :h]
    else:
        n, h, w = y.shape[:3]
        _check(y, h, w)
        u, v = np.asarray(u), np.asarray(v)
        for p in (u, v):
            if p.shape != (n, h // 2, w // 2, 1):
                raise ValueError(f"I420 chroma plane is {list(p.shape)}, expected {[n, h // 2, w // 2, 1]}")
        u, v = u[..., 0], v[..., 0]
    return _yuv_to_rgb(y[..., 0], u, v, y.dtype, bgr)


@kernel("NV12toRGB", versions=("opset8",))
def nv12_to_rgb(y, uv=None):
    return _nv12(y, uv, False)


@kernel("NV12toBGR", versions=("opset8",))
def nv12_to_bgr(y, uv=None):
    return _nv12(y, uv, True)


@kernel("I420toRGB", versions=("opset8",))
def i420_to_rgb(y, u=None, v=None):
    return _i420(y, u, v, False)


@kernel("I420toBGR", versions=("opset8",))
def i420_to_bgr(y, u=None, v=None):
    return _i420(y, u, v, True)
