"""The numba kernels of NonMaxSuppression and NMSRotated (nms.py holds the ops, their numpy
references ``greedy``, ``soft`` and ``rotated_iou``, and the semantics). numpy's suppression loop
runs once per kept box; at 1000 boxes and more (and 80 classes) that is 30 to 50 times OpenVINO's
time, so these loops are compiled: candidate by candidate as OpenVINO's node goes, every function
in this one file (numba's on-disk cache checks only the file of the function it compiles).
"""
from __future__ import annotations

import heapq
import math

import numba
import numpy as np

F32 = np.float32
_ZERO, _HALF, _ONE, _TWO = F32(0), F32(0.5), F32(1), F32(2)
_EPS_DET, _EPS_CROSS, _EPS_DIST = F32(1e-14), F32(1e-6), F32(1e-8)
_JIT = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(inline="always", **_JIT)
def _iou(c, a, b):  # pragma: no cover (jit)
    """IoU of corner boxes c[a], c[b] (``[y1, x1, y2, x2, area]``), the x64 JIT kernel's float32 way."""
    h = max(min(c[a, 2], c[b, 2]) - max(c[a, 0], c[b, 0]), _ZERO)
    w = max(min(c[a, 3], c[b, 3]) - max(c[a, 1], c[b, 1]), _ZERO)
    inter = h * w
    return inter / ((c[a, 4] + c[b, 4]) - inter)


@numba.njit(**_JIT)
def hard_nms(c, order, threshold, limit):  # pragma: no cover (jit)
    """Greedy NMS of corner boxes ``c`` in ``order``: the kept box indices (at most ``limit``)."""
    keep = np.empty(min(order.size, limit), np.int64)
    n = 0
    for i in range(order.size):
        if n == limit:
            break
        cand = order[i]
        ok = True
        for j in range(n - 1, -1, -1):
            if _iou(c, cand, keep[j]) >= threshold:
                ok = False
                break
        if ok:
            keep[n] = cand
            n += 1
    return keep[:n]


@numba.njit(**_JIT)
def soft_nms(c, scores, threshold, scale, limit):  # pragma: no cover (jit)
    """Soft NMS: the selected indices and their decayed scores (see nms.py)."""
    heap = [(-np.float64(scores[i]), np.int64(i), np.int64(0)) for i in range(scores.size) if scores[i] > threshold]
    heapq.heapify(heap)
    sel = np.empty(min(len(heap), limit), np.int64)
    out = np.empty(sel.size, F32)
    n = 0
    while len(heap) > 0 and n < limit:
        neg, i, begin = heapq.heappop(heap)
        score = F32(-neg)
        if begin < n:
            prod = 1.0
            for j in range(n - 1, begin - 1, -1):
                iou = _iou(c, i, sel[j])
                prod *= np.exp((iou * iou) * scale)
            decayed = F32(np.float64(score) * prod)
            if not decayed > threshold:
                continue
            if decayed != score:
                heapq.heappush(heap, (-np.float64(decayed), i, np.int64(n)))
                continue
        sel[n] = i
        out[n] = score
        n += 1
    return sel[:n], out[:n]


# ------------------------------------------------------------------------------------------ rotated boxes
@numba.njit(inline="always", **_JIT)
def _cross(ax, ay, bx, by):  # pragma: no cover (jit)
    return ax * by - bx * ay


@numba.njit(**_JIT)
def _vertices(b, clockwise, px, py):  # pragma: no cover (jit)
    """OpenVINO's getRotatedVertices, float32 (cos and sin rounded from float64)."""
    theta = b[4] if clockwise else -b[4]
    ct = F32(math.cos(np.float64(theta))) * _HALF
    st = F32(math.sin(np.float64(theta))) * _HALF
    px[0] = b[0] - st * b[3] - ct * b[2]
    py[0] = b[1] + ct * b[3] - st * b[2]
    px[1] = b[0] + st * b[3] - ct * b[2]
    py[1] = b[1] - ct * b[3] - st * b[2]
    px[2] = _TWO * b[0] - px[0]
    py[2] = _TWO * b[1] - py[0]
    px[3] = _TWO * b[0] - px[1]
    py[3] = _TWO * b[1] - py[1]


@numba.njit(**_JIT)
def _inside(px, py, qx, qy, ex, ey, ox, oy, n):  # pragma: no cover (jit)
    """Append to ox/oy (from n on) the corners p inside rectangle q (edges e): OpenVINO's test."""
    ab_ab = ex[0] * ex[0] + ey[0] * ey[0]
    ad_ad = ex[3] * ex[3] + ey[3] * ey[3]
    for i in range(4):
        apx, apy = px[i] - qx[0], py[i] - qy[0]
        ap_ab = apx * ex[0] + apy * ey[0]
        ap_ad = -(apx * ex[3] + apy * ey[3])
        if ap_ab >= 0 and ap_ad >= 0 and ap_ab <= ab_ab and ap_ad <= ad_ad:
            ox[n], oy[n] = px[i], py[i]
            n += 1
    return n


@numba.njit(**_JIT)
def _less(ax, ay, bx, by):  # pragma: no cover (jit)
    """The Graham scan's order: by angle, nearly collinear points by distance."""
    t = _cross(ax, ay, bx, by)
    if abs(t) < _EPS_CROSS:
        return ax * ax + ay * ay < bx * bx + by * by
    return t > 0


@numba.njit(**_JIT)
def _hull_area(x, y, num):  # pragma: no cover (jit)
    """OpenVINO's convexHullGraham + polygonArea over points x, y [:num] (overwritten)."""
    t = 0
    for i in range(1, num):
        if y[i] < y[t] or (y[i] == y[t] and x[i] < x[t]):
            t = i
    sx, sy = x[t], y[t]
    for i in range(num):
        x[i] -= sx
        y[i] -= sy
    x[0], x[t] = x[t], x[0]
    y[0], y[t] = y[t], y[0]
    for i in range(2, num):  # libstdc++'s insertion sort of q[1:] (std::sort of at most 24 points)
        vx, vy = x[i], y[i]
        if _less(vx, vy, x[1], y[1]):
            for j in range(i, 1, -1):
                x[j], y[j] = x[j - 1], y[j - 1]
            x[1], y[1] = vx, vy
        else:
            j = i
            while _less(vx, vy, x[j - 1], y[j - 1]):
                x[j], y[j] = x[j - 1], y[j - 1]
                j -= 1
            x[j], y[j] = vx, vy
    k = 1
    while k < num and not x[k] * x[k] + y[k] * y[k] > _EPS_DIST:
        k += 1
    if k == num:
        return _ZERO
    x[1], y[1] = x[k], y[k]
    m = 2
    for i in range(k + 1, num):
        while m > 1 and _cross(x[i] - x[m - 2], y[i] - y[m - 2], x[m - 1] - x[m - 2], y[m - 1] - y[m - 2]) >= 0:
            m -= 1
        x[m], y[m] = x[i], y[i]
        m += 1
    if m <= 2:
        return _ZERO
    area = _ZERO
    for i in range(1, m - 1):
        area += abs(_cross(x[i] - x[0], y[i] - y[0], x[i + 1] - x[0], y[i + 1] - y[0]))
    return area / _TWO


@numba.njit(**_JIT)
def _rotated_iou(p1x, p1y, area0, b, clockwise, w):  # pragma: no cover (jit)
    """IoU of the candidate (corners p1, area0) with rotated box b: OpenVINO's geometry. ``w``: scratch."""
    area1 = b[2] * b[3]
    if area1 <= 0:
        return _ZERO
    p2x, p2y, e1x, e1y, e2x, e2y, qx, qy = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]
    _vertices(b, clockwise, p2x, p2y)
    for i in range(4):
        e1x[i], e1y[i] = p1x[(i + 1) % 4] - p1x[i], p1y[(i + 1) % 4] - p1y[i]
        e2x[i], e2y[i] = p2x[(i + 1) % 4] - p2x[i], p2y[(i + 1) % 4] - p2y[i]
    n = 0
    for i in range(4):
        for j in range(4):
            det = _cross(e2x[j], e2y[j], e1x[i], e1y[i])
            if abs(det) <= _EPS_DET:
                continue
            dx, dy = p2x[j] - p1x[i], p2y[j] - p1y[i]
            t1 = _cross(e2x[j], e2y[j], dx, dy) / det
            t2 = _cross(e1x[i], e1y[i], dx, dy) / det
            if t1 >= 0 and t1 <= 1 and t2 >= 0 and t2 <= 1:
                qx[n], qy[n] = p1x[i] + e1x[i] * t1, p1y[i] + e1y[i] * t1
                n += 1
    n = _inside(p1x, p1y, p2x, p2y, e2x, e2y, qx, qy, n)
    n = _inside(p2x, p2y, p1x, p1y, e1x, e1y, qx, qy, n)
    if n <= 2:
        return _ZERO
    inter = _hull_area(qx, qy, n)
    return inter / (area0 + area1 - inter)


@numba.njit(**_JIT)
def rotated_nms(boxes, order, threshold, limit, clockwise):  # pragma: no cover (jit)
    """NMSRotated's greedy loop over ``order``: the kept box indices (IoU > threshold suppresses)."""
    keep = np.empty(min(order.size, limit), np.int64)
    w = np.empty((8, 24), F32)
    px, py = np.empty(4, F32), np.empty(4, F32)
    n = 0
    for i in range(order.size):
        if n == limit:
            break
        b = boxes[order[i]]
        ok = True
        if n > 0:
            area0 = b[2] * b[3]
            if area0 > 0:
                _vertices(b, clockwise, px, py)
                for j in range(n - 1, -1, -1):
                    if _rotated_iou(px, py, area0, boxes[keep[j]], clockwise, w) > threshold:
                        ok = False
                        break
            elif _ZERO > threshold:
                ok = False
        if ok:
            keep[n] = order[i]
            n += 1
    return keep[:n]
