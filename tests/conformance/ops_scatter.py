"""Conformance cases: scatter."""
from __future__ import annotations

import numpy as np
from openvino import opset3, opset12, opset15

from tests.conformance._build import C, case, f32, ints

# ------------------------------------------------------------------------------------------- scatter
SEU_IDX = np.array([[1, 0, 2], [0, 2, 2]], np.int64)  # two updates meet at one element on axis 0 and 1
SEU_UNIQUE = np.array([[1, 0, 2], [0, 2, 1]], np.int64)  # (which one wins without a reduction is unspecified)
for axis in (0, 1, -1):
    case("ScatterElementsUpdate", "opset3", f"axis{axis}", lambda x, u, a=axis: opset3.scatter_elements_update(
        x, C(SEU_UNIQUE), u, C(a)), f32(3, 4), f32(2, 3))
case("ScatterElementsUpdate", "opset3", "negative-indices", lambda x, u: opset3.scatter_elements_update(
    x, C([[-1, 0], [1, -3]]), u, C(1)), f32(2, 3), f32(2, 2))
for reduction in ("none", "sum", "prod", "min", "max", "mean"):
    for init in (True, False):
        case("ScatterElementsUpdate", "opset12", f"{reduction}-init{int(init)}", lambda x, u, r=reduction, i=init: (
            opset12.scatter_elements_update(x, C(SEU_UNIQUE if r == "none" else SEU_IDX), u, C(1), r, i)),
            f32(3, 4), f32(2, 3))
    case("ScatterElementsUpdate", "opset12", f"{reduction}-i32", lambda x, u, r=reduction: (
        opset12.scatter_elements_update(x, C(SEU_UNIQUE if r == "none" else SEU_IDX), u, C(1), r, True)),
        ints(-9, 9, 3, 4), ints(-9, 9, 2, 3))
for start, stop, step, axes, upd in [([1], [3], [1], [0], (2, 5)), ([0, 4], [4, 0], [2, -2], [0, 1], (2, 2)),
                                     ([-2], [100], [1], [-1], (4, 2)), ([0, 1], [3, 5], [1, 3], None, (3, 2))]:
    case("SliceScatter", "opset15", f"{start}-{stop}-{step}-{axes}", lambda x, u, a=start, b=stop, c=step, d=axes: (
        opset15.slice_scatter(x, u, C(a), C(b), C(c), None if d is None else C(d))), f32(4, 5), f32(*upd))
