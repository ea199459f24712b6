"""Conformance cases: convolutions (Convolution, GroupConvolution and their BackpropData forms)."""
from __future__ import annotations

import numpy as np
from openvino import opset1

from tests.conformance._build import C, case, f32


def W(*shape):
    """Constant weights, as converters write them; seeded by their shape (built when the case runs)."""
    return C(np.random.default_rng(list(shape)).standard_normal(shape) * 0.5, np.float32)


# (label, input shape, kernel, strides, dilations, pads_begin, pads_end, auto_pad)
GEOMETRIES = [
    ("2d-explicit", (2, 3, 9, 8), [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], "explicit"),
    ("2d-strided-asym-pads", (1, 4, 10, 9), [3, 2], [2, 3], [1, 1], [1, 0], [2, 1], "explicit"),
    ("2d-dilated", (1, 3, 11, 10), [3, 3], [1, 2], [2, 3], [2, 0], [1, 3], "explicit"),
    ("2d-same-upper", (1, 3, 8, 7), [4, 3], [2, 2], [1, 1], [0, 0], [0, 0], "same_upper"),
    ("2d-same-lower", (1, 3, 7, 8), [2, 3], [2, 1], [1, 2], [0, 0], [0, 0], "same_lower"),
    ("2d-valid", (1, 2, 9, 9), [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], "valid"),
    ("2d-1x1", (2, 8, 5, 6), [1, 1], [1, 1], [1, 1], [0, 0], [0, 0], "explicit"),
    ("1d", (2, 3, 15), [5], [2], [1], [2], [1], "explicit"),
    ("1d-dilated-same-upper", (1, 4, 12), [3], [1], [3], [0], [0], "same_upper"),
    ("3d", (1, 2, 6, 7, 5), [3, 2, 3], [1, 2, 1], [1, 1, 2], [1, 0, 1], [1, 1, 2], "explicit"),
    ("3d-same-upper", (1, 2, 5, 6, 6), [3, 3, 3], [2, 2, 2], [1, 1, 1], [0, 0, 0], [0, 0, 0], "same_upper"),
]

# ------------------------------------------------------------------------------------------- Convolution
for label, shape, k, s, d, pb, pe, ap in GEOMETRIES[:6] + GEOMETRIES[7:8] + GEOMETRIES[9:]:
    case("Convolution", "opset1", label, lambda x, c=shape[1], k=k, s=s, d=d, pb=pb, pe=pe, ap=ap: opset1.convolution(
        x, W(5, c, *k), s, pb, pe, d, ap), f32(*shape))
case("Convolution", "opset1", "weights-input", lambda x, w: opset1.convolution(x, w, [1, 1], [0, 1], [1, 0], [1, 1]),
     f32(1, 3, 6, 6), f32(4, 3, 2, 3))
case("Convolution", "opset1", "wide", lambda x: opset1.convolution(x, W(32, 16, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1]),
     f32(1, 16, 12, 12), rel=3e-4)

# ------------------------------------------------------------------------------------------- GroupConvolution
for label, shape, k, s, d, pb, pe, ap in GEOMETRIES[1:5:2] + GEOMETRIES[8:10]:
    c = shape[1]
    case("GroupConvolution", "opset1", f"depthwise-{label}", lambda x, c=c, k=k, s=s, d=d, pb=pb, pe=pe, ap=ap: (
        opset1.group_convolution(x, W(c, 1, 1, *k), s, pb, pe, d, ap)), f32(*shape))
case("GroupConvolution", "opset1", "groups2", lambda x: opset1.group_convolution(
    x, W(2, 3, 2, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1]), f32(1, 4, 7, 6))
case("GroupConvolution", "opset1", "depth-multiplier2", lambda x: opset1.group_convolution(
    x, W(4, 2, 1, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1]), f32(1, 4, 6, 6))
case("GroupConvolution", "opset1", "groups2-1d-same-lower", lambda x: opset1.group_convolution(
    x, W(2, 2, 3, 4), [2], [0], [0], [1], "same_lower"), f32(1, 6, 11))

# ------------------------------------------------------------------------------------------- ConvolutionBackpropData
BPD = opset1.convolution_backprop_data
case("ConvolutionBackpropData", "opset1", "2d-output-padding", lambda x: BPD(
    x, W(3, 2, 3, 3), [2, 2], pads_begin=[1, 1], pads_end=[1, 1], output_padding=[1, 1]), f32(2, 3, 4, 5))
case("ConvolutionBackpropData", "opset1", "2d-dilated", lambda x: BPD(
    x, W(2, 3, 3, 2), [1, 2], pads_begin=[0, 1], pads_end=[1, 0], dilations=[2, 1]), f32(1, 2, 5, 5))
case("ConvolutionBackpropData", "opset1", "2d-output-shape", lambda x: BPD(
    x, W(3, 2, 3, 3), [2, 2], C([10, 11]), pads_begin=[0, 0], pads_end=[0, 0]), f32(1, 3, 5, 6))
for ap in ("same_upper", "same_lower"):
    case("ConvolutionBackpropData", "opset1", f"2d-{ap}-output-shape", lambda x, a=ap: BPD(
        x, W(3, 2, 3, 4), [2, 2], C([9, 12]), auto_pad=a), f32(1, 3, 5, 6))
case("ConvolutionBackpropData", "opset1", "2d-valid", lambda x: BPD(
    x, W(3, 2, 2, 3), [1, 2], pads_begin=[1, 1], pads_end=[1, 1], auto_pad="valid"), f32(1, 3, 4, 4))
case("ConvolutionBackpropData", "opset1", "1d", lambda x: BPD(
    x, W(4, 3, 4), [2], pads_begin=[1], pads_end=[1]), f32(2, 4, 7))
case("ConvolutionBackpropData", "opset1", "3d", lambda x: BPD(
    x, W(2, 3, 2, 3, 2), [2, 1, 2], pads_begin=[0, 1, 0], pads_end=[0, 1, 1]), f32(1, 2, 3, 4, 3))

# ------------------------------------------------------------------------------------------- GroupConvolutionBackpropData
GBPD = opset1.group_convolution_backprop_data
case("GroupConvolutionBackpropData", "opset1", "depthwise-stride2", lambda x: GBPD(
    x, W(4, 1, 1, 4, 4), [2, 2], pads_begin=[1, 1], pads_end=[1, 1]), f32(1, 4, 5, 5))
case("GroupConvolutionBackpropData", "opset1", "groups2", lambda x: GBPD(
    x, W(2, 2, 3, 3, 3), [2, 1], pads_begin=[1, 0], pads_end=[0, 1]), f32(1, 4, 4, 5))
case("GroupConvolutionBackpropData", "opset1", "output-padding-dilated", lambda x: GBPD(
    x, W(2, 1, 2, 3, 3), [2, 2], pads_begin=[1, 1], pads_end=[1, 1], dilations=[1, 2], output_padding=[1, 0]),
     f32(2, 2, 4, 4))
case("GroupConvolutionBackpropData", "opset1", "output-shape-same-upper", lambda x: GBPD(
    x, W(3, 1, 2, 3, 3), [2, 2], C([8, 9]), auto_pad="same_upper"), f32(1, 3, 4, 5))
case("GroupConvolutionBackpropData", "opset1", "3d", lambda x: GBPD(
    x, W(2, 1, 2, 2, 2, 2), [2, 2, 1], pads_begin=[0, 0, 0], pads_end=[1, 0, 0]), f32(1, 2, 3, 3, 4))
