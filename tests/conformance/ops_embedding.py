"""Conformance cases: embedding bags (offsets, packed, segments; opset3 sums and opset15 reductions)."""
from __future__ import annotations

import numpy as np
from openvino import opset3, opset15

from tests.conformance._build import C, case, f32, ints

# ------------------------------------------------------------------------------------------- offsets
TABLE = f32(7, 3)
IDX = np.array([0, 2, 4, 1, 3, 6, 6, 5], np.int32)
OFFS = np.array([0, 2, 2, 5, 5], np.int32)  # bags 1 and 3 are empty; the last is not (OpenVINO refuses that)
W = f32(8)
for itype in (np.int32, np.int64):
    t = np.dtype(itype).name
    case("EmbeddingBagOffsetsSum", "opset3", f"{t}-no-default", lambda e, i=itype: opset3.embedding_bag_offsets_sum(
        e, C(IDX, i), C(OFFS, i)), TABLE)
    case("EmbeddingBagOffsetsSum", "opset3", f"{t}-default", lambda e, i=itype: opset3.embedding_bag_offsets_sum(
        e, C(IDX, i), C(OFFS, i), C(3, i)), TABLE)
    case("EmbeddingBagOffsetsSum", "opset3", f"{t}-default-weights", lambda e, w, i=itype: (
        opset3.embedding_bag_offsets_sum(e, C(IDX, i), C(OFFS, i), C(6, i), w)), TABLE, W)
    case("EmbeddingBagOffsetsSum", "opset3", f"{t}-indices-parameters", lambda e, i, o: (
        opset3.embedding_bag_offsets_sum(e, i, o)), TABLE, IDX.astype(itype), OFFS.astype(itype))
case("EmbeddingBagOffsetsSum", "opset3", "default-minus1-weights", lambda e, w: opset3.embedding_bag_offsets_sum(
    e, C(IDX, np.int32), C(OFFS, np.int32), C(-1, np.int32), w), TABLE, W)  # -1: empty bags are zeros
case("EmbeddingBagOffsetsSum", "opset3", "first-bag-empty-3d-table", lambda e: opset3.embedding_bag_offsets_sum(
    e, C([1, 2, 0], np.int32), C([0, 0, 1], np.int32), C(2, np.int32)), f32(3, 2, 2))
case("EmbeddingBagOffsetsSum", "opset3", "i32-table-weights", lambda e, w: opset3.embedding_bag_offsets_sum(
    e, C(IDX, np.int32), C(OFFS, np.int32), C(1, np.int32), w), ints(-50, 50, 7, 3), ints(-3, 4, 8))
for red in ("sum", "mean"):
    for itype in (np.int32, np.int64):
        t = np.dtype(itype).name
        case("EmbeddingBagOffsets", "opset15", f"{red}-{t}", lambda e, r=red, i=itype: opset15.embedding_bag_offsets(
            e, C(IDX, i), C(OFFS, i), reduction=r), TABLE)
        case("EmbeddingBagOffsets", "opset15", f"{red}-{t}-default", lambda e, r=red, i=itype: (
            opset15.embedding_bag_offsets(e, C(IDX, i), C(OFFS, i), C(2, i), reduction=r)), TABLE)
    # integer tables: sums wrap in the type, the mean truncates toward zero
    case("EmbeddingBagOffsets", "opset15", f"{red}-i8-table", lambda e, r=red: opset15.embedding_bag_offsets(
        e, C(IDX, np.int32), C(OFFS, np.int32), reduction=r), ints(-120, 120, 7, 3, dtype=np.int8))
    case("EmbeddingBagOffsets", "opset15", f"{red}-u8-table", lambda e, r=red: opset15.embedding_bag_offsets(
        e, C(IDX, np.int32), C(OFFS, np.int32), C(0, np.int32), reduction=r), ints(0, 255, 7, 3, dtype=np.uint8))
    case("EmbeddingBagOffsets", "opset15", f"{red}-i32-table", lambda e, r=red: opset15.embedding_bag_offsets(
        e, C(IDX, np.int32), C(OFFS, np.int32), reduction=r), ints(-99, 99, 7, 3))
    case("EmbeddingBagOffsets", "opset15", f"{red}-f16-table", lambda e, r=red: opset15.embedding_bag_offsets(
        e, C(IDX, np.int32), C(OFFS, np.int32), reduction=r), f32(7, 3).astype(np.float16))
case("EmbeddingBagOffsets", "opset15", "sum-weights", lambda e, w: opset15.embedding_bag_offsets(
    e, C(IDX, np.int64), C(OFFS, np.int64), C(4, np.int64), w, reduction="sum"), TABLE, W)
case("EmbeddingBagOffsets", "opset15", "mean-parameters", lambda e, i, o, d: opset15.embedding_bag_offsets(
    e, i, o, d, reduction="mean"), TABLE, IDX, OFFS, np.int32(5))

# ------------------------------------------------------------------------------------------- packed
PACKED = np.array([[0, 2, 2], [6, 1, 0], [5, 5, 5], [3, 4, 6]], np.int32)
for itype in (np.int32, np.int64):
    t = np.dtype(itype).name
    case("EmbeddingBagPackedSum", "opset3", t, lambda e, i=itype: opset3.embedding_bag_packed_sum(
        e, C(PACKED, i)), TABLE)
    case("EmbeddingBagPackedSum", "opset3", f"{t}-weights", lambda e, w, i=itype: opset3.embedding_bag_packed_sum(
        e, C(PACKED, i), w), TABLE, f32(4, 3))
    for red in ("sum", "mean"):
        case("EmbeddingBagPacked", "opset15", f"{red}-{t}", lambda e, r=red, i=itype: opset15.embedding_bag_packed(
            e, C(PACKED, i), reduction=r), TABLE)
case("EmbeddingBagPackedSum", "opset3", "indices-parameter-3d-table", lambda e, i: opset3.embedding_bag_packed_sum(
    e, i), f32(7, 2, 2), PACKED.astype(np.int64))
case("EmbeddingBagPackedSum", "opset3", "i8-table-weights", lambda e, w: opset3.embedding_bag_packed_sum(
    e, C(PACKED, np.int32), w), ints(-100, 100, 7, 3, dtype=np.int8), ints(-3, 4, 4, 3, dtype=np.int8))
case("EmbeddingBagPacked", "opset15", "sum-weights", lambda e, w: opset15.embedding_bag_packed(
    e, C(PACKED, np.int32), w, reduction="sum"), TABLE, f32(4, 3))
case("EmbeddingBagPacked", "opset15", "mean-i32-table", lambda e: opset15.embedding_bag_packed(
    e, C(PACKED, np.int32), reduction="mean"), ints(-99, 99, 7, 3))
case("EmbeddingBagPacked", "opset15", "mean-single", lambda e: opset15.embedding_bag_packed(
    e, C(PACKED[:, :1], np.int32), reduction="mean"), TABLE)

# ------------------------------------------------------------------------------------------- segments
SEG_IDX = np.array([0, 2, 4, 1, 3, 6, 6], np.int32)
SEG_IDS = np.array([0, 0, 2, 2, 2, 4, 4], np.int32)  # segments 1 and 3 (and 5 of 6) are empty
for itype in (np.int32, np.int64):
    t = np.dtype(itype).name
    case("EmbeddingSegmentsSum", "opset3", f"{t}-no-default", lambda e, i=itype: opset3.embedding_segments_sum(
        e, C(SEG_IDX, i), C(SEG_IDS, i), C(6, i)), TABLE)
    case("EmbeddingSegmentsSum", "opset3", f"{t}-default-weights", lambda e, w, i=itype: (
        opset3.embedding_segments_sum(e, C(SEG_IDX, i), C(SEG_IDS, i), C(6, i), C(3, i), w)), TABLE, f32(7))
case("EmbeddingSegmentsSum", "opset3", "fewer-segments-than-ids", lambda e: opset3.embedding_segments_sum(
    e, C(SEG_IDX, np.int32), C(SEG_IDS, np.int32), C(3, np.int32), C(1, np.int32)), TABLE)  # id 4 counts for nothing
case("EmbeddingSegmentsSum", "opset3", "parameters", lambda e, i, s, n: opset3.embedding_segments_sum(
    e, i, s, n), TABLE, SEG_IDX, SEG_IDS, np.int32(5))
# unsorted ids: OpenVINO reads each segment's indices and weights contiguously from its first id
case("EmbeddingSegmentsSum", "opset3", "unsorted-ids-weights", lambda e, w: opset3.embedding_segments_sum(
    e, C(SEG_IDX, np.int32), C([2, 0, 2, 0, 1, 3, 3], np.int32), C(4, np.int32), C(5, np.int32), w), TABLE, f32(7))
case("EmbeddingSegmentsSum", "opset3", "u8-table", lambda e: opset3.embedding_segments_sum(
    e, C(SEG_IDX, np.int32), C(SEG_IDS, np.int32), C(5, np.int32), C(0, np.int32)), ints(0, 255, 7, 3, dtype=np.uint8))
