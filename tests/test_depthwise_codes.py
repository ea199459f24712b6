"""The INT8 path's 3x3 'same' depthwise kernel (kernels/depthwise.py) against numpy: exact integer
sums, then the INT8 epilogue's reference, bit for bit."""
import numpy as np
import pytest

from irtool.runtime.kernels import depthwise as D
from irtool.runtime.kernels import _int8_bound as B
from irtool.runtime.kernels import int8_epilogue as E


def _reference(k, z, w, ep, levels, ph, pw, Ho):
    """Integer sums of (code - z) * w over the zero-padded plane, then int8_epilogue.epilogue_reference."""
    N, C, H, W = k.shape
    x = np.zeros((N, C, H + 4 + Ho, W + 4), np.int64)
    x[:, :, 2:2 + H, 2:2 + W] = k.astype(np.int64) - z.reshape(1, C, 1, 1)
    acc = np.zeros((N, C, Ho, W), np.int64)
    for b in range(3):
        for e in range(3):
            r0, c0 = 2 + b - ph, 2 + e - pw
            acc += w[None, :, b, e, None, None].astype(np.int64) * x[:, :, r0:r0 + Ho, c0:c0 + W]
    return E.epilogue_reference(acc, ep, levels, axis=1)


@pytest.mark.parametrize("C, H, W, ph, pw, end, levels", [
    (16, 4, 4, 1, 1, 1, 256),  # mobilenet's tiny 'same' planes, u8 out
    (8, 8, 8, 1, 1, 1, 0),  # float out
    (5, 7, 6, 2, 1, 0, 256),  # uneven pads: Ho = H + 2 - 2
    (3, 5, 9, 0, 2, 2, 255),  # pw = 2: a shift of two columns
])
def test_depthwise_same_codes_matches_reference(C, H, W, ph, pw, end, levels):
    rng = np.random.default_rng([C, H, W, levels])
    Ho = H + ph + end - 2
    k = rng.integers(0, 256, (2, C, H, W)).astype(np.uint8)
    w = rng.integers(-127, 128, (C, 3, 3)).astype(np.int8)
    zp = rng.integers(0, 256, C)
    scale, bias = rng.uniform(1e-3, 1e-2, C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    ep = E.epilogue(C, scale, bias, -0.5, 6.0, 37.0, 4.0) if levels else E.epilogue(C, scale, bias, -0.5, 6.0)
    z = B._zero_points(tuple(int(v) for v in zp), C)
    geo, keep, bufs = D.same_codes_layout(H, W, Ho, ph, pw)
    w3, t = np.ascontiguousarray(w, np.float32), E.compose(ep, levels)
    want = _reference(k, zp, w, ep, levels, ph, pw, Ho)
    for _ in range(2):  # twice: the buffer's zero cells must still be zero
        out = np.full((2, C, Ho, W), 7, np.uint8 if levels else np.float32)
        q, f = (out, B._STUB_F) if levels else (B._STUB_Q, out)
        D._depthwise_same_codes(k, z, geo, w3, keep, t, levels, bufs, q, f)
        np.testing.assert_array_equal(out, want)
