"""Conformance cases: Interpolate (opset1, opset4, opset11)."""
from __future__ import annotations

import numpy as np
from openvino import opset1, opset10, opset11

from tests.conformance._build import C, case, f32, ints

X4 = (1, 2, 5, 6)  # N, C, H, W


def v4(mode, sizes, scales, axes=(2, 3), scm="sizes", **kw):
    """An Interpolate-4 (``opset10.interpolate`` builds it) of sizes/scales constants."""
    return lambda x: opset10.interpolate(x, C(sizes), C(scales, np.float32), mode, scm, axes=C(list(axes)), **kw)


def v11(mode, values, axes=(2, 3), scm="sizes", **kw):
    dtype = np.float32 if scm == "scales" else np.int64
    return lambda x: opset11.interpolate(x, C(values, dtype), mode, scm, axes=C(list(axes)), **kw)


# ------------------------------------------------------------------------------------------- Interpolate-4
for i, nm in enumerate(("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")):
    ctm = ("half_pixel", "asymmetric")[i % 2]
    case("Interpolate", "opset4", f"nearest-{nm}-{ctm}-up", v4(
        "nearest", [9, 13], [1.8, 13 / 6], coordinate_transformation_mode=ctm, nearest_mode=nm), f32(*X4))
    if nm in ("simple", "ceil"):
        case("Interpolate", "opset4", f"nearest-{nm}-down-scales", v4(
            "nearest", [3, 4], [0.6, 0.7], scm="scales", coordinate_transformation_mode="asymmetric", nearest_mode=nm),
            f32(*X4))
for ctm in ("tf_half_pixel_for_nn", "align_corners"):
    case("Interpolate", "opset4", f"nearest-{ctm}", v4("nearest", [8, 4], [1.6, 4 / 6],
                                                       coordinate_transformation_mode=ctm), f32(*X4))
for ctm in ("half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners"):
    case("Interpolate", "opset4", f"linear_onnx-{ctm}", v4("linear_onnx", [8, 4], [1.6, 4 / 6],
                                                           coordinate_transformation_mode=ctm), f32(*X4))
    if ctm in ("half_pixel", "asymmetric", "align_corners"):
        case("Interpolate", "opset4", f"cubic-{ctm}", v4("cubic", [7, 10], [1.4, 10 / 6],
                                                         coordinate_transformation_mode=ctm), f32(*X4))
case("Interpolate", "opset4", "linear_onnx-scales-2x", v4("linear_onnx", [0, 0], [2.0, 2.0], scm="scales"), f32(*X4))
case("Interpolate", "opset4", "cubic-down-scales", v4("cubic", [0, 0], [0.5, 0.75], scm="scales",
                                                      coordinate_transformation_mode="asymmetric"), f32(1, 2, 8, 8))
case("Interpolate", "opset4", "linear-4d-down-aa1", v4("linear", [3, 4], [0.6, 4 / 6], antialias=True), f32(*X4))
for antialias in (False, True):
    case("Interpolate", "opset4", f"linear-5d-down-aa{int(antialias)}", v4(
        "linear", [4, 3, 2], [0.5, 0.6, 0.5], axes=(2, 3, 4), antialias=antialias), f32(1, 2, 8, 5, 4))
case("Interpolate", "opset4", "linear-5d-up-aa1", v4("linear", [5, 7, 6], [5 / 3, 1.75, 1.5], axes=(2, 3, 4),
                                                     antialias=True), f32(1, 1, 3, 4, 4))
case("Interpolate", "opset4", "linear_onnx-pads", v4("linear_onnx", [10, 9], [10 / 7, 9 / 8], pads_begin=[0, 0, 1, 2],
                                                     pads_end=[0, 0, 1, 0]), f32(*X4))
case("Interpolate", "opset4", "linear_onnx-3d-last-axis", v4("linear_onnx", [9], [1.5], axes=(2,)), f32(2, 3, 6))
case("Interpolate", "opset4", "nearest-u8", v4("nearest", [8, 9], [1.6, 1.5]), ints(0, 255, *X4, dtype=np.uint8))
case("Interpolate", "opset4", "linear_onnx-u8", v4("linear_onnx", [7, 8], [1.4, 8 / 6]),
     ints(0, 255, *X4, dtype=np.uint8))

# ------------------------------------------------------------------------------------------- Interpolate-11
case("Interpolate", "opset11", "bilinear_pillow-aa", v11("bilinear_pillow", [4, 3], antialias=True), f32(1, 2, 9, 8))
for mode in ("bilinear_pillow", "bicubic_pillow"):
    case("Interpolate", "opset11", f"{mode}-up", v11(mode, [9, 11]), f32(*X4))
    case("Interpolate", "opset11", f"{mode}-down", v11(mode, [3, 2]), f32(1, 2, 9, 7))
case("Interpolate", "opset11", "nearest-scales", v11("nearest", [1.5, 2.5], scm="scales",
                                                     nearest_mode="round_prefer_ceil"), f32(*X4))
case("Interpolate", "opset11", "linear_onnx-sizes-align", v11("linear_onnx", [9, 3],
                                                              coordinate_transformation_mode="align_corners"), f32(*X4))
case("Interpolate", "opset11", "linear-5d-aa-down", v11("linear", [3, 2, 2], axes=(2, 3, 4), antialias=True),
     f32(1, 2, 7, 5, 4))

# ------------------------------------------------------------------------------------------- Interpolate-1
for mode, align in (("nearest", False), ("linear", False), ("linear", True), ("cubic", True)):
    case("Interpolate", "opset1", f"{mode}-align{int(align)}", lambda x, m=mode, a=align: opset1.interpolate(
        x, C([9, 4]), {"axes": [2, 3], "mode": m, "align_corners": a}), f32(*X4))
case("Interpolate", "opset1", "linear-3d-axis2", lambda x: opset1.interpolate(
    x, C([10]), {"axes": [2], "mode": "linear"}), f32(2, 3, 6))
case("Interpolate", "opset1", "linear-pads", lambda x: opset1.interpolate(
    x, C([8, 12]), {"axes": [2, 3], "mode": "linear", "pads_begin": [0, 0, 1, 0], "pads_end": [0, 0, 0, 1]}), f32(*X4))
case("Interpolate", "opset1", "linear-5d", lambda x: opset1.interpolate(
    x, C([5, 3, 6]), {"axes": [2, 3, 4], "mode": "linear"}), f32(1, 2, 3, 4, 4))

# known mismatches (left out; see the helper's report):
# - linear_onnx on u8 with one or three interpolated axes (inputs [N, C, W], [N, C, D, H, W]): about one run in
#   six has an output 1 off, a value within an ulp of .5 rounding the other way (OpenVINO's tap weights
#   differ from irtool's in the last bit there); the 2-axis u8 case above matches bit for bit.
