"""Conformance cases: GroupedMatMul (opset17), which OpenVINO's CPU plugin does not run (2026.4:
"Unsupported operation of type: GroupedMatMul"), so neither does irtool."""
from __future__ import annotations

from openvino import opset17

from tests.conformance._build import C, f32, refused

refused("GroupedMatMul", "opset17", "3d-x-3d", lambda a, b: opset17.grouped_matmul(a, b), f32(2, 3, 4), f32(2, 5, 4))
refused("GroupedMatMul", "opset17", "2d-x-3d-offsets", lambda a, b: opset17.grouped_matmul(
    a, b, C([2, 6], "int32")), f32(6, 4), f32(2, 5, 4))
