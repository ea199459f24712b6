"""Conformance cases: sampling (GridSample, Col2Im)."""
from __future__ import annotations

import numpy as np
from openvino import opset9, opset15

from tests.conformance._build import C, case, f32

# ------------------------------------------------------------------------------------------- GridSample
IMAGE = f32(2, 3, 5, 7)
GRID = np.random.default_rng(9).uniform(-1.4, 1.4, (2, 4, 6, 2)).astype(np.float32)  # some points outside
# exact half-pixel points: nearest rounds them to even (the CPU plugin's FMA coordinates keep them exact)
_K = np.arange(-2, 8)
HALVES = {False: np.stack([(2 * _K + 2) / 7 - 1, (2 * _K[::-1] + 2) / 5 - 1], -1),
          True: np.stack([(_K + 0.5) / 3 - 1, (_K[::-1] + 0.5) / 2 - 1], -1)}
for mode in ("bilinear", "bicubic", "nearest"):
    for pad in ("zeros", "border", "reflection"):
        for align in (False, True):
            attrs = {"mode": mode, "padding_mode": pad, "align_corners": align}
            case("GridSample", "opset9", f"{mode}-{pad}-align{int(align)}", lambda x, g, a=attrs: (
                opset9.grid_sample(x, g, a)), IMAGE, GRID)
    for align in (False, True):
        halves = np.broadcast_to(HALVES[align].astype(np.float32), (2, 2, 10, 2)).copy()
        case("GridSample", "opset9", f"{mode}-half-pixels-align{int(align)}", lambda x, g, m=mode, a=align: (
            opset9.grid_sample(x, g, {"mode": m, "padding_mode": "reflection", "align_corners": a})), IMAGE, halves)
case("GridSample", "opset9", "defaults", lambda x, g: opset9.grid_sample(x, g, {}), IMAGE, GRID)
case("GridSample", "opset9", "one-pixel-rows-reflection", lambda x, g: opset9.grid_sample(
    x, g, {"mode": "bicubic", "padding_mode": "reflection", "align_corners": True}), f32(1, 2, 1, 4), GRID[:1] * 2)
case("GridSample", "opset9", "f16-data-grid", lambda x, g: opset9.grid_sample(x, g, {"mode": "bilinear"}),
     IMAGE.astype(np.float16), GRID.astype(np.float16), rel=1e-3)  # f16 output: its own rounding
for dtype in (np.int32, np.int8, np.uint8):  # 8-bit: rounded and saturated; i32: truncated
    data = (IMAGE * 60).astype(dtype) if dtype != np.uint8 else (IMAGE * 60 + 128).clip(0, 255).astype(dtype)
    for mode in ("bilinear", "bicubic"):
        case("GridSample", "opset9", f"{mode}-{np.dtype(dtype).name}", lambda x, g, m=mode: opset9.grid_sample(
            x, g, {"mode": m, "padding_mode": "border"}), data, GRID)

# ------------------------------------------------------------------------------------------- Col2Im
for label, size, kernel, kw in [
        ("plain", (6, 7), (2, 3), {}),
        ("strides", (6, 7), (2, 3), {"strides": [2, 1]}),
        ("dilations", (6, 7), (2, 3), {"dilations": [2, 2]}),
        ("pads", (6, 7), (2, 3), {"pads_begin": [1, 2], "pads_end": [2, 0]}),
        ("all", (9, 8), (3, 2), {"strides": [2, 3], "dilations": [1, 2], "pads_begin": [1, 1], "pads_end": [1, 2]})]:
    st, dl = kw.get("strides", [1, 1]), kw.get("dilations", [1, 1])
    pb, pe = kw.get("pads_begin", [0, 0]), kw.get("pads_end", [0, 0])
    blocks = int(np.prod([(size[d] + pb[d] + pe[d] - dl[d] * (kernel[d] - 1) - 1) // st[d] + 1 for d in (0, 1)]))
    case("Col2Im", "opset15", label, lambda x, s=size, k=kernel, a=kw: opset15.col2im(x, C(s), C(k), **a),
         f32(2, 2 * kernel[0] * kernel[1], blocks))
    case("Col2Im", "opset15", f"{label}-unbatched", lambda x, s=size, k=kernel, a=kw: opset15.col2im(
        x, C(s, np.int32), C(k, np.int32), **a), f32(3 * kernel[0] * kernel[1], blocks))
