"""Conformance cases: reductions and normalizations (Reduce*, SoftMax, LogSoftmax, MVN, NormalizeL2,
BatchNormInference, CumSum, TopK)."""
from __future__ import annotations

import numpy as np
from openvino import opset1, opset2, opset3, opset4, opset5, opset6, opset8, opset11

from tests.conformance._build import C, case, f32, ints

# ------------------------------------------------------------------------------------------- Reduce*
REDUCE = {"ReduceSum": (opset1.reduce_sum, "opset1"), "ReduceMean": (opset1.reduce_mean, "opset1"),
          "ReduceMax": (opset1.reduce_max, "opset1"), "ReduceMin": (opset1.reduce_min, "opset1"),
          "ReduceProd": (opset1.reduce_prod, "opset1"), "ReduceL1": (opset4.reduce_l1, "opset4"),
          "ReduceL2": (opset4.reduce_l2, "opset4")}
for op, (fn, v) in REDUCE.items():
    for axes, keep in [([1], False), ([-1, 0], True)]:
        case(op, v, f"axes{axes}-keep{int(keep)}", lambda x, f=fn, a=axes, k=keep: f(x, C(a), k), f32(2, 3, 4))
    if op not in ("ReduceL1", "ReduceL2"):
        case(op, v, "i32-scalar-axis", lambda x, f=fn: f(x, C(0, np.int32), False), ints(-5, 6, 3, 4)
             if op != "ReduceProd" else ints(-3, 4, 3, 4))
case("ReduceMean", "opset1", "4d-spatial", lambda x: opset1.reduce_mean(x, C([2, 3]), True), f32(2, 3, 4, 5))
case("ReduceMean", "opset1", "i32-truncation", lambda x: opset1.reduce_mean(x, C([0]), False), ints(-9, 9, 3, 7))
case("ReduceMax", "opset1", "u8", lambda x: opset1.reduce_max(x, C([-1]), True), ints(0, 255, 2, 5, dtype=np.uint8))
case("ReduceSum", "opset1", "i64", lambda x: opset1.reduce_sum(x, C([0, 1]), False), ints(-99, 99, 3, 4,
                                                                                         dtype=np.int64))
for op, fn in (("ReduceLogicalAnd", opset1.reduce_logical_and), ("ReduceLogicalOr", opset1.reduce_logical_or)):
    for axes, keep in [([1], False), ([-1, 0], True)]:
        case(op, "opset1", f"axes{axes}-keep{int(keep)}", lambda x, f=fn, a=axes, k=keep: f(x, C(a), k),
             ints(0, 2, 3, 4, 2).astype(bool) if op == "ReduceLogicalOr" else ints(0, 5, 3, 4, 2).astype(bool))

# ------------------------------------------------------------------------------------------- SoftMax / LogSoftmax
for axis in (1, 2):
    case("SoftMax", "opset1", f"axis{axis}", lambda x, a=axis: opset1.softmax(x, a), f32(2, 5, 7, scale=3))
for axis in (-1, -3):
    case("SoftMax", "opset8", f"axis{axis}", lambda x, a=axis: opset8.softmax(x, a), f32(2, 3, 4, 9, scale=3))
case("SoftMax", "opset8", "large-values", lambda x: opset8.softmax(x, -1), f32(3, 6, scale=60))
for axis in (-1, 0):
    case("LogSoftmax", "opset5", f"axis{axis}", lambda x, a=axis: opset5.log_softmax(x, a), f32(3, 4, 5, scale=3))
case("LogSoftmax", "opset5", "large-values", lambda x: opset5.log_softmax(x, 1), f32(2, 8, scale=50))

# ------------------------------------------------------------------------------------------- MVN
for across, norm in ((False, True), (True, True), (False, False)):
    case("MVN", "opset2", f"across{int(across)}-norm{int(norm)}", lambda x, a=across, n=norm: opset2.mvn(
        x, a, n, 1e-6), f32(2, 3, 4, 5, scale=2))
for axes, mode in [([2, 3], "inside_sqrt"), ([-1], "outside_sqrt"), ([1], "inside_sqrt")]:
    case("MVN", "opset6", f"axes{axes}-{mode}", lambda x, a=axes, m=mode: opset6.mvn(x, C(a), True, 1e-5, m),
         f32(2, 3, 4, 5, scale=2))
case("MVN", "opset6", "no-variance", lambda x: opset6.mvn(x, C([-1]), False, 1e-5, "inside_sqrt"), f32(3, 16))
case("MVN", "opset6", "i32-axes-3d", lambda x: opset6.mvn(x, C([2], np.int32), True, 1e-9, "outside_sqrt"),
     f32(2, 4, 32))

# ------------------------------------------------------------------------------------------- NormalizeL2
for axes, mode in [([1], "add"), ([-1], "max"), ([1, 2, 3], "max")]:
    case("NormalizeL2", "opset1", f"axes{axes}-{mode}", lambda x, a=axes, m=mode: opset1.normalize_l2(x, C(a), 1e-6, m),
         f32(2, 3, 4, 5))
case("NormalizeL2", "opset1", "big-eps-max", lambda x: opset1.normalize_l2(x, C([1]), 10.0, "max"),
     f32(2, 3, 2, 2, scale=0.3))

# ------------------------------------------------------------------------------------------- BatchNormInference
for v, mod in (("opset1", opset1), ("opset5", opset5)):
    for shape in ((2, 3), (2, 3, 4, 5)) if v == "opset1" else ((2, 3, 4, 5), (1, 3, 2, 3, 4)):
        c = shape[1]
        case("BatchNormInference", v, f"rank{len(shape)}", lambda x, m=mod, n=c: m.batch_norm_inference(
            x, C(np.linspace(0.5, 2, n), np.float32), C(np.linspace(-1, 1, n), np.float32),
            C(np.linspace(-0.5, 0.5, n), np.float32), C(np.linspace(0.1, 3, n), np.float32), 1e-3), f32(*shape))

case("BatchNormInference", "opset5", "params-as-inputs", lambda x, g, b, mu, var: opset5.batch_norm_inference(
    x, g, b, mu, var, 1e-5), f32(2, 4, 3), f32(4), f32(4), f32(4), np.abs(f32(4)) + 0.1)

# ------------------------------------------------------------------------------------------- CumSum
for exclusive, reverse in ((False, False), (True, False), (True, True)):
    case("CumSum", "opset3", f"ex{int(exclusive)}-rev{int(reverse)}", lambda x, e=exclusive, r=reverse: (
        opset3.cumsum(x, C(1), e, r)), f32(2, 5, 3))
case("CumSum", "opset3", "negative-axis-i32", lambda x: opset3.cumsum(x, C(-1, np.int32)), f32(3, 4))
case("CumSum", "opset3", "i32-data", lambda x: opset3.cumsum(x, C(0), True, False), ints(-9, 9, 4, 3))
case("CumSum", "opset3", "i64-data-reverse", lambda x: opset3.cumsum(x, C(1), False, True), ints(-9, 9, 2, 5,
                                                                                               dtype=np.int64))

# ------------------------------------------------------------------------------------------- TopK
TIES = np.array([[3, 1, 3, 2, 1, 3], [0, 0, 5, 5, 2, 0]], np.float32)
for mode, sort in (("max", "value"), ("min", "index")):
    case("TopK", "opset1", f"{mode}-{sort}", lambda x, m=mode, s=sort: opset1.topk(x, C(3), 1, m, s), f32(2, 7, 3))
for mode, sort in (("min", "value"), ("max", "index")):
    case("TopK", "opset3", f"{mode}-{sort}-i64", lambda x, m=mode, s=sort: opset3.topk(x, C(2), -1, m, s, "i64"),
         f32(3, 5))
for mode, sort, stable in (("max", "value", True), ("min", "value", True), ("max", "index", True),
                           ("min", "index", False), ("max", "none", False)):
    case("TopK", "opset11", f"{mode}-{sort}-stable{int(stable)}", lambda x, m=mode, s=sort, st=stable: (
        opset11.topk(x, C(4), 1, m, s, "i32", st)), TIES)
case("TopK", "opset3", "k-all-i32-data", lambda x: opset3.topk(x, C(4, np.int32), 0, "max", "value", "i32"),
     ints(-20, 20, 4, 3))
case("TopK", "opset3", "u8-min", lambda x: opset3.topk(x, C(2), 1, "min", "value"), ints(0, 255, 3, 6, dtype=np.uint8))
case("TopK", "opset11", "i64-stable-ties", lambda x: opset11.topk(x, C(3), -1, "max", "value", "i64", True),
     np.array([[1, 2, 2, 1, 2], [7, 7, 7, 7, 7]], np.int64))

# known mismatches (left out; see the helper's report):
# - ReduceSum-1 with empty (shape [0]) axes: the CPU plugin refuses it at compile time ("incorrect number
#   of input/output dimensions"); irtool returns the input unchanged, as the spec says.
