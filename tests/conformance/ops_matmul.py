"""Conformance cases: MatMul."""
from __future__ import annotations

import numpy as np
from openvino import opset1

from tests.conformance._build import C, case, f32, ints

# ------------------------------------------------------------------------------------------- MatMul
for ta in (False, True):
    for tb in (False, True):
        case("MatMul", "opset1", f"2d-ta{int(ta)}-tb{int(tb)}", lambda a, b, x=ta, y=tb: opset1.matmul(a, b, x, y),
             f32(*((5, 3) if ta else (3, 5))), f32(*((4, 5) if tb else (5, 4))))
for label, sa, sb, ta, tb in [("batched-ta1-tb1", (2, 1, 6, 3), (4, 2, 6), True, True),
                              ("1d-2d", (5,), (5, 3), False, False), ("2d-1d", (4, 5), (5,), False, False),
                              ("1d-1d", (6,), (6,), False, False), ("1d-transposes-ignored", (5,), (3, 5), True, True),
                              ("1d-batched", (4,), (2, 3, 4, 2), False, False),
                              ("broadcast-both", (2, 1, 3, 4), (1, 5, 4, 2), False, False),
                              ("empty-rows", (0, 3), (3, 4), False, False)]:
    case("MatMul", "opset1", label, lambda a, b, x=ta, y=tb: opset1.matmul(a, b, x, y), f32(*sa), f32(*sb))
W2, W1 = f32(16, 32), f32(8)
case("MatMul", "opset1", "const-weights-tb", lambda a: opset1.matmul(a, C(W2, np.float32), False, True), f32(2, 7, 32))
case("MatMul", "opset1", "large-k", lambda a, b: opset1.matmul(a, b, False, False), f32(9, 700), f32(700, 11),
     rel=3e-4)
case("MatMul", "opset1", "i32", lambda a, b: opset1.matmul(a, b, False, True), ints(-9, 9, 2, 3, 4),
     ints(-9, 9, 5, 4))
