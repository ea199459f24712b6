"""The numba NMS loops (nms_jit.py) against their numpy references in nms.py, on more and larger
cases than the conformance ones (which hold both against OpenVINO), and the libstdc++ partial sort
MatrixNms uses for equal scores."""
from __future__ import annotations

import numpy as np
import pytest

from irtool.runtime.kernels import nms as N
from irtool.runtime.kernels import nms_jit as J
from irtool.runtime.kernels.nms_multiclass import _partial_sort

F32 = np.float32


def _boxes(rng, images: int, n: int, spread: float) -> np.ndarray:
    lo = rng.random((images, n, 2)) * spread
    return np.concatenate([lo, lo + rng.random((images, n, 2)) * 10 + 1], -1).astype(F32)


def _rotated(rng, images: int, n: int, spread: float) -> np.ndarray:
    return np.concatenate([rng.random((images, n, 2)) * spread, rng.random((images, n, 2)) * 8 + 1,
                           (rng.random((images, n, 1)) - 0.5) * 4], -1).astype(F32)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("center", [False, True])
def test_hard_nms_matches_the_numpy_reference(seed, center):
    rng = np.random.default_rng(seed)
    n = (20, 300, 1500)[seed % 3]
    boxes, scores = _boxes(rng, 2, n, 30 + n / 10), rng.random((2, 3, n)).astype(F32)
    if seed % 2:
        scores = (np.round(scores * 4) / 4).astype(F32)  # ties
    args = (boxes, scores, np.int64((5, 50, 2000)[seed % 3]), F32(0.3 + 0.1 * seed), F32(0.1))
    jit, ref = N.suppress(*args, center=center), N.suppress(*args, center=center, jit=False)
    np.testing.assert_array_equal(jit[0], ref[0])
    np.testing.assert_array_equal(jit[1], ref[1])


@pytest.mark.parametrize("seed", range(6))
def test_soft_nms_matches_the_numpy_reference(seed):
    rng = np.random.default_rng(10 + seed)
    n = (20, 200, 800)[seed % 3]
    boxes, scores = _boxes(rng, 1, n, 20 + n / 10), rng.random((1, 2, n)).astype(F32)
    if seed % 2:
        scores = (np.round(scores * 4) / 4).astype(F32)
    args = (boxes, scores, np.int64(n // 2), F32(0.5), F32(0.2), F32((0.5, 0.1, 2.0)[seed % 3]))
    jit, ref = N.suppress(*args), N.suppress(*args, jit=False)
    # numba's expf and numpy's exp may differ in the last bit: the same boxes, scores within 1e-6
    np.testing.assert_array_equal(jit[0], ref[0])
    np.testing.assert_allclose(jit[1], ref[1], rtol=1e-6)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("clockwise", [True, False])
def test_rotated_nms_matches_the_numpy_reference(seed, clockwise):
    """The kernel's float32 Graham hull (OpenVINO's) against numpy's float64 shoelace: the same boxes."""
    rng = np.random.default_rng(20 + seed)
    n = (10, 60, 400)[seed % 3]
    boxes, scores = _rotated(rng, 1, n, 10 + n / 8), rng.random((1, 2, n)).astype(F32)
    args = (boxes, scores, np.int64(n), F32((0.05, 0.3, 0.6)[seed % 3]), F32(0.05))
    jit = N.suppress(*args, rotated=True, clockwise=clockwise)
    ref = N.suppress(*args, rotated=True, clockwise=clockwise, jit=False)
    np.testing.assert_array_equal(jit[0], ref[0])


def test_rotated_iou_agrees_on_the_area():
    """Pairwise IoUs of rotated boxes: numpy's shoelace and the kernel's hull within 1e-5."""
    rng = np.random.default_rng(3)
    boxes = _rotated(rng, 1, 80, 12)[0]
    boxes[5, 4] = 0  # axis-aligned ones and copies, where edges are collinear
    boxes[6] = boxes[5]
    boxes[7, :4], boxes[7, 4] = boxes[5, :4], np.pi / 2
    w = np.empty((8, 24), F32)
    px, py = np.empty(4, F32), np.empty(4, F32)
    for clockwise in (True, False):
        for i, box in enumerate(boxes):
            ref = N.rotated_iou(boxes, box, clockwise)
            got = np.empty(len(boxes), F32)
            for j, cand in enumerate(boxes):
                J._vertices(cand, clockwise, px, py)
                got[j] = J._rotated_iou(px, py, cand[2] * cand[3], box, clockwise, w)
            np.testing.assert_allclose(got, ref, atol=1e-5, err_msg=f"box {i}")
            assert got[i] == pytest.approx(1, abs=1e-5)


def test_partial_sort_keeps_the_best_in_order():
    """Whatever it does with ties, it must give the k best, best first."""
    rng = np.random.default_rng(4)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        s = rng.integers(0, 5, n).astype(F32)
        k = int(rng.integers(1, n + 1))
        got = _partial_sort(list(range(n)), k, lambda i, j: s[i] > s[j])
        assert len(set(got)) == k
        np.testing.assert_array_equal(s[got], np.sort(s)[::-1][:k])
