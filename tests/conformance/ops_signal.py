"""Conformance cases: short-time Fourier transforms (STFT, ISTFT)."""
from __future__ import annotations

import numpy as np
from openvino import opset15, opset16

from tests.conformance._build import C, case, f32

# ------------------------------------------------------------------------------------------- STFT
for label, shape, window, size, step in [("2d", (2, 32), 8, 8, 4), ("1d-short-window", (33,), 5, 8, 3),
                                         ("step-equals-size", (2, 40), 16, 16, 16), ("odd-size", (1, 20), 6, 7, 2)]:
    for tr in (False, True):
        case("STFT", "opset15", f"{label}-transpose{int(tr)}", lambda x, w, s=size, p=step, t=tr: opset15.stft(
            x, w, C(s), C(p), t), f32(*shape), np.hanning(window).astype(np.float32) + 0.1)
case("STFT", "opset15", "i32-sizes", lambda x, w: opset15.stft(x, w, C(10, np.int32), C(3, np.int32), False),
     f32(2, 31), f32(10))

# ------------------------------------------------------------------------------------------- ISTFT
ISTFT_SHAPES = [("3d", (5, 7, 2), 8, 8, 4), ("4d-short-window", (2, 5, 9, 2), 5, 8, 3),
                ("half-overlap", (2, 9, 4, 2), 16, 16, 8), ("odd-size", (1, 4, 7, 2), 6, 7, 2)]
for label, shape, window, size, step in ISTFT_SHAPES:
    for center in (False, True):
        for normalized in (False, True):
            case("ISTFT", "opset16", f"{label}-center{int(center)}-norm{int(normalized)}",
                 lambda x, w, s=size, p=step, c=center, n=normalized: opset16.istft(x, w, C(s), C(p), c, n),
                 f32(*shape), np.hanning(window).astype(np.float32) + 0.2)
    for length in (10, 50):  # shorter: cut; longer: zeros after (with center, the end margin first)
        case("ISTFT", "opset16", f"{label}-length{length}-center1", lambda x, w, s=size, p=step, n=length: (
            opset16.istft(x, w, C(s), C(p), True, False, C(n))), f32(*shape), np.hanning(window).astype(np.float32))
        case("ISTFT", "opset16", f"{label}-length{length}-center0", lambda x, w, s=size, p=step, n=length: (
            opset16.istft(x, w, C(s), C(p), False, True, C(n, np.int32))), f32(*shape), f32(window))
# windows whose squared sum is 0 somewhere (Hann's zero ends, gaps between frames): 0 there
case("ISTFT", "opset16", "zero-window-sum", lambda x, w: opset16.istft(x, w, C(8), C(8), False, False),
     f32(5, 4, 2), np.hanning(8).astype(np.float32))
case("ISTFT", "opset16", "step-past-size", lambda x, w: opset16.istft(x, w, C(8), C(10), True, False),
     f32(5, 4, 2), np.hanning(6).astype(np.float32))
case("ISTFT", "opset16", "length-parameter", lambda x, w, n: opset16.istft(x, w, C(8), C(4), False, False, n),
     f32(2, 5, 7, 2), np.hanning(8).astype(np.float32), np.int64(21))
