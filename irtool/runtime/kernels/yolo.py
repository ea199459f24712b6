"""YOLO heads: RegionYolo (opset1) and ReorgYolo (opset2).

Both are elementwise work and a reshuffle; numpy is the kernel and its own reference, float32 as
OpenVINO's CPU plugin computes (f16 maps are computed in f32).

OpenVINO's CPU plugin is the oracle; the semantics kept here are its own:

RegionYolo (input [N, C, H, W]; each anchor a block of ``coords + 1 + classes`` channels)
- ``do_softmax`` (YOLOv2's Region): the logistic of x, y and the objectness of each of ``num``
  anchors, a softmax over the classes; output the input's shape with ``axis..end_axis`` flattened.
- without it (YOLOv3's Yolo layer): ``mask`` picks how many anchors (``len(mask)``) are output,
  [N, len(mask) * (coords + 1 + classes), H, W]: the logistic of x, y, the objectness and the
  classes. The CPU node fills that output with the *first* elements of the input, flat (not the
  anchors ``mask`` names, and not image by image when the input holds more anchors than the
  output): kept as it is, since it is what real models (input channels = len(mask) blocks) meet.
- the logistic is ``1 - e / (e + 1)`` with ``e = exp(-x)`` for x >= 0, ``e / (e + 1)`` with
  ``e = exp(x)`` below; applied in two passes as the node does (channels 0-1, then from channel
  ``coords``), so that ``coords < 2`` would apply it twice to the channels both passes cover.

ReorgYolo (``stride`` s): the CPU node reads the input, flat, as [N, C / s^2, H * s, W * s] and
writes its output, flat, as [N, C, H, W] with ``out[b, c, h, w] = in[b, c % (C / s^2), h * s +
(c // (C / s^2)) // s, w * s + (c // (C / s^2)) % s]``; the output shape is [N, C * s^2, H / s, W / s].
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.registry import kernel

F32 = np.float32


def _logistic(v: np.ndarray) -> np.ndarray:
    """The CPU node's logistic, float32: no overflow for either sign."""
    e = np.exp(-np.abs(v))
    s = e / (e + F32(1))
    return np.where(np.signbit(v), s, F32(1) - s)


@kernel("RegionYolo", versions=("opset1",))
def region_yolo(x, *, coords: int, classes: int, num: int, do_softmax: bool = True, mask: list[int] = (),
                axis: int = 1, end_axis: int = 3, anchors: list[float] = ()):
    """YOLO's region layer: logistic of the box centers and objectness, softmax (v2) or logistic (v3)
    of the class scores (module docstring)."""
    dims = list(np.shape(x))
    B, _, IH, IW = (dims + [1] * 4)[:4]  # the node reads missing dims as 1
    src = np.asarray(x, F32).reshape(-1)
    K, HW = classes + coords + 1, IH * IW
    if do_softmax:
        count, ends, size = num, 1, src.size  # Region (v2): softmax over the classes
    else:
        count, ends, size = len(mask), classes + 1, B * HW * len(mask) * K
    if B * HW * count * K > src.size or size > src.size:
        raise ValueError(f"RegionYolo: {count} anchors of {K} channels do not fit the input {dims}")
    out = src[:size].copy()
    view = out[:B * HW * count * K].reshape(B, count, K, HW)
    view[:, :, 0:2] = _logistic(view[:, :, 0:2])  # x, y (two passes, as the node does)
    view[:, :, coords:coords + ends] = _logistic(view[:, :, coords:coords + ends])  # objectness (+ classes)
    if do_softmax:
        cls = src[:B * HW * count * K].reshape(B, count, K, HW)[:, :, coords + 1:coords + 1 + classes]
        e = np.exp(cls - cls.max(axis=2, keepdims=True))
        view[:, :, coords + 1:coords + 1 + classes] = e / e.sum(axis=2, keepdims=True, dtype=F32)
        rank = len(dims)
        a, e_ = axis % rank if rank else 0, end_axis % rank if rank else 0
        shape = dims[:a] + [int(np.prod(dims[a:e_ + 1], dtype=np.int64))] + dims[e_ + 1:]
    else:
        shape = [B, count * K, IH, IW]
    return out.reshape(shape).astype(np.asarray(x).dtype, copy=False)


@kernel("ReorgYolo", versions=("opset2",))
def reorg_yolo(x, *, stride: list[int]):
    """YOLOv2's reorg: [N, C, H, W] -> [N, C * s^2, H / s, W / s] (module docstring)."""
    if not stride or stride[0] < 1:
        raise ValueError(f"ReorgYolo stride {list(stride)} must be a positive integer")
    s = int(stride[0])
    if np.ndim(x) != 4:
        raise ValueError(f"ReorgYolo takes a 4-D input, got {list(np.shape(x))}")
    B, C, H, W = np.shape(x)
    if C % (s * s) or H % s or W % s:
        raise ValueError(f"ReorgYolo stride {s} does not divide the input {[B, C, H, W]}")
    src = np.asarray(x).reshape(B, C // (s * s), H, s, W, s)  # [b, oc, h, dy, w, dx] of the flat input
    out = src.transpose(0, 3, 5, 1, 2, 4).reshape(B, C, H, W)  # channel (dy * s + dx) * C / s^2 + oc
    return np.ascontiguousarray(out).reshape(B, C * s * s, H // s, W // s)
