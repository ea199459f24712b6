"""Conformance cases: non-maximum suppression (NonMaxSuppression 1/3/4/5/9, NMSRotated-13,
MulticlassNms-8/9, MatrixNms-8).

Scores are distinct (drawn floats) but in the ``ties`` cases, which take quarters so that equal
scores meet in the sorts and heaps. Left out: what OpenVINO's CPU plugin answers with garbage or a
crash, ``max_output_boxes_per_class`` 0 and empty box lists (NonMaxSuppression's ``valid_outputs``
is left unwritten), ``nms_top_k`` 0 (MulticlassNms' counts unwritten, MatrixNms segfaults) and a
MatrixNms that keeps no box (its node asserts).
"""
from __future__ import annotations

import numpy as np
from openvino import opset1, opset3, opset4, opset5, opset8, opset9, opset13

from tests.conformance._build import C
from tests.conformance._build import case as _case

RNG = np.random.default_rng(2024)  # this module's own: the shared stream stays as the other modules drew it


def boxes(n: int, images: int = 2, spread: float = 6.0, size: float = 3.0) -> np.ndarray:
    """``[images, n, 4]`` boxes ``[a1, b1, a2, b2]`` with a1 < a2, b1 < b2, many overlapping."""
    lo = RNG.random((images, n, 2)) * spread
    return np.concatenate([lo, lo + RNG.random((images, n, 2)) * size + 0.5], -1).astype(np.float32)


def centers(n: int, images: int = 2) -> np.ndarray:
    """``[images, n, 4]`` boxes ``[xc, yc, w, h]``."""
    return np.concatenate([RNG.random((images, n, 2)) * 6, RNG.random((images, n, 2)) * 3 + 0.5], -1).astype(np.float32)


def rotated(n: int, images: int = 2) -> np.ndarray:
    """``[images, n, 5]`` boxes ``[xc, yc, w, h, angle]``, angles in (-1.5, 1.5) radians."""
    return np.concatenate([RNG.random((images, n, 2)) * 8, RNG.random((images, n, 2)) * 4 + 1,
                           (RNG.random((images, n, 1)) - 0.5) * 3], -1).astype(np.float32)


def scores(images: int, classes: int, n: int) -> np.ndarray:
    return RNG.random((images, classes, n)).astype(np.float32)


def quarters(*shape: int) -> np.ndarray:
    return (RNG.integers(0, 4, shape) / 4).astype(np.float32)


def F(v) -> object:
    return C(np.float32(v), np.float32)


def case(*args, **kw) -> None:
    """Scores and decayed scores within 1e-5 of OpenVINO's (relative); indices and counts exact."""
    _case(*args, rel=1e-5, **kw)


def mc(ops, *args, **kw):
    """MulticlassNms of opset8 or opset9 (whose third input, roisnum, is left out here)."""
    return ops.multiclass_nms(*args, **kw) if ops is opset8 else ops.multiclass_nms(args[0], args[1], None, *args[2:],
                                                                                     **kw)


# ------------------------------------------------------------------------------------------- NonMaxSuppression
B, S = boxes(20), scores(2, 3, 20)
BC = centers(20)
OPSETS = {"opset1": opset1, "opset3": opset3, "opset4": opset4, "opset5": opset5, "opset9": opset9}
for v, ops in OPSETS.items():
    case("NonMaxSuppression", v, "corner-desc", lambda b, s, ops=ops: ops.non_max_suppression(
        b, s, C(5), F(0.4), F(0.1)), B, S)
    case("NonMaxSuppression", v, "center-nodesc", lambda b, s, ops=ops: ops.non_max_suppression(
        b, s, C(5), F(0.4), F(0.1), box_encoding="center", sort_result_descending=False), BC, S)
    if v != "opset1":
        case("NonMaxSuppression", v, "i32-out", lambda b, s, ops=ops: ops.non_max_suppression(
            b, s, C(4, np.int32), F(0.5), F(0.2), output_type="i32"), B, S)
case("NonMaxSuppression", "opset3", "max-only", lambda b, s: opset3.non_max_suppression(b, s, C(3)), B, S)
case("NonMaxSuppression", "opset4", "flipped-corners", lambda b, s: opset4.non_max_suppression(
    b, s, C(6), F(0.3), F(0.0)), B[..., [2, 3, 0, 1]].copy(), S)
case("NonMaxSuppression", "opset1", "ties", lambda b, s: opset1.non_max_suppression(b, s, C(6), F(0.3), F(0.0)),
     boxes(16), quarters(2, 3, 16))
for v, ops in (("opset5", opset5), ("opset9", opset9)):
    case("NonMaxSuppression", v, "soft", lambda b, s, ops=ops: ops.non_max_suppression(
        b, s, C(6), F(0.4), F(0.1), F(0.5)), B, S)
    case("NonMaxSuppression", v, "soft-center-nodesc", lambda b, s, ops=ops: ops.non_max_suppression(
        b, s, C(30), F(0.4), F(0.05), F(0.2), box_encoding="center", sort_result_descending=False), BC, S)
case("NonMaxSuppression", "opset9", "soft-negative-sigma", lambda b, s: opset9.non_max_suppression(
    b, s, C(8), F(0.4), F(0.1), F(-1.0)), B, S)
case("NonMaxSuppression", "opset9", "ties-nodesc", lambda b, s: opset9.non_max_suppression(
    b, s, C(6), F(0.3), F(0.0), sort_result_descending=False), boxes(16), quarters(2, 3, 16))
case("NonMaxSuppression", "opset9", "ties-soft", lambda b, s: opset9.non_max_suppression(
    b, s, C(8), F(0.3), F(0.1), F(0.5)), boxes(16), quarters(2, 3, 16))
case("NonMaxSuppression", "opset9", "inputs-as-parameters", lambda b, s, m, i, t: opset9.non_max_suppression(
    b, s, m, i, t), B, S, np.array([4], np.int32), np.array([0.3], np.float32), np.array(0.2, np.float32))
case("NonMaxSuppression", "opset5", "huge-max-boxes", lambda b, s: opset5.non_max_suppression(
    b, s, C(2**40), F(0.4), F(0.1)), B, S)
case("NonMaxSuppression", "opset9", "f16", lambda b, s: opset9.non_max_suppression(
    b, s, C(6), F(0.3), F(0.1)), B.astype(np.float16), S.astype(np.float16))
case("NonMaxSuppression", "opset9", "1200-boxes", lambda b, s: opset9.non_max_suppression(
    b, s, C(1200), F(0.5), F(0.05)), boxes(1200, 1, spread=100, size=10), scores(1, 2, 1200))
case("NonMaxSuppression", "opset9", "1200-boxes-soft", lambda b, s: opset9.non_max_suppression(
    b, s, C(300), F(0.5), F(0.05), F(0.5)), boxes(1200, 1, spread=100, size=10), scores(1, 1, 1200))

# ------------------------------------------------------------------------------------------- NMSRotated
R, SR = rotated(24), scores(2, 3, 24)
for cw in (True, False):
    for desc in (True, False):
        case("NMSRotated", "opset13", f"cw{int(cw)}-desc{int(desc)}", lambda b, s, cw=cw, d=desc: opset13.nms_rotated(
            b, s, C(10), F(0.3), F(0.1), d, "i64", cw), R, SR)
case("NMSRotated", "opset13", "low-iou-i32", lambda b, s: opset13.nms_rotated(
    b, s, C(30), F(0.05), F(0.1), True, "i32"), R, SR)
R0 = R.copy()
R0[0, 3, 2] = 0  # a box without area: suppressed only by a negative threshold
case("NMSRotated", "opset13", "no-area-negative-iou", lambda b, s: opset13.nms_rotated(
    b, s, C(30), F(-0.1), F(0.0)), R0, SR)
case("NMSRotated", "opset13", "no-area", lambda b, s: opset13.nms_rotated(b, s, C(30), F(0.3), F(0.0)), R0, SR)
GRID = np.concatenate([RNG.integers(0, 6, (1, 12, 2)), RNG.integers(1, 4, (1, 12, 2)), np.zeros((1, 12, 1))], -1)
case("NMSRotated", "opset13", "axis-aligned-grid", lambda b, s: opset13.nms_rotated(
    b, s, C(30), F(0.2), F(0.0)), GRID.astype(np.float32), scores(1, 2, 12))
case("NMSRotated", "opset13", "600-boxes", lambda b, s: opset13.nms_rotated(b, s, C(600), F(0.4), F(0.05)),
     np.concatenate([rotated(600, 1)[..., :2] * 12, rotated(600, 1)[..., 2:]], -1), scores(1, 1, 600))

# ------------------------------------------------------------------------------------------- MulticlassNms
MB, MS = boxes(12), scores(2, 4, 12)
for v, ops in (("opset8", opset8), ("opset9", opset9)):
    for sort in ("none", "score", "classid"):
        for across in (False, True):
            case("MulticlassNms", v, f"{sort}-across{int(across)}", lambda b, s, ops=ops, st=sort, a=across: mc(
                ops, b, s, st, a, "i32", 0.4, 0.2), MB, MS)
    case("MulticlassNms", v, "top-k-background", lambda b, s, ops=ops: mc(
        ops, b, s, "score", False, "i64", 0.4, 0.1, 5, 6, 1), MB, MS)
    case("MulticlassNms", v, "eta", lambda b, s, ops=ops: mc(
        ops, b, s, "score", False, "i32", 0.7, 0.1, -1, -1, -1, 0.9), MB, MS)
case("MulticlassNms", "opset8", "eta-0", lambda b, s: opset8.multiclass_nms(
    b, s, "classid", True, "i64", 0.8, 0.1, -1, -1, -1, 0.0), MB, MS)
case("MulticlassNms", "opset8", "unnormalized", lambda b, s: opset8.multiclass_nms(
    b, s, "score", False, "i32", 0.4, 0.1, -1, -1, -1, 1.0, False), np.round(MB * 20), MS)
case("MulticlassNms", "opset8", "ties", lambda b, s: opset8.multiclass_nms(
    b, s, "score", True, "i32", 0.4, 0.2), MB, quarters(2, 4, 12))
case("MulticlassNms", "opset9", "ties-classid", lambda b, s: opset9.multiclass_nms(
    b, s, None, "classid", False, "i32", 0.4, 0.2), MB, quarters(2, 4, 12))
case("MulticlassNms", "opset8", "f16", lambda b, s: opset8.multiclass_nms(
    b, s, "score", False, "i32", 0.4, 0.2), MB.astype(np.float16), MS.astype(np.float16))
RB, RS = boxes(15, 4), RNG.random((4, 15)).astype(np.float32)  # per class boxes [C, rois, 4], scores [C, rois]
for sort, across in (("score", False), ("classid", True), ("score", True)):
    case("MulticlassNms", "opset9", f"roisnum-{sort}-across{int(across)}", lambda b, s, r, st=sort, a=across:
         opset9.multiclass_nms(b, s, r, st, a, "i32", 0.4, 0.1, -1, -1, 0), RB, RS, np.array([4, 0, 11], np.int32))
case("MulticlassNms", "opset9", "roisnum-i64-top-k", lambda b, s, r: opset9.multiclass_nms(
    b, s, r, "score", False, "i64", 0.4, 0.1, 3, 4), RB, RS, np.array([7, 8], np.int64))

# ------------------------------------------------------------------------------------------- MatrixNms
for sort in ("none", "score", "classid"):
    for across in (False, True):
        case("MatrixNms", "opset8", f"{sort}-across{int(across)}", lambda b, s, st=sort, a=across: opset8.matrix_nms(
            b, s, st, a, "i32", 0.1), MB, MS)
case("MatrixNms", "opset8", "gaussian-top-k-background", lambda b, s: opset8.matrix_nms(
    b, s, "score", True, "i64", 0.05, 6, 7, 2, "gaussian", 1.5, 0.2), MB, MS)
case("MatrixNms", "opset8", "linear-post-threshold", lambda b, s: opset8.matrix_nms(
    b, s, "classid", True, "i32", 0.05, -1, 10, 0, "linear", 2.0, 0.3), MB, MS)
case("MatrixNms", "opset8", "unnormalized", lambda b, s: opset8.matrix_nms(
    b, s, "score", False, "i32", 0.1, -1, -1, -1, "linear", 2.0, 0.1, False), np.round(MB * 20), MS)
case("MatrixNms", "opset8", "ties", lambda b, s: opset8.matrix_nms(b, s, "score", False, "i32", 0.1),
     MB, (RNG.integers(0, 3, (2, 4, 12)) / 3).astype(np.float32))
case("MatrixNms", "opset8", "ties-top-k", lambda b, s: opset8.matrix_nms(b, s, "score", True, "i32", 0.1, 5),
     MB, (RNG.integers(0, 3, (2, 4, 12)) / 3).astype(np.float32))
case("MatrixNms", "opset8", "f16", lambda b, s: opset8.matrix_nms(b, s, "score", False, "i32", 0.2),
     MB.astype(np.float16), MS.astype(np.float16))
