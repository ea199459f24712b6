"""Conformance cases: search."""
from __future__ import annotations

import numpy as np
from openvino import opset3, opset10, opset15

from tests.conformance._build import C, case, f32, ints

# ------------------------------------------------------------------------------------------- search
for right in (True, False):
    case("Bucketize", "opset3", f"right{int(right)}", lambda x, r=right: opset3.bucketize(
        x, C([-1.0, 0.0, 0.5, 2.0], np.float32), "i64", r), np.round(f32(3, 7) * 2) / 2)
case("Bucketize", "opset3", "i32-out-int-data", lambda x: opset3.bucketize(x, C([2, 5, 9], np.int32), "i32"),
     ints(0, 12, 10))
for right in (False, True):
    case("SearchSorted", "opset15", f"1d-right{int(right)}", lambda x, r=right: opset15.search_sorted(
        C([-1.0, 0.0, 0.0, 0.5, 2.0], np.float32), x, r), np.round(f32(4, 3) * 2) / 2)
    case("SearchSorted", "opset15", f"nd-right{int(right)}", lambda s, x, r=right: opset15.search_sorted(s, x, r),
         np.sort(np.round(f32(2, 3, 6) * 2) / 2, axis=-1), np.round(f32(2, 3, 4) * 2) / 2)
case("NonZero", "opset3", "f32", lambda x: opset3.non_zero(x, "i64"), np.where(f32(3, 4) > 0.3, 1, 0).astype(np.float32))
case("NonZero", "opset3", "i32-out", lambda x: opset3.non_zero(x, "i32"), ints(0, 2, 2, 3, 2))
case("NonZero", "opset3", "bool-1d", lambda x: opset3.non_zero(x, "i64"), np.array([0, 1, 1, 0, 1], bool))
UNIQUE = np.array([[3, 1, 3, 2], [3, 1, 3, 2], [0, 5, 0, 5]], np.float32)
for sorted_ in (True, False):
    case("Unique", "opset10", f"flat-sorted{int(sorted_)}", lambda x, s=sorted_: opset10.unique(x, sorted=s), UNIQUE)
    case("Unique", "opset10", f"axis0-sorted{int(sorted_)}", lambda x, s=sorted_: opset10.unique(x, C(0), s), UNIQUE)
    case("Unique", "opset10", f"axis-1-sorted{int(sorted_)}", lambda x, s=sorted_: opset10.unique(x, C(-1), s), UNIQUE)
case("Unique", "opset10", "i32-types", lambda x: opset10.unique(x, sorted=True, index_element_type="i32",
                                                                 count_element_type="i32"), ints(0, 5, 12))
