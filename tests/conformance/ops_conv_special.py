"""Conformance cases: DeformableConvolution and BinaryConvolution (OpenVINO CPU's sampling and bit rules)."""
from __future__ import annotations

import numpy as np
import openvino as ov
from openvino import opset1, opset8

from tests.conformance._build import RNG, case, f32

# ---------------------------------------------------------------------------- DeformableConvolution
# (x shape, weights shape, strides, pads_begin, pads_end, dilations, group, deformable_group, offset scale)
DEFORM = {
    "3x3": ([1, 4, 7, 8], [6, 4, 3, 3], [1, 1], [1, 1], [1, 1], [1, 1], 1, 1, 1.5),
    "stride2-asym-pads": ([2, 3, 9, 8], [4, 3, 3, 3], [2, 2], [1, 0], [0, 2], [1, 1], 1, 1, 2.0),
    "dilation2": ([1, 2, 9, 9], [3, 2, 3, 2], [1, 1], [2, 1], [2, 1], [2, 2], 1, 1, 1.0),
    "group2": ([1, 4, 6, 6], [6, 2, 3, 3], [1, 1], [1, 1], [1, 1], [1, 1], 2, 1, 1.5),
    "deformable-group2": ([1, 4, 6, 7], [5, 4, 3, 3], [1, 1], [1, 1], [1, 1], [1, 1], 1, 2, 1.5),
    "group2-dgroup4": ([2, 8, 5, 5], [4, 4, 2, 2], [1, 1], [0, 0], [1, 1], [1, 1], 2, 4, 3.0),
    "far-offsets": ([1, 2, 5, 6], [2, 2, 3, 3], [1, 1], [1, 1], [1, 1], [1, 1], 1, 1, 6.0),  # many taps outside
    "1x1": ([1, 16, 4, 4], [16, 16, 1, 1], [1, 1], [0, 0], [0, 0], [1, 1], 1, 1, 1.0),
}


def _deform_inputs(xs, ws, strides, pb, pe, dil, g, dg, scale, mask):
    oh = (xs[2] + pb[0] + pe[0] - dil[0] * (ws[2] - 1) - 1) // strides[0] + 1
    ow = (xs[3] + pb[1] + pe[1] - dil[1] * (ws[3] - 1) - 1) // strides[1] + 1
    k = ws[2] * ws[3]
    off = f32(xs[0], dg * 2 * k, oh, ow, scale=scale)
    off[..., 0, 0] = np.round(off[..., 0, 0])  # integer offsets too (the corners' edge cases)
    inputs = [f32(*xs), off, f32(*ws, scale=0.5)]
    if mask:
        inputs.append(RNG.random((xs[0], dg * k, oh, ow)).astype(np.float32))
    return inputs


for label, (xs, ws, strides, pb, pe, dil, g, dg, scale) in DEFORM.items():
    case("DeformableConvolution", "opset1", label, lambda x, o, w, s=strides, b=pb, e=pe, d=dil, g=g, dg=dg: (
        opset1.deformable_convolution(x, o, w, s, b, e, d, "explicit", g, dg)),
        *_deform_inputs(xs, ws, strides, pb, pe, dil, g, dg, scale, False))
    for bi_pad in (False, True):
        for mask in (False, True):
            tag = f"{label}-bipad{int(bi_pad)}-{'mask' if mask else 'nomask'}"
            if mask:
                build = (lambda x, o, w, m, s=strides, b=pb, e=pe, d=dil, g=g, dg=dg, bp=bi_pad: (
                    opset8.deformable_convolution(x, o, w, s, b, e, d, m, "explicit", g, dg, bp)))
            else:
                build = (lambda x, o, w, s=strides, b=pb, e=pe, d=dil, g=g, dg=dg, bp=bi_pad: (
                    opset8.deformable_convolution(x, o, w, s, b, e, d, None, "explicit", g, dg, bp)))
            case("DeformableConvolution", "opset8", tag, build,
                 *_deform_inputs(xs, ws, strides, pb, pe, dil, g, dg, scale, mask))
for auto_pad in ("same_upper", "same_lower", "valid"):
    case("DeformableConvolution", "opset8", f"auto-pad-{auto_pad}", lambda x, o, w, a=auto_pad: (
        opset8.deformable_convolution(x, o, w, [2, 2], [0, 0], [0, 0], [1, 1], None, a, 1, 1, True)),
        f32(1, 3, 7, 6), f32(1, 18, 4 if auto_pad != "valid" else 3, 3 if auto_pad != "valid" else 2, scale=1.5),
        f32(4, 3, 3, 3))
    case("DeformableConvolution", "opset1", f"auto-pad-{auto_pad}", lambda x, o, w, a=auto_pad: (
        opset1.deformable_convolution(x, o, w, [2, 2], [0, 0], [0, 0], [1, 1], a)),
        f32(1, 3, 7, 6), f32(1, 18, 4 if auto_pad != "valid" else 3, 3 if auto_pad != "valid" else 2, scale=1.5),
        f32(4, 3, 3, 3))


# --------------------------------------------------------------------------------- BinaryConvolution
def _u1(bits: np.ndarray):
    return ov.op.Constant(ov.Type.u1, ov.Shape(list(bits.shape)), bits.reshape(-1).astype(np.uint8).tolist())


# (x shape, weights shape, strides, pads_begin, pads_end, dilations); channels a multiple of 8 (see conv_special)
BINARY = {
    "3x3-pad1": ([1, 8, 5, 6], [4, 8, 3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
    "stride2-asym": ([2, 16, 7, 8], [5, 16, 3, 3], [2, 2], [1, 0], [0, 2], [1, 1]),
    "dilation2": ([1, 8, 8, 8], [3, 8, 3, 2], [1, 1], [2, 1], [2, 1], [2, 2]),
    "1x1": ([1, 24, 4, 5], [7, 24, 1, 1], [1, 1], [0, 0], [0, 0], [1, 1]),
    "5x5-pad2": ([1, 8, 6, 6], [2, 8, 5, 5], [1, 1], [2, 2], [2, 2], [1, 1]),
}
for label, (xs, ws, strides, pb, pe, dil) in BINARY.items():
    bits = RNG.integers(0, 2, ws).astype(np.uint8)
    x = f32(*xs)
    x.reshape(-1)[::7] = 0.0  # zeros binarize to 0 (-1)
    for pad_value in (0.0, 1.0, -1.0):
        case("BinaryConvolution", "opset1", f"{label}-pad{pad_value:g}", lambda x, b=bits, s=strides, p=pb, e=pe, d=dil,
             v=pad_value: opset1.binary_convolution(x, _u1(b), s, p, e, d, "xnor-popcount", v), x)
for auto_pad in ("same_upper", "valid"):
    bits = RNG.integers(0, 2, (4, 8, 3, 3)).astype(np.uint8)
    case("BinaryConvolution", "opset1", f"auto-pad-{auto_pad}", lambda x, b=bits, a=auto_pad: opset1.binary_convolution(
        x, _u1(b), [2, 2], [0, 0], [0, 0], [1, 1], "xnor-popcount", 1.0, a), f32(1, 8, 7, 6))
