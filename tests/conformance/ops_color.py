"""Conformance cases: colour conversion (YUV 4:2:0 to RGB/BGR)."""
from __future__ import annotations

import numpy as np
from openvino import opset8

from tests.conformance._build import RNG, case, ints


def _plane(dtype, *shape):
    """u8 codes, or floats with fractions and values outside [0, 255] (the clamp)."""
    if dtype == np.uint8:
        return ints(0, 256, *shape, dtype=np.uint8)
    return RNG.uniform(-40.0, 300.0, shape).astype(dtype)


# --------------------------------------------------------------------------------------- NV12 / I420
for dtype, tag in ((np.uint8, "u8"), (np.float32, "f32")):
    for n, h, w in ((1, 4, 6), (2, 6, 18), (1, 8, 34)):  # widths past one vector, with tails
        shape = f"{n}x{h}x{w}"
        for op, fn in (("NV12toRGB", opset8.nv12_to_rgb), ("NV12toBGR", opset8.nv12_to_bgr)):
            case(op, "opset8", f"{tag}-1plane-{shape}", lambda x, f=fn: f(x), _plane(dtype, n, h * 3 // 2, w, 1))
            case(op, "opset8", f"{tag}-2plane-{shape}", lambda y, uv, f=fn: f(y, uv),
                 _plane(dtype, n, h, w, 1), _plane(dtype, n, h // 2, w // 2, 2))
        for op, fn in (("I420toRGB", opset8.i420_to_rgb), ("I420toBGR", opset8.i420_to_bgr)):
            case(op, "opset8", f"{tag}-1plane-{shape}", lambda x, f=fn: f(x), _plane(dtype, n, h * 3 // 2, w, 1))
            case(op, "opset8", f"{tag}-3plane-{shape}", lambda y, u, v, f=fn: f(y, u, v), _plane(dtype, n, h, w, 1),
                 _plane(dtype, n, h // 2, w // 2, 1), _plane(dtype, n, h // 2, w // 2, 1))
for op, fn in (("NV12toRGB", opset8.nv12_to_rgb), ("I420toBGR", opset8.i420_to_bgr)):  # f16 runs as f32 there
    case(op, "opset8", "f16-1plane-1x4x6", lambda x, f=fn: f(x), _plane(np.float16, 1, 6, 6, 1))
case("NV12toBGR", "opset8", "f16-2plane-1x4x6", lambda y, uv: opset8.nv12_to_bgr(y, uv), _plane(np.float16, 1, 4, 6, 1),
     _plane(np.float16, 1, 2, 3, 2))
case("I420toRGB", "opset8", "f16-3plane-1x4x6", lambda y, u, v: opset8.i420_to_rgb(y, u, v),
     _plane(np.float16, 1, 4, 6, 1), _plane(np.float16, 1, 2, 3, 1), _plane(np.float16, 1, 2, 3, 1))
