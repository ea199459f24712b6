"""Conformance cases: data movement (shape)."""
from __future__ import annotations

import numpy as np
import openvino as ov
from openvino import opset1, opset3, opset5, opset6, opset7, opset8, opset12, opset15, opset16

from openvino.utils.node_factory import NodeFactory

from tests.conformance._build import C, case, f32, ints

I64_MAX = np.iinfo(np.int64).max


def EMPTY():
    """An empty i64 constant (``C`` cannot make one)."""
    return ov.op.Constant(ov.Type.i64, ov.Shape([0]), [])


# ------------------------------------------------------------------------------------------- Broadcast
case("Broadcast", "opset1", "numpy", lambda x: opset1.broadcast(x, C([2, 3, 4])), f32(3, 1))
case("Broadcast", "opset1", "explicit-2axes", lambda x: opset1.broadcast(x, C([2, 3, 4, 5]), C([1, 3]), "EXPLICIT"),
     f32(3, 5))
case("Broadcast", "opset3", "bidirectional", lambda x: opset3.broadcast(x, C([2, 1, 1]), broadcast_spec="BIDIRECTIONAL"),
     f32(3, 4))
case("Broadcast", "opset3", "scalar", lambda x: opset3.broadcast(x, C([2, 3])), f32())
case("Broadcast", "opset3", "u8", lambda x: opset3.broadcast(x, C([2, 3]), broadcast_spec="BIDIRECTIONAL"),
     ints(0, 255, 3, dtype=np.uint8))

# ------------------------------------------------------------------------------------------- Concat
case("Concat", "opset1", "axis0", lambda a, b: opset1.concat([a, b], 0), f32(2, 3), f32(4, 3))
case("Concat", "opset1", "axis-1-three", lambda a, b, c: opset1.concat([a, b, c], -1), f32(2, 1, 3), f32(2, 1, 1),
     f32(2, 1, 2))
case("Concat", "opset1", "empty-part", lambda a, b: opset1.concat([a, b], 0), f32(0, 3), f32(2, 3))

# ------------------------------------------------------------------------------------------- DepthToSpace / SpaceToDepth
for mode, d2s, s2d in [("blocks_first", [((2, 8, 3, 4), 2), ((1, 9, 4), 3)], [((2, 2, 4, 6), 2), ((1, 3, 9), 3)]),
                       ("depth_first", [((1, 16, 2, 2, 3), 2), ((1, 18, 2, 3), 3)],
                        [((1, 2, 4, 2, 6), 2), ((1, 1, 6, 3), 3)])]:
    for shape, bs in d2s:
        case("DepthToSpace", "opset1", f"{mode}-{len(shape) - 2}d-bs{bs}", lambda x, m=mode, b=bs: opset1.depth_to_space(
            x, m, b), f32(*shape))
    for shape, bs in s2d:
        case("SpaceToDepth", "opset1", f"{mode}-{len(shape) - 2}d-bs{bs}", lambda x, m=mode, b=bs: opset1.space_to_depth(
            x, m, b), f32(*shape))
case("DepthToSpace", "opset1", "i32", lambda x: opset1.depth_to_space(x, "blocks_first", 2), ints(0, 99, 1, 4, 2, 2))

# ------------------------------------------------------------------------------------------- Gather
GIDX = np.array([[0, 2], [1, 1], [3, 0]], np.int64)
case("Gather", "opset1", "axis0", lambda x: opset1.gather(x, C(GIDX), C(0)), f32(4, 3))
case("Gather", "opset7", "batch1", lambda x: opset7.gather(x, C([[0, 2], [1, 1]]), C(1), 1), f32(2, 3, 4))
case("Gather", "opset7", "batch-neg", lambda x: opset7.gather(x, C([[2, 0, 1], [0, 0, 3]]), C(-1), -1), f32(2, 3, 4))
case("Gather", "opset8", "negative-indices", lambda x: opset8.gather(x, C([-1, 0, -3]), C(1)), f32(2, 4, 3))
case("Gather", "opset8", "negative-indices-batch1", lambda x: opset8.gather(x, C([[-1, 0], [1, -2]]), C(1), 1),
     f32(2, 3, 4))
case("Gather", "opset8", "u8-data", lambda x: opset8.gather(x, C([[1, 1], [0, 2]]), C(-1)),
     ints(0, 255, 3, 3, dtype=np.uint8))

# ------------------------------------------------------------------------------------------- GatherElements
GE_IDX, GND_IDX = ints(0, 3, 2, 4, 2), ints(0, 3, 2, 3, 1, 1)
for axis, idx in ((0, [[0, 2, 1], [1, 0, 0]]), (-1, [[2], [0], [1]])):
    case("GatherElements", "opset6", f"axis{axis}", lambda x, a=axis, i=idx: opset6.gather_elements(x, C(i), a),
         f32(3, 3))
case("GatherElements", "opset6", "3d-i32-idx", lambda x: opset6.gather_elements(
    x, C(GE_IDX, np.int32), 1), f32(2, 3, 2))
case("GatherElements", "opset6", "negative-indices", lambda x: opset6.gather_elements(
    x, C([[-1, 0], [1, -2]]), 0), f32(3, 2))

# ------------------------------------------------------------------------------------------- GatherND
for v, mod in (("opset5", opset5), ("opset8", opset8)):
    case("GatherND", v, "slices", lambda x, m=mod: m.gather_nd(x, C([[[1], [0]], [[2], [1]]])), f32(3, 2, 4))
    case("GatherND", v, "batch2", lambda x, m=mod: m.gather_nd(x, C(GND_IDX), 2), f32(2, 3, 3, 2))
case("GatherND", "opset8", "batch1-i32-idx", lambda x: opset8.gather_nd(x, C([[1, 0], [2, 1]], np.int32), 1),
     f32(2, 3, 2))
case("GatherND", "opset8", "negative-indices", lambda x: opset8.gather_nd(x, C([[-1, 0], [0, -2]])), f32(3, 2))

# ------------------------------------------------------------------------------------------- OneHot
for v, mod, axes in (("opset1", opset1, (-1,)), ("opset16", opset16, (1,))):
    for axis in axes:
        case("OneHot", v, f"axis{axis}", lambda i, m=mod, a=axis: m.one_hot(
            i, C(4), C(1.5, np.float32), C(-0.5, np.float32), a), ints(0, 4, 2, 3))
    case("OneHot", v, "out-of-range", lambda i, m=mod: m.one_hot(i, C(3, np.int32), C(1, np.int32), C(0, np.int32), -1),
         np.array([0, 2, 3, 7], np.int64))
case("OneHot", "opset1", "negative-index", lambda i: opset1.one_hot(
    i, C(4), C(1.0, np.float32), C(0.0, np.float32), -1), np.array([-1, 0, -4, 2], np.int32))
case("OneHot", "opset16", "scalar-index", lambda i: opset16.one_hot(i, C(5), C(1.0, np.float32), C(0.0, np.float32), 0),
     np.array(3, np.int32))
for mode in ("ignore_negative", "normalize"):
    case("OneHot", "opset16", f"negative-{mode}", lambda i, m=mode: opset16.one_hot(
        i, C(4), C(1.0, np.float32), C(0.0, np.float32), -1, m), np.array([[-1, 0], [-4, 2], [-5, 3]], np.int32))

# ------------------------------------------------------------------------------------------- Pad
case("Pad", "opset1", "constant-value", lambda x: opset1.pad(x, C([1, 2]), C([2, 1]), "constant", C(-3.5, np.float32)),
     f32(2, 3))
for mode in ("edge", "reflect", "symmetric"):
    case("Pad", "opset1", mode, lambda x, p=mode: opset1.pad(x, C([0, 1, 2]), C([1, 2, 0]), p), f32(2, 3, 4))
case("Pad", "opset1", "i32-constant", lambda x: opset1.pad(x, C([1, 1], np.int32), C([0, 2], np.int32), "constant",
                                                           C(7, np.int32)), ints(-9, 9, 2, 3))
case("Pad", "opset12", "constant-0", lambda x: opset12.pad(x, C([1, 0, 2]), C([0, 2, 1]), "constant"), f32(2, 3, 4))
for mode in ("constant", "edge", "reflect", "symmetric"):
    case("Pad", "opset12", f"negative-{mode}", lambda x, p=mode: opset12.pad(x, C([-1, 2]), C([1, -2]), p), f32(4, 5))

# ------------------------------------------------------------------------------------------- Range
S = np.array  # Range's inputs are scalars


def _range(v, out=None):
    return (lambda a, b, c: opset1.range(a, b, c)) if v == "opset1" else (lambda a, b, c: opset12.range(a, b, c, out))


case("Range", "opset1", "f32", _range("opset1"), S(0.5, np.float32), S(4.2, np.float32), S(0.7, np.float32))
case("Range", "opset4", "f32-negative-step", _range("opset4", "f32"), S(1.5, np.float32), S(-1.0, np.float32),
     S(-0.3, np.float32))
case("Range", "opset4", "i64-out", _range("opset4", "i64"), S(2, np.int32), S(11, np.int32), S(3, np.int32))
case("Range", "opset4", "i32-out-negative-step", _range("opset4", "i32"), S(4, np.int64), S(-4, np.int64),
     S(-2, np.int64))
case("Range", "opset4", "empty", _range("opset4", "i32"), S(3, np.int32), S(3, np.int32), S(1, np.int32))

# ------------------------------------------------------------------------------------------- Reshape
case("Reshape", "opset1", "minus1", lambda x: opset1.reshape(x, C([4, -1]), False), f32(2, 3, 4))
case("Reshape", "opset1", "special-zero", lambda x: opset1.reshape(x, C([0, -1, 2]), True), f32(2, 3, 4))
case("Reshape", "opset1", "to-scalar", lambda x: opset1.reshape(x, EMPTY(), False), f32(1, 1))
case("Reshape", "opset1", "empty", lambda x: opset1.reshape(x, C([0, 3, -1]), False), f32(0, 6))

# ------------------------------------------------------------------------------------------- ShapeOf
case("ShapeOf", "opset1", "f32", lambda x: opset1.shape_of(x), f32(2, 3, 4))
case("ShapeOf", "opset3", "i64", lambda x: opset3.shape_of(x, "i64"), f32(1, 0, 5))
case("ShapeOf", "opset3", "i32", lambda x: opset3.shape_of(x, "i32"), ints(0, 9, 3, 2, dtype=np.uint8))

# ------------------------------------------------------------------------------------------- ShuffleChannels
for axis, group, shape in [(1, 3, (1, 6, 2, 2)), (-1, 2, (2, 3, 6)), (0, 3, (6, 2))]:
    case("ShuffleChannels", "opset1", f"axis{axis}-g{group}", lambda x, a=axis, g=group: opset3.shuffle_channels(
        x, a, g), f32(*shape))

# ------------------------------------------------------------------------------------------- Slice
for start, stop, step, axes in [([0, 4], [I64_MAX, 0], [2, -2], [0, 2]), ([2, 1], [-1, 100], [1, 2], [-1, -3]),
                                ([0, 1, 0], [2, 3, 5], [1, 1, 3], None), ([3], [1], [1], [0]),
                                ([4], [-I64_MAX], [-1], [1])]:
    case("Slice", "opset8", f"{start}-{stop}-{step}-{axes}".replace(str(I64_MAX), "max"),
         lambda x, a=start, b=stop, c=step, d=axes: opset8.slice(x, C(a), C(b), C(c), None if d is None else C(d)),
         f32(4, 5, 6))
case("Slice", "opset8", "i32-params-u8", lambda x: opset8.slice(x, C([1], np.int32), C([3], np.int32),
                                                                C([1], np.int32), C([1], np.int32)),
     ints(0, 255, 2, 4, dtype=np.uint8))

# ------------------------------------------------------------------------------------------- Split / VariadicSplit
case("Split", "opset1", "axis-1", lambda x: opset1.split(x, C(-1), 2), f32(2, 3, 4))
case("Split", "opset1", "one", lambda x: opset1.split(x, C(0, np.int32), 1), f32(3, 2))
for lengths, axis in [([1, 2, 3], 1), ([2, -1], -1), ([0, 3, 3], 1)]:
    case("VariadicSplit", "opset1", f"{lengths}-axis{axis}", lambda x, s=lengths, a=axis: opset1.variadic_split(
        x, C(a), C(s)), f32(4, 6, 2) if axis != -1 else f32(2, 5))
case("VariadicSplit", "opset1", "i32-lengths-i32-data", lambda x: opset1.variadic_split(
    x, C(0, np.int32), C([1, 1], np.int32)), ints(0, 9, 2, 3))

# ------------------------------------------------------------------------------------------- Squeeze / Unsqueeze
case("Squeeze", "opset1", "axes", lambda x: opset1.squeeze(x, C([0, 2])), f32(1, 3, 1, 2))
case("Squeeze", "opset1", "all", lambda x: NodeFactory("opset1").create("Squeeze", [x.output(0)], {}),
     f32(1, 3, 1, 1, 2))
case("Squeeze", "opset15", "axes", lambda x: opset15.squeeze(x, C([1, -1])), f32(2, 1, 3, 1))
case("Squeeze", "opset15", "all", lambda x: opset15.squeeze(x), f32(1, 2, 1))
case("Squeeze", "opset15", "allow-axis-skip", lambda x: opset15.squeeze(x, C([0, 1]), True), f32(1, 3, 2))
case("Unsqueeze", "opset1", "several", lambda x: opset1.unsqueeze(x, C([0, 3])), f32(3, 2))
case("Unsqueeze", "opset1", "negative", lambda x: opset1.unsqueeze(x, C([-1, -3])), f32(3, 2))
case("Unsqueeze", "opset1", "scalar", lambda x: opset1.unsqueeze(x, C(0)), f32())

# ------------------------------------------------------------------------------------------- StridedSlice
for label, begin, end, stride, bm, em, nm, sm, elm in [
        ("masks", [1, 0, 2], [0, 2, 0], [1, 1, 1], [0, 1, 0], [1, 0, 1], [], [], []),
        ("negative-stride", [-1, 0, -1], [0, 3, 0], [-1, 1, -2], [1, 0, 0], [1, 0, 1], [], [], []),
        ("shrink", [1, 0, 2], [2, 3, 3], [1, 1, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 0, 1], [0, 0, 0]),
        ("new-axis", [0, 0, 0], [1, 2, 3], [1, 1, 1], [0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]),
        ("ellipsis", [0, 1], [0, 4], [1, 2], [0, 0], [0, 0], [0, 0], [0, 0], [1, 0]),
        ("ellipsis-last", [1, 0], [2, 0], [1, 1], [0, 0], [0, 0], [0, 0], [1, 0], [0, 1]),
        ("out-of-range", [-10, 1, 0], [10, 100, -100], [1, 1, 1], [], [], [], [], [])]:
    case("StridedSlice", "opset1", label, lambda x, a=begin, b=end, c=stride, d=bm, e=em, f=nm, g=sm, h=elm: (
        opset1.strided_slice(x, C(a), C(b), C(c), d, e, f, g, h)), f32(3, 4, 6))
case("StridedSlice", "opset1", "i32-params-i64-data", lambda x: opset1.strided_slice(
    x, C([1, 0], np.int32), C([3, 2], np.int32), C([1, 1], np.int32), [0, 1], [0, 0]), ints(0, 9, 4, 3, dtype=np.int64))

# ------------------------------------------------------------------------------------------- Tile
case("Tile", "opset1", "more-repeats", lambda x: opset1.tile(x, C([2, 1, 2])), f32(3, 2))
case("Tile", "opset1", "fewer-repeats", lambda x: opset1.tile(x, C([3])), f32(2, 2, 3))
case("Tile", "opset1", "scalar", lambda x: opset1.tile(x, C([3])), f32())

# ------------------------------------------------------------------------------------------- Transpose
case("Transpose", "opset1", "4d-i32-order", lambda x: opset1.transpose(x, C([0, 2, 3, 1], np.int32)), f32(2, 3, 4, 5))
case("Transpose", "opset1", "empty-order", lambda x: opset1.transpose(x, EMPTY()), f32(2, 3, 4))
case("Transpose", "opset1", "empty-tensor", lambda x: opset1.transpose(x, C([1, 0, 2])), f32(2, 0, 3))

# known mismatches (left out; see the helper's report):
# - StridedSlice-1 with a new axis followed by a shrunk one (new_axis_mask [1,0,0], shrink_axis_mask [0,1,0]):
#   the CPU plugin returns uninitialised memory past the first values; irtool gives x[None, 2, ...].
# - Gather-8 with empty (shape [0]) constant indices: OpenVINO's compile_model dies of SIGFPE.
# - Range-1/4 whose step points away from stop (start=5, stop=2, step=1): the CPU plugin returns
#   ceil(|stop - start| / |step|) values (5, 6, 7), the spec (and OpenVINO's own constant folding) none.
