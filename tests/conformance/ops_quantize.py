"""Conformance cases: FakeQuantize."""
from __future__ import annotations

import numpy as np
from openvino import opset1

from tests.conformance._build import C, case, f32


def F(v):
    return C(v, np.float32)


# ------------------------------------------------------------------------------------------- FakeQuantize
FQ = opset1.fake_quantize
for levels in (256, 255, 2):
    case("FakeQuantize", "opset1", f"scalar-l{levels}", lambda x, n=levels: FQ(x, F(-1.2), F(1.5), F(-1.2), F(1.5), n),
         f32(2, 3, 4, 5))
    case("FakeQuantize", "opset1", f"per-channel-l{levels}", lambda x, n=levels: FQ(
        x, F([[[[-1.0]], [[-0.5]], [[0.0]]]]), F([[[[1.0]], [[2.0]], [[0.3]]]]), F(0.0), F(255.0), n), f32(2, 3, 4, 4))
case("FakeQuantize", "opset1", "per-channel-out", lambda x: FQ(
    x, F(-1.0), F(1.0), F(np.array([-1, -2, 0, 5], np.float32).reshape(1, 4, 1, 1)),
    F(np.array([1, 2, 3, -5], np.float32).reshape(1, 4, 1, 1)), 256), f32(2, 4, 3, 3))
case("FakeQuantize", "opset1", "ranges-rank-lower", lambda x: FQ(
    x, F(np.linspace(-1, -0.2, 3).reshape(3, 1, 1)), F(np.linspace(0.2, 1.5, 3).reshape(3, 1, 1)),
    F(np.linspace(-1, -0.2, 3).reshape(3, 1, 1)), F(np.linspace(0.2, 1.5, 3).reshape(3, 1, 1)), 255), f32(2, 3, 4, 4))
case("FakeQuantize", "opset1", "per-last-axis", lambda x: FQ(
    x, F(np.linspace(-2, -0.5, 6)), F(np.linspace(0.5, 2, 6)), F(-1.0), F(1.0), 256), f32(3, 6))
case("FakeQuantize", "opset1", "inverted-output", lambda x: FQ(x, F(-1.0), F(1.0), F(1.0), F(-1.0), 256), f32(2, 8))
case("FakeQuantize", "opset1", "on-boundaries", lambda x: FQ(x, F(-1.0), F(1.0), F(-1.0), F(1.0), 3),
     np.array([-2, -1, -0.5, 0, 0.5, 1, 2, 1e-7, -1e-7, 0.49999997], np.float32))
case("FakeQuantize", "opset1", "ranges-as-inputs", lambda x, a, b, c, d: FQ(x, a, b, c, d, 256), f32(2, 3, 4),
     np.full((1, 3, 1), -1.0, np.float32), np.array([[[0.5], [1.0], [2.0]]], np.float32), np.float32(-3.0).reshape(()),
     np.float32(3.0).reshape(()))
