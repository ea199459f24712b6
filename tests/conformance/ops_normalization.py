"""Conformance cases: normalization."""
from __future__ import annotations

import numpy as np
from openvino import opset1, opset12

from tests.conformance._build import C, case, f32

# ------------------------------------------------------------------------------------------- normalization
for axes, size, shape in [([1], 5, (2, 7, 4, 5)), ([1], 4, (1, 6, 3, 3)), ([2, 3], 3, (1, 2, 6, 6)), ([1], 1, (1, 3, 2, 2)),
                          ([1], 2, (2, 3, 8))]:  # (OpenVINO's CPU plugin runs channel LRN or spatial only)
    case("LRN", "opset1", f"axes{axes}-size{size}", lambda x, a=axes, s=size: opset1.lrn(
        x, C(a), alpha=1e-4 * 100, beta=0.75, bias=2.0, size=s), f32(*shape))
for bias in (1.0, 1e-6):
    case("GRN", "opset1", f"bias{bias}", lambda x, b=bias: opset1.grn(x, b), f32(2, 5, 3, 4))
case("GRN", "opset1", "rank2", lambda x: opset1.grn(x, 0.5), f32(3, 8))
for groups, shape in [(2, (2, 4, 3, 3)), (1, (1, 6, 5)), (6, (1, 6, 2, 2, 2)), (3, (2, 6))]:
    case("GroupNormalization", "opset12", f"g{groups}-rank{len(shape)}", lambda x, g=groups, c=shape[1]: (
        opset12.group_normalization(x, C(np.linspace(0.5, 1.5, c), np.float32), C(np.linspace(-1, 1, c), np.float32),
                                    g, 1e-5)), f32(*shape, scale=3))
