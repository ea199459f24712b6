"""Conformance cases: FakeConvert (f8 emulation), bit for bit (rel=0): OpenVINO CPU's decomposition and
its own f16/f8 rounding."""
from __future__ import annotations

import numpy as np
from openvino import opset13

from tests.conformance._build import RNG, C, case, f32

_SPECIAL = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 448.0, 449.0, -500.0, 57344.0, 6e4, 1e-40], np.float32)


def _data(*shape):
    """Values over many binades (f8 subnormals, the clamp) and the special values."""
    x = (RNG.standard_normal(shape) * np.exp(RNG.uniform(-14, 12, shape))).astype(np.float32)
    x.reshape(-1)[:_SPECIAL.size] = _SPECIAL[:x.size]
    return x


ALL_F16 = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32).reshape(256, 256)
# just below the powers of two in the f16 subnormal range (OpenVINO's f16 conversion doubles them)
EDGE = np.concatenate([np.linspace(2.0 ** -26, 2.0 ** -12, 4000), -np.linspace(2.0 ** -26, 2.0 ** -12, 4000)])
EDGE = EDGE.astype(np.float32).reshape(80, 100)
for dest in ("f8e4m3", "f8e5m2"):
    case("FakeConvert", "opset13", f"{dest}-all-f16-values", lambda x, d=dest: opset13.fake_convert(
        x, C([1.0], np.float32), None, d), ALL_F16, rel=0)
    case("FakeConvert", "opset13", f"{dest}-f16-subnormal-edges", lambda x, d=dest: opset13.fake_convert(
        x, C([1.0], np.float32), None, d), EDGE, rel=0)
    for sc, sh in ((3.7, None), (0.01, None), (3.7, 0.25), (0.3, -1.5)):
        tag = f"{dest}-scale{sc:g}" + ("" if sh is None else f"-shift{sh:g}")
        case("FakeConvert", "opset13", tag, lambda x, d=dest, s=sc, o=sh: opset13.fake_convert(
            x, C([s], np.float32), None if o is None else C([o], np.float32), d), _data(4, 50), rel=0)
        case("FakeConvert", "opset13", f"{tag}-inputs", lambda x, s, *o, d=dest: opset13.fake_convert(
            x, s, o[0] if o else None, d), _data(3, 40), np.array([sc], np.float32),
            *([] if sh is None else [np.array([sh], np.float32)]), rel=0)
    case("FakeConvert", "opset13", f"{dest}-per-channel", lambda x, s, o, d=dest: opset13.fake_convert(x, s, o, d),
         _data(2, 3, 4, 5), (RNG.random((1, 3, 1, 1)) * 10 + 0.1).astype(np.float32), f32(1, 3, 1, 1), rel=0)
    case("FakeConvert", "opset13", f"{dest}-broadcast-last-axis", lambda x, s, d=dest: opset13.fake_convert(
        x, s, None, d), _data(6, 7), (RNG.random((7,)) * 4 + 0.05).astype(np.float32), rel=0)
    case("FakeConvert", "opset13", f"{dest}-f16", lambda x, s, o, d=dest: opset13.fake_convert(x, s, o, d),
         (RNG.standard_normal((5, 9)) * np.exp(RNG.uniform(-10, 8, (5, 9)))).astype(np.float16),
         np.array([2.5], np.float16), np.array([0.5], np.float16), rel=0)
