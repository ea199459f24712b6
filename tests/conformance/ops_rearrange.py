"""Conformance cases: rearrange."""
from __future__ import annotations

import numpy as np
from openvino import opset1, opset2, opset3, opset7

from tests.conformance._build import C, case, f32, ints

# ------------------------------------------------------------------------------------------- rearrange
for shift, axes in [([2], [0]), ([-1, 3], [1, 2]), ([5, 2], [0, 0]), (7, 2), ([1, 1], [1, -1])]:
    case("Roll", "opset7", f"shift{shift}-axes{axes}", lambda x, s=shift, a=axes: opset7.roll(x, C(s), C(a)),
         f32(3, 4, 5))
case("Roll", "opset7", "i32-data", lambda x: opset7.roll(x, C([1]), C([0])), ints(0, 9, 4, 2))
for batch_axis, seq_axis, shape, lengths in [(0, 1, (3, 5, 2), [5, 1, 3]), (1, 0, (4, 3, 2), [2, 4, 0]),
                                             (2, 1, (2, 6, 3), [6, 2, 1]), (-3, -2, (2, 4, 2), [3, 4])]:
    case("ReverseSequence", "opset1", f"b{batch_axis}-s{seq_axis}", lambda x, b=batch_axis, s=seq_axis, n=lengths: (
        opset1.reverse_sequence(x, C(n, np.int32), b, s)), f32(*shape))
for block, begin, end, shape in [([1, 2, 2], [0, 0, 0], [0, 0, 0], (8, 3, 4)), ([1, 1, 2, 3], [0, 0, 1, 0], [0, 0, 0, 2],
                                                                                  (12, 2, 3, 4)),
                                 ([1, 3], [0, 1], [0, 1], (6, 4))]:
    case("BatchToSpace", "opset2", f"block{block}", lambda x, b=block, c0=begin, c1=end: opset2.batch_to_space(
        x, C(b), C(c0), C(c1)), f32(*shape))
for block, begin, end, shape in [([1, 2, 2], [0, 0, 0], [0, 0, 0], (2, 4, 6)), ([1, 1, 2, 3], [0, 0, 1, 0], [0, 0, 1, 2],
                                                                                (2, 2, 4, 4)),
                                 ([1, 3], [0, 1], [0, 2], (2, 6))]:
    case("SpaceToBatch", "opset2", f"block{block}", lambda x, b=block, p0=begin, p1=end: opset2.space_to_batch(
        x, C(b), C(p0), C(p1)), f32(*shape))
for sizes, strides, rates, pad in [([3, 3], [5, 5], [1, 1], "valid"), ([2, 3], [2, 1], [1, 1], "same_upper"),
                                   ([3, 2], [3, 2], [2, 1], "same_lower"), ([2, 2], [1, 1], [2, 2], "valid")]:
    case("ExtractImagePatches", "opset3", f"{sizes}-{strides}-{rates}-{pad}", lambda x, a=sizes, b=strides, c=rates,
         d=pad: opset3.extract_image_patches(x, a, b, c, d), f32(2, 3, 10, 9))
