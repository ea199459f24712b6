"""Conformance cases: segments (SegmentMax, SparseFillEmptyRows)."""
from __future__ import annotations

import numpy as np
from openvino import opset16

from tests.conformance._build import C, case, f32, ints

# ------------------------------------------------------------------------------------------- SegmentMax
IDS = np.array([0, 0, 2, 2, 2, 4, 5], np.int32)  # 1 and 3 empty
for fill in ("ZERO", "LOWEST"):
    for itype in (np.int32, np.int64):
        t = np.dtype(itype).name
        case("SegmentMax", "opset16", f"{fill.lower()}-ids-{t}", lambda x, f=fill, i=itype: opset16.segment_max(
            x, C(IDS, i), None, f), f32(7, 3))
        case("SegmentMax", "opset16", f"{fill.lower()}-ids-{t}-num-segments8", lambda x, f=fill, i=itype: (
            opset16.segment_max(x, C(IDS, i), C(8, i), f)), f32(7, 2, 2))
    case("SegmentMax", "opset16", f"{fill.lower()}-num-segments3", lambda x, f=fill: opset16.segment_max(
        x, C(IDS, np.int32), C(3, np.int32), f), f32(7, 3))  # ids past 3 count for nothing
    case("SegmentMax", "opset16", f"{fill.lower()}-1d", lambda x, f=fill: opset16.segment_max(
        x, C(IDS, np.int32), None, f), f32(7))
    for dtype in (np.int32, np.int64, np.uint8) + ((np.float16,) if fill == "ZERO" else ()):
        # (f16's lowest fill is -inf, which the oracle cannot compare: tests/test_kernels_inf_outputs.py)
        data = (f32(7, 2) * 40).astype(dtype) if dtype != np.uint8 else ints(0, 255, 7, 2, dtype=np.uint8)
        case("SegmentMax", "opset16", f"{fill.lower()}-data-{np.dtype(dtype).name}", lambda x, f=fill: (
            opset16.segment_max(x, C(IDS, np.int32), None, f)), data)
NANS = f32(7, 2)
NANS[[0, 5], 0] = np.nan  # a NaN never wins; a segment of NaNs only is the lowest value
case("SegmentMax", "opset16", "nan", lambda x: opset16.segment_max(x, C(IDS, np.int32), None, "ZERO"), NANS)
case("SegmentMax", "opset16", "parameters", lambda x, s, n: opset16.segment_max(x, s, n, "LOWEST"),
     f32(7, 3), IDS, np.int32(6))

# ------------------------------------------------------------------------------------------- SparseFillEmptyRows
UNSORTED = [[3, 1], [0, 1], [3, 0], [0, 2], [5, 2]]  # rows 1, 2, 4 empty; OpenVINO sorts by (row, column)
for itype in (np.int32, np.int64):
    t = np.dtype(itype).name
    case("SparseFillEmptyRows", "opset16", f"unsorted-{t}", lambda v, i=itype: opset16.sparse_fill_empty_rows(
        v, C([6, 3], i), C(UNSORTED, i), C(9.0, np.float32)), f32(5))
case("SparseFillEmptyRows", "opset16", "duplicates-keep-order", lambda v: opset16.sparse_fill_empty_rows(
    v, C([3, 3]), C([[2, 1], [2, 1], [0, 0]]), C(-1.0, np.float32)), f32(3))
case("SparseFillEmptyRows", "opset16", "none-empty-i32-values", lambda v: opset16.sparse_fill_empty_rows(
    v, C([2, 3]), C([[1, 1], [0, 2]]), C(0, np.int32)), ints(0, 9, 2))
case("SparseFillEmptyRows", "opset16", "parameters", lambda v, d, i, dv: opset16.sparse_fill_empty_rows(v, d, i, dv),
     f32(2), np.array([4, 3], np.int64), np.array([[1, 1], [2, 2]], np.int64), np.float32(7))
case("SparseFillEmptyRows", "opset16", "no-entries", lambda v, d, i, dv: opset16.sparse_fill_empty_rows(v, d, i, dv),
     np.zeros(0, np.float32), np.array([3, 3], np.int64), np.zeros((0, 2), np.int64), np.float32(7))
