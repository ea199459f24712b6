"""Conformance cases: ScaledDotProductAttention."""
from __future__ import annotations

import numpy as np
from openvino import opset13

from tests.conformance._build import C, case, f32

# ------------------------------------------------------------------------------------------- SDPA
SDPA = opset13.scaled_dot_product_attention
B, H, L, S, E, EV = 2, 3, 5, 7, 8, 6
q, k, v = (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6)
case("ScaledDotProductAttention", "opset13", "plain", lambda a, b, c: SDPA(a, b, c), f32(*q), f32(*k), f32(*v))
case("ScaledDotProductAttention", "opset13", "causal", lambda a, b, c: SDPA(a, b, c, causal=True), f32(*q), f32(*k),
     f32(*v))
case("ScaledDotProductAttention", "opset13", "float-mask", lambda a, b, c, m: SDPA(a, b, c, m), f32(*q), f32(*k),
     f32(*v), f32(L, S, scale=2))
case("ScaledDotProductAttention", "opset13", "float-mask-broadcast", lambda a, b, c, m: SDPA(a, b, c, m), f32(*q),
     f32(*k), f32(*v), f32(2, 1, 1, S, scale=2))
case("ScaledDotProductAttention", "opset13", "bool-mask", lambda a, b, c, m: SDPA(a, b, c, m), f32(*q), f32(*k),
     f32(*v), np.tril(np.ones((L, S), bool), 2))
case("ScaledDotProductAttention", "opset13", "scale-input", lambda a, b, c, m, s: SDPA(a, b, c, m, s), f32(*q),
     f32(*k), f32(*v), f32(L, S), np.array(0.7, np.float32))
case("ScaledDotProductAttention", "opset13", "causal-with-scale", lambda a, b, c: SDPA(
    a, b, c, C(0.0, np.float32), C(0.25, np.float32), True), f32(*q), f32(*k), f32(*v))
case("ScaledDotProductAttention", "opset13", "3d", lambda a, b, c: SDPA(a, b, c), f32(4, 5, 16), f32(4, 9, 16),
     f32(4, 9, 16))
case("ScaledDotProductAttention", "opset13", "3d-causal-mask-ignored", lambda a, b, c, m: SDPA(a, b, c, m, causal=True),
     f32(2, 4, 8), f32(2, 4, 8), f32(2, 4, 8), f32(4, 4))
case("ScaledDotProductAttention", "opset13", "big-scores", lambda a, b, c: SDPA(a, b, c), f32(1, 2, 4, 8, scale=8),
     f32(1, 2, 4, 8, scale=8), f32(1, 2, 4, 8))
