"""Non-maximum suppression with one box list per image: NonMaxSuppression (opset1, 3, 4, 5, 9) and
NMSRotated (opset13); MulticlassNms and MatrixNms are in nms_multiclass.py. The suppression loops
are numba kernels (nms_jit.py: numpy's were 30-50x OpenVINO's time at 1000+ boxes); the numpy
references here are ``greedy`` (one vector step per kept box, removing every later box it overlaps),
``soft`` (candidate by candidate through a heap) and ``rotated_iou``.

OpenVINO's CPU plugin is the oracle; it runs every version as one node, and the semantics kept here
are that node's (measured, and read in its source):

- per image and class: the boxes with score > ``score_threshold``, best first (equal scores: the
  lower box index first); the best is selected, then each next one unless its IoU with a selected
  box is >= ``iou_threshold`` (NMSRotated: >); at most ``max_output_boxes_per_class`` per class.
  The optional inputs default to 0 (so no ``max_output_boxes_per_class``: nothing is selected);
  ``max_output_boxes_per_class`` is read as int32 (saturating), a negative one as 0. (With 0, or
  no boxes, OpenVINO leaves ``valid_outputs`` unwritten; here it is 0.)
- IoU in float32 as the x64 JIT kernel computes it: corner boxes ``[y1, x1, y2, x2]`` in either
  corner order (min/max taken), center boxes ``[xc, yc, w, h]`` with half sizes ``w * 0.5``;
  ``inter / (area_a + area_b - inter)`` without the scalar path's "area <= 0 gives 0" (so two empty
  boxes give NaN, which suppresses nothing).
- soft NMS (opset5/9 with ``soft_nms_sigma`` > 0): a max-heap of (score, lower index first);
  a popped candidate's score is multiplied by ``exp(iou^2 * (-0.5 / sigma))`` for every box
  selected since it was last looked at (``iou_threshold`` plays no part: OpenVINO's node never
  hard-suppresses here); at <= ``score_threshold`` it is dropped, unchanged it is selected, else it
  goes back in the heap with its decayed score. A negative sigma makes the scale 0, and the JIT
  kernel then runs hard NMS: the same as sigma 0.
- rows image by image, class by class, in selection order; ``sort_result_descending`` sorts all of
  them (across images too) by score, then image, class, box. Every version returns only the
  selected rows (opset1-4 too, whatever their static output shape says); opset5/9 add the scores
  ``[image, class, score]`` (the decayed score for soft NMS) and ``valid_outputs`` [1].
- output types: opset1 i64, later ones ``output_type``; scores float32 (f16 inputs too).
"""
from __future__ import annotations

import heapq

import numpy as np

from irtool.runtime.kernels import nms_jit as J
from irtool.runtime.kernels.elementwise import _numpy_type
from irtool.runtime.registry import kernel

F32 = np.float32


def _scalar(x, default, dtype):
    """An optional scalar (or [1]) input's value, ``default`` when the input is absent."""
    if x is None or np.size(x) == 0:
        return dtype(default)
    return dtype(np.asarray(x).reshape(-1)[0])


def _max_boxes(x) -> int:
    """``max_output_boxes_per_class`` as the CPU node reads it: converted to int32 (saturating), <= 0 is 0."""
    if x is None or np.size(x) == 0:
        return 0
    return max(int(np.clip(np.asarray(x).reshape(-1)[0], -2**31, 2**31 - 1)), 0)


def corners(boxes: np.ndarray, center: bool) -> np.ndarray:
    """``[..., 4]`` boxes as float32 ``[y1, x1, y2, x2, area]`` (last axis), OpenVINO's JIT way."""
    b = boxes.astype(F32, copy=False)
    if center:
        hw, hh = b[..., 2] * F32(0.5), b[..., 3] * F32(0.5)
        y1, x1, y2, x2 = b[..., 1] - hh, b[..., 0] - hw, b[..., 1] + hh, b[..., 0] + hw
    else:
        y1, y2 = np.minimum(b[..., 0], b[..., 2]), np.maximum(b[..., 0], b[..., 2])
        x1, x2 = np.minimum(b[..., 1], b[..., 3]), np.maximum(b[..., 1], b[..., 3])
    return np.stack([y1, x1, y2, x2, (y2 - y1) * (x2 - x1)], axis=-1)


def iou_one(c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """IoU of corner box ``a`` (5 numbers) with every row of ``c`` ([n, 5]), in float32."""
    h = np.maximum(np.minimum(c[:, 2], a[2]) - np.maximum(c[:, 0], a[0]), F32(0))
    w = np.maximum(np.minimum(c[:, 3], a[3]) - np.maximum(c[:, 1], a[1]), F32(0))
    inter = h * w
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / ((c[:, 4] + a[4]) - inter)


def best_first(scores: np.ndarray, threshold) -> np.ndarray:
    """Indices of ``scores`` > threshold, best first, equal scores by lower index."""
    cand = np.flatnonzero(scores > threshold)
    return cand[np.argsort(-scores[cand], kind="stable")]


def greedy(boxes: np.ndarray, order: np.ndarray, threshold, limit: int, strict: bool = False,
           iou=iou_one) -> np.ndarray:
    """Hard NMS of ``boxes`` taken in ``order``: the kept indices, at most ``limit``. Each kept box
    removes the later candidates it overlaps (``iou(candidates, kept)`` >= threshold, > when
    ``strict``) at once, which keeps what OpenVINO's candidate-by-candidate loop keeps."""
    boxes = boxes[order]
    alive = np.ones(order.size, bool)
    keep: list[int] = []
    i = 0
    while len(keep) < limit:
        nxt = np.flatnonzero(alive[i:])
        if nxt.size == 0:
            break
        i += int(nxt[0])
        keep.append(i)
        i += 1
        if i >= order.size or len(keep) == limit:
            break
        v = iou(boxes[i:], boxes[i - 1])
        alive[i:] &= ~((v > threshold) if strict else (v >= threshold))
    return order[np.array(keep, np.int64)]


def soft(c: np.ndarray, scores: np.ndarray, threshold, scale, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Soft NMS (see the module's docstring): the selected indices and their decayed scores."""
    heap = [(-float(scores[i]), int(i), 0) for i in np.flatnonzero(scores > threshold)]
    heapq.heapify(heap)
    sel: list[int] = []
    out: list[F32] = []
    while heap and len(sel) < limit:
        neg, i, begin = heapq.heappop(heap)
        score = F32(-neg)
        if begin < len(sel):
            iou = iou_one(c[np.array(sel[begin:], np.int64)], c[i])
            w = np.exp((iou * iou) * scale)  # float32, like the JIT's (iou * iou) * scale
            decayed = F32(np.float64(score) * np.prod(w, dtype=np.float64))
            if not decayed > threshold:
                continue
            if decayed != score:
                heapq.heappush(heap, (-float(decayed), i, len(sel)))
                continue
        sel.append(i)
        out.append(score)
    return np.array(sel, np.int64), np.array(out, F32)


def suppress(boxes, scores, max_boxes, iou_threshold, score_threshold, soft_nms_sigma=None, *,
             center: bool = False, descending: bool = True, rotated: bool = False, clockwise: bool = True,
             jit: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every image and class: rows ``[image, class, box]`` (int64) and their float32 scores; ``jit``
    false runs the numpy references."""
    limit = _max_boxes(max_boxes)
    iou_t = _scalar(iou_threshold, 0, F32)
    score_t = _scalar(score_threshold, 0, F32)
    sigma = _scalar(soft_nms_sigma, 0, F32)
    scale = -F32(0.5) / sigma if sigma > 0 else F32(0)
    s = np.asarray(scores).astype(F32, copy=False)
    if boxes.shape[0] != s.shape[0] or boxes.shape[1] != s.shape[2]:
        raise ValueError(f"boxes {list(boxes.shape)} and scores {list(s.shape)} do not match")
    n_img, n_cls = s.shape[0], s.shape[1]
    rows, out_scores = [], []
    if limit > 0 and boxes.shape[1] > 0:
        c = np.ascontiguousarray(boxes, F32) if rotated else corners(boxes, center)
        for b in range(n_img):
            for k in range(n_cls):
                if rotated:
                    order = best_first(s[b, k], score_t)
                    sel = (J.rotated_nms(c[b], order, iou_t, limit, clockwise) if jit else
                           greedy(c[b], order, iou_t, limit, strict=True,
                                  iou=lambda cand, box: rotated_iou(cand, box, clockwise)))
                    sc = s[b, k, sel]
                elif sigma > 0:
                    sel, sc = (J.soft_nms if jit else soft)(c[b], s[b, k], score_t, scale, limit)
                else:
                    order = best_first(s[b, k], score_t)
                    sel = J.hard_nms(c[b], order, iou_t, limit) if jit else greedy(c[b], order, iou_t, limit)
                    sc = s[b, k, sel]
                rows.append(np.stack([np.full(sel.size, b), np.full(sel.size, k), sel], axis=1))
                out_scores.append(sc)
    if not rows:
        return np.zeros((0, 3), np.int64), np.zeros(0, F32)
    rows, sc = np.concatenate(rows).astype(np.int64), np.concatenate(out_scores).astype(F32)
    if descending:  # score, then image, class, box
        order = np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0], -sc))
        rows, sc = rows[order], sc[order]
    return rows, sc


def _scores_rows(rows: np.ndarray, sc: np.ndarray) -> np.ndarray:
    """``[image, class, score]`` rows, float32 whatever the inputs' type (as the op declares)."""
    out = np.empty((rows.shape[0], 3), F32)
    out[:, :2] = rows[:, :2]
    out[:, 2] = sc
    return out


@kernel("NonMaxSuppression", versions=("opset1", "opset3", "opset4"))
def non_max_suppression_v1(boxes, scores, max_output_boxes_per_class=None, iou_threshold=None,
                           score_threshold=None, *, box_encoding: str = "corner",
                           sort_result_descending: bool = True, output_type: str = "i64"):
    """The selected rows ``[image, class, box]`` (opset1: i64, no ``output_type``)."""
    rows, _ = suppress(boxes, scores, max_output_boxes_per_class, iou_threshold, score_threshold,
                       center=box_encoding.lower() == "center", descending=sort_result_descending)
    return rows.astype(_numpy_type(output_type))


@kernel("NonMaxSuppression", versions=("opset5", "opset9"))
def non_max_suppression(boxes, scores, max_output_boxes_per_class=None, iou_threshold=None, score_threshold=None,
                        soft_nms_sigma=None, *, box_encoding: str = "corner", sort_result_descending: bool = True,
                        output_type: str = "i64"):
    """Selected rows, their ``[image, class, score]`` and the row count [1]."""
    rows, sc = suppress(boxes, scores, max_output_boxes_per_class, iou_threshold, score_threshold, soft_nms_sigma,
                        center=box_encoding.lower() == "center", descending=sort_result_descending)
    it = _numpy_type(output_type)
    return rows.astype(it), _scores_rows(rows, sc), np.array([rows.shape[0]], it)


# ------------------------------------------------------------------------------------------ rotated boxes
def _vertices(b: np.ndarray, clockwise: bool) -> np.ndarray:
    """Corners [m, 4, 2] of boxes [m, 5] ``[xc, yc, w, h, angle]`` in OpenVINO's order and float32
    arithmetic (cos and sin rounded from float64, as glibc's cosf/sinf nearly always are)."""
    theta = (b[:, 4] if clockwise else -b[:, 4]).astype(np.float64)
    c, s = np.cos(theta).astype(F32) * F32(0.5), np.sin(theta).astype(F32) * F32(0.5)
    x, y, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    x0, y0 = x - s * h - c * w, y + c * h - s * w  # left-down
    x1, y1 = x + s * h - c * w, y - c * h - s * w  # left-top
    two = F32(2)
    xs = np.stack([x0, x1, two * x - x0, two * x - x1], axis=-1)
    ys = np.stack([y0, y1, two * y - y0, two * y - y1], axis=-1)
    return np.stack([xs, ys], axis=-1)


def _cross(ax, ay, bx, by):
    return ax * by - bx * ay


def _inside(p: np.ndarray, q: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Which points p [m, 4, 2] lie in the rectangles q [m, 4, 2] (edges e): projections onto its
    first and last edge within them, OpenVINO's test."""
    ab, da = e[:, None, 0], e[:, None, 3]
    ap = p - q[:, None, 0]
    ap_ab = ap[..., 0] * ab[..., 0] + ap[..., 1] * ab[..., 1]
    ap_ad = -(ap[..., 0] * da[..., 0] + ap[..., 1] * da[..., 1])
    ab_ab = ab[..., 0] * ab[..., 0] + ab[..., 1] * ab[..., 1]
    ad_ad = da[..., 0] * da[..., 0] + da[..., 1] * da[..., 1]
    return (ap_ab >= 0) & (ap_ad >= 0) & (ap_ab <= ab_ab) & (ap_ad <= ad_ad)


def rotated_iou(cand: np.ndarray, box: np.ndarray, clockwise: bool) -> np.ndarray:
    """IoU of rotated boxes ``cand`` [m, 5] with ``box`` [5] (OpenVINO's candidate and selected box):
    the intersection polygon's corners are the edge crossings and each box's corners inside the
    other, as OpenVINO finds them in float32; its area is the float64 shoelace over those points
    ordered by angle around their mean, where OpenVINO takes a float32 Graham hull (the two can
    differ in the last bits). 0 when either box has no area."""
    m = cand.shape[0]
    p1, p2 = _vertices(cand, clockwise), np.broadcast_to(_vertices(box[None], clockwise), (m, 4, 2))
    e1, e2 = np.roll(p1, -1, axis=1) - p1, np.roll(p2, -1, axis=1) - p2
    a, b = e1[:, :, None, :], e2[:, None, :, :]  # edge i of the candidate, edge j of the box
    d = p2[:, None, :, :] - p1[:, :, None, :]
    det = _cross(b[..., 0], b[..., 1], a[..., 0], a[..., 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = _cross(b[..., 0], b[..., 1], d[..., 0], d[..., 1]) / det
        t2 = _cross(a[..., 0], a[..., 1], d[..., 0], d[..., 1]) / det
        cross_pts = p1[:, :, None, :] + a * t1[..., None]
    hit = (np.abs(det) > F32(1e-14)) & (t1 >= 0) & (t1 <= 1) & (t2 >= 0) & (t2 <= 1)
    pts = np.concatenate([cross_pts.reshape(m, 16, 2), p1, p2], axis=1).astype(np.float64)
    ok = np.concatenate([hit.reshape(m, 16), _inside(p1, p2, e2), _inside(p2, p1, e1)], axis=1)
    count = ok.sum(axis=1)
    mean = np.where(ok[..., None], pts, 0).sum(axis=1) / np.maximum(count, 1)[:, None]
    r = pts - mean[:, None, :]
    angle = np.where(ok, np.arctan2(r[..., 1], r[..., 0]), np.inf)
    r = np.take_along_axis(r, np.argsort(angle, axis=1, kind="stable")[..., None], axis=1)
    r = np.where(np.sort(angle, axis=1)[..., None] < np.inf, r, r[:, :1])  # unused slots: the first point
    nxt = np.roll(r, -1, axis=1)
    inter = np.abs(_cross(r[..., 0], r[..., 1], nxt[..., 0], nxt[..., 1]).sum(axis=1)) / 2
    inter = np.where(count > 2, inter, 0).astype(F32)
    area0, area1 = cand[:, 2] * cand[:, 3], box[2] * box[3]
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area0 + area1 - inter)
    return np.where((area0 > 0) & (area1 > 0), iou, F32(0))


@kernel("NMSRotated", versions=("opset13",))
def nms_rotated(boxes, scores, max_output_boxes_per_class, iou_threshold, score_threshold, *,
                sort_result_descending: bool = True, output_type: str = "i64", clockwise: bool = True):
    """NonMaxSuppression-9's outputs for boxes ``[xc, yc, w, h, angle]`` (radians, ``clockwise``
    positive): a candidate goes when its IoU with a selected box is > ``iou_threshold`` (a box with
    no area: when 0 is)."""
    if boxes.ndim != 3 or boxes.shape[-1] != 5:
        raise ValueError(f"rotated boxes have shape {list(boxes.shape)}, expected [N, boxes, 5]")
    rows, sc = suppress(boxes, scores, max_output_boxes_per_class, iou_threshold, score_threshold,
                        descending=sort_result_descending, rotated=True, clockwise=clockwise)
    it = _numpy_type(output_type)
    return rows.astype(it), _scores_rows(rows, sc), np.array([rows.shape[0]], it)
