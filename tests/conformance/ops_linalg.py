"""Conformance cases: linalg, fft."""
from __future__ import annotations

import numpy as np
from openvino import opset7, opset9, opset14

from tests.conformance._build import C, case, f32

# ------------------------------------------------------------------------------------------- linalg
for equation, shapes in [("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
                         ("ii->i", [(4, 4)]), ("ij->ji", [(3, 5)]), ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
                         ("i,i->", [(6,), (6,)]), ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 2)]), ("ij", [(2, 3)])]:
    case("Einsum", "opset7", equation, lambda *xs, e=equation: opset7.einsum(list(xs), e), *[f32(*s) for s in shapes])
for adjoint in (False, True):
    case("Inverse", "opset14", f"adjoint{int(adjoint)}", lambda x, a=adjoint: opset14.inverse(x, a),
         (f32(2, 4, 4) + 4 * np.eye(4, dtype=np.float32)), rel=1e-3)
for rows, cols, k, batch, out in [(3, 3, 0, None, "f32"), (3, 5, 2, None, "i32"), (4, 2, -1, [2], "f32"),
                                  (2, 3, -5, [2, 1], "i64"), (3, 3, 1, None, "boolean")]:
    case("Eye", "opset9", f"{rows}x{cols}-k{k}-batch{batch}-{out}", lambda r=rows, c=cols, d=k, b=batch, t=out: (
        opset9.eye(C(r), C(c), C(d), t, None if b is None else C(b))))

# ------------------------------------------------------------------------------------------- fft
for axes, size, shape in [([0, 1], None, (4, 6, 2)), ([-1], None, (3, 5, 2)), ([1], [7], (2, 5, 2)),
                          ([0, 1], [3, -1], (4, 6, 2)), ([2], None, (2, 3, 4, 2))]:
    for op, fn in [("DFT", opset7.dft), ("IDFT", opset7.idft)]:
        case(op, "opset7", f"axes{axes}-size{size}-rank{len(shape)}", lambda x, a=axes, s=size, fn=fn: (
            fn(x, C(a)) if s is None else fn(x, C(a), C(s))), f32(*shape))
for axes, size, shape in [([0, 1], None, (4, 6)), ([-1], None, (3, 5)), ([1], [4], (2, 5)), ([0], [3], (4, 6))]:  # (OpenVINO: crop only)
    case("RDFT", "opset9", f"axes{axes}-size{size}", lambda x, a=axes, s=size: (
        opset9.rdft(x, C(a)) if s is None else opset9.rdft(x, C(a), C(s))), f32(*shape))
for axes, size, shape in [([0, 1], None, (4, 4, 2)), ([-1], None, (3, 5, 2)), ([1], [9], (2, 5, 2)), ([0], [5], (3, 4, 2))]:
    case("IRDFT", "opset9", f"axes{axes}-size{size}", lambda x, a=axes, s=size: (
        opset9.irdft(x, C(a)) if s is None else opset9.irdft(x, C(a), C(s))), f32(*shape))
