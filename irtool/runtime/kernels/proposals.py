"""Region proposals of two-stage detectors: Proposal (opset1, opset4) and GenerateProposals (opset9).

Both decode a box at every anchor of every cell from its deltas, keep the best-scored ones and
thin them with greedy NMS. numpy is the kernel and its own reference: the decoding is one float32
expression over all cells and anchors in OpenVINO's order of operations, the NMS a loop over the
boxes it keeps (at most ``post_nms`` of them), each suppressing the rest at once.

OpenVINO's CPU plugin is the oracle; the semantics kept here are its own:

- proposals enumerated cell by cell (row, column), anchor by anchor within a cell; the best
  ``pre_nms`` by score (ties in OpenVINO's partial sort come in no defined order; here the lower
  index first), then NMS in that order: a box goes when its IoU with a kept one is > the threshold,
  with boxes ``x1 - x0 + offset`` wide (offset 1 for Caffe / unnormalized, 0 for TensorFlow /
  normalized) that overlap when their edges touch; it stops at ``post_nms`` boxes.
- a box under the minimum size keeps its place in the sort: Proposal gives it score 0 (it still
  competes in NMS), GenerateProposals drops it from NMS but it still takes one of the ``pre_nms``.

Proposal (scores [N, 2A, H, W], foreground the last A channels; deltas [N, 4A, H, W]; image info
[3 or 4]: height, width, scale (height and width scales with 4), the same for every image)
- anchors ``ratio``-major, then ``scale``; ``framework=""`` (Caffe): widths ``round(sqrt(base^2 /
  ratio))``, heights ``round(width * ratio)``, offset 1; ``"tensorflow"``: no rounding, offset 0,
  anchors shifted by ``-base / 2`` and clipped to the image before decoding, and x and y swapped
  (x from the row, the image height from its width), as the CPU node does.
- ``clip_before_nms``: corners clipped to ``[0, size - offset]``; ``clip_after_nms``: to ``[0, size]``;
  ``normalize``: divided by the image size; deltas divided by ``box_coordinate_scale`` (centers) and
  ``box_size_scale`` (log sizes); minimum size ``min_size * scale``.
- output rows ``[image, x0, y0, x1, y1]``, ``post_nms_topn`` per image: after an image's last box
  zeros, the first of them with image -1. opset4's scores [N * post_nms_topn] (0 past the last box:
  the CPU node leaves those unwritten).

GenerateProposals (image info [N, 3 or 4]; anchors [H, W, A, 4]; deltas [N, 4A, H, W]; scores
[N, A, H, W]): sizes ``exp(min(delta, log(1000 / 16)))``, x1 ``center + w / 2 - offset``, corners
always clipped to ``[0, size - offset]``; outputs the boxes [R, 4] and scores [R] of every image in
turn and the count per image [N] (``roi_num_type``). ``nms_eta`` must be 1 (OpenVINO's op refuses others).
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.kernels.elementwise import _numpy_type
from irtool.runtime.registry import kernel

F32 = np.float32


def _round(x: np.ndarray) -> np.ndarray:
    """``std::roundf``: halves away from zero (exact in float64)."""
    x = np.asarray(x, np.float64)
    return np.copysign(np.floor(np.abs(x) + 0.5), x).astype(F32)


def nms(x0, y0, x1, y1, dead: np.ndarray, threshold: np.float32, limit: int, offset: np.float32) -> np.ndarray:
    """Greedy NMS of boxes in order (``dead`` ones skipped), OpenVINO's Proposal/GenerateProposals
    way: the indices kept, at most ``limit``."""
    n, dead = len(x0), dead.copy()
    keep: list[int] = []
    pos = 0
    while len(keep) < limit:
        alive = np.flatnonzero(~dead[pos:])
        if alive.size == 0:
            break
        box = pos + int(alive[0])
        keep.append(box)
        pos = box + 1
        if len(keep) == limit or pos >= n:
            break
        j = slice(pos, n)
        touch = (x0[box] <= x1[j]) & (y0[box] <= y1[j]) & (x0[j] <= x1[box]) & (y0[j] <= y1[box])
        w = np.maximum(F32(0), np.minimum(x1[box], x1[j]) - np.maximum(x0[box], x0[j]) + offset)
        h = np.maximum(F32(0), np.minimum(y1[box], y1[j]) - np.maximum(y0[box], y0[j]) + offset)
        area = w * h
        a = (x1[box] - x0[box] + offset) * (y1[box] - y0[box] + offset)
        b = (x1[j] - x0[j] + offset) * (y1[j] - y0[j] + offset)
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(touch, area / (a + b - area), F32(0))
        dead[j] |= threshold < iou
    return np.array(keep, np.int64)


def _best(score: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` best-scored indices, best first (ties: the lower index first)."""
    return np.argsort(-score, kind="stable")[:count]


def _decode(x0, y0, x1, y1, dx, dy, dw, dh, offset):
    """Boxes from anchors and deltas, float32 in OpenVINO's order: (x0, y0, x1, y1) before clipping,
    x1 and y1 without the final offset."""
    ww, hh = x1 - x0 + offset, y1 - y0 + offset
    cx, cy = x0 + F32(0.5) * ww, y0 + F32(0.5) * hh
    px, py = dx * ww + cx, dy * hh + cy
    with np.errstate(over="ignore"):
        pw, ph = np.exp(dw) * ww, np.exp(dh) * hh
    return px - F32(0.5) * pw, py - F32(0.5) * ph, px + F32(0.5) * pw, py + F32(0.5) * ph


def _clip(v, hi):
    return np.maximum(F32(0), np.minimum(v, hi))


# ------------------------------------------------------------------------------------------ Proposal
def _anchors(base_size: int, ratios, scales, offset: np.float32, tensorflow: bool) -> np.ndarray:
    """[4, A] (x0, y0, x1, y1) of the base anchors, ratio-major."""
    base = F32(base_size)
    center = F32(0.5) * (base - offset)
    r = np.asarray(ratios, F32)[:, None]
    w = np.sqrt(F32(base_size * base_size) / r)
    h = w * r if tensorflow else _round(_round(w) * r)
    w = w if tensorflow else _round(w)
    s = np.asarray(scales, F32)[None, :]
    half_w, half_h = F32(0.5) * (w * s - offset), F32(0.5) * (h * s - offset)
    box = np.stack([center - half_w, center - half_h, center + half_w, center + half_h]).reshape(4, -1)
    return box - base * F32(0.5) if tensorflow else box


def _image_info(info: np.ndarray) -> tuple[np.float32, np.float32, np.float32, np.float32]:
    v = np.asarray(info, F32)
    flat = v.reshape(-1)
    if flat.size < 3:
        raise ValueError(f"Proposal: the image info {list(v.shape)} needs height, width and scale")
    height, width, scale_h = flat[0], flat[1], flat[2]
    scale_w = flat[3] if v.shape[0] == 4 else scale_h  # the node reads 4 values when the first dim is 4
    if not (np.isfinite(height) and np.isfinite(width) and height > 0 and width > 0):
        raise ValueError("Proposal: the image info must have a positive image height and width")
    if not (np.isfinite(scale_h) and np.isfinite(scale_w) and scale_h >= 0 and scale_w >= 0):
        raise ValueError("Proposal: the image info must have non-negative scales")
    return height, width, scale_h, scale_w


@kernel("Proposal", versions=("opset1", "opset4"))
def proposal(class_probs, bbox_deltas, image_shape, *, base_size: int, pre_nms_topn: int, post_nms_topn: int,
             nms_thresh: float, feat_stride: int, min_size: int, ratio: list[float], scale: list[float],
             clip_before_nms: bool = True, clip_after_nms: bool = False, normalize: bool = False,
             box_size_scale: float = 1.0, box_coordinate_scale: float = 1.0, framework: str = "", layer=None):
    """Proposal: rois [N * post_nms_topn, 5] (opset4: and their scores [N * post_nms_topn])."""
    if framework not in ("", "tensorflow"):
        raise ValueError(f"Proposal framework '{framework}' is not supported (OpenVINO's CPU plugin takes '' and "
                         "'tensorflow')")
    tf = framework == "tensorflow"
    offset = F32(0) if tf else F32(1)
    probs, deltas = np.asarray(class_probs, F32), np.asarray(bbox_deltas, F32)
    N, _, H, W = probs.shape
    base = _anchors(base_size, ratio, scale, offset, tf)  # [4, A]
    A = base.shape[1]
    if probs.shape[1] != 2 * A or deltas.shape != (N, 4 * A, H, W):
        raise ValueError(f"Proposal: scores {list(probs.shape)} and deltas {list(deltas.shape)} do not fit "
                         f"{A} anchors")
    height, width, scale_h, scale_w = _image_info(image_shape)
    img_h, img_w = (width, height) if tf else (height, width)
    min_h, min_w = F32(min_size) * scale_h, F32(min_size) * scale_w
    rows = np.arange(H, dtype=np.int64)[:, None, None] * feat_stride
    cols = np.arange(W, dtype=np.int64)[None, :, None] * feat_stride
    sx, sy = ((rows, cols) if tf else (cols, rows))
    x0, y0 = sx.astype(F32) + base[0], sy.astype(F32) + base[1]  # [H, W, A]
    x1, y1 = sx.astype(F32) + base[2], sy.astype(F32) + base[3]
    x0, y0, x1, y1 = np.broadcast_arrays(x0, y0, x1, y1)
    if tf:  # the anchors clipped to the image first
        x0, y0, x1, y1 = _clip(x0, img_w), _clip(y0, img_h), _clip(x1, img_w), _clip(y1, img_h)
    count = min(A * H * W, pre_nms_topn)
    rois = np.zeros((N, post_nms_topn, 5), F32)
    scores = np.zeros((N, post_nms_topn), F32)
    for n in range(N):
        d = deltas[n].reshape(A, 4, H, W).transpose(2, 3, 0, 1)  # [H, W, A, 4]
        dx, dy = d[..., 0] / F32(box_coordinate_scale), d[..., 1] / F32(box_coordinate_scale)
        dw, dh = d[..., 2] / F32(box_size_scale), d[..., 3] / F32(box_size_scale)
        b0, b1, b2, b3 = _decode(x0, y0, x1, y1, dx, dy, dw, dh, offset)
        if clip_before_nms:
            b0, b1 = _clip(b0, img_w - offset), _clip(b1, img_h - offset)
            b2, b3 = _clip(b2, img_w - offset), _clip(b3, img_h - offset)
        big = (min_w <= b2 - b0 + offset) & (min_h <= b3 - b1 + offset)
        score = probs[n, A:].transpose(1, 2, 0) * big.astype(F32)
        b0, b1, b2, b3, score = (v.reshape(-1) for v in (b0, b1, b2, b3, score))
        top = _best(score, count)
        b0, b1, b2, b3, score = b0[top], b1[top], b2[top], b3[top], score[top]
        keep = nms(b0, b1, b2, b3, np.zeros(count, bool), F32(nms_thresh), post_nms_topn, offset)
        box = np.stack([b0[keep], b1[keep], b2[keep], b3[keep]], axis=-1)
        if clip_after_nms:
            box = _clip(box, np.array([img_w, img_h, img_w, img_h], F32))
        if normalize:
            box = box / np.array([img_w, img_h, img_w, img_h], F32)
        k = len(keep)
        rois[n, :k, 0] = n
        rois[n, :k, 1:] = box
        scores[n, :k] = score[keep]
        if k < post_nms_topn:
            rois[n, k, 0] = -1  # the end marker
    rois = rois.reshape(-1, 5)
    if layer is not None and len(layer.outputs) == 2:
        return rois, scores.reshape(-1)
    return rois


# ------------------------------------------------------------------------------------------ GenerateProposals
_MAX_DELTA_LOG_WH = F32(np.log(1000.0 / 16.0))


@kernel("GenerateProposals", versions=("opset9",))
def generate_proposals(im_info, anchors, deltas, scores, *, min_size: float, nms_threshold: float,
                       pre_nms_count: int, post_nms_count: int, normalized: bool = True, nms_eta: float = 1.0,
                       roi_num_type: str = "i64"):
    """GenerateProposals: boxes [R, 4], scores [R], boxes per image [N] (module docstring)."""
    if nms_eta != 1.0:  # OpenVINO's op validation refuses any other
        raise ValueError(f"GenerateProposals nms_eta={nms_eta:g}: OpenVINO supports only 1")
    info = np.asarray(im_info, F32)
    anc, dl, sc = np.asarray(anchors, F32), np.asarray(deltas, F32), np.asarray(scores, F32)
    if sc.ndim != 4 or dl.ndim != 4 or anc.ndim != 4:
        raise ValueError("GenerateProposals: anchors, deltas and scores must be 4-D")
    N, A, H, W = sc.shape
    if dl.shape != (N, 4 * A, H, W) or anc.shape != (H, W, A, 4) or info.shape[0] != N:
        raise ValueError(f"GenerateProposals: im_info {list(info.shape)}, anchors {list(anc.shape)}, deltas "
                         f"{list(dl.shape)} and scores {list(sc.shape)} do not fit each other")
    offset = F32(0) if normalized else F32(1)
    per_image = info.reshape(N, -1)
    count = min(A * H * W, pre_nms_count)
    boxes, probs, nums = [], [], []
    a0, a1, a2, a3 = (anc[..., i] for i in range(4))  # [H, W, A]
    for n in range(N):
        img_h, img_w = per_image[n, 0], per_image[n, 1]
        scale_h = per_image[n, 2] if per_image.shape[1] in (3, 4) else F32(1)
        scale_w = per_image[n, 3] if per_image.shape[1] == 4 else scale_h
        d = dl[n].reshape(A, 4, H, W).transpose(2, 3, 0, 1)  # [H, W, A, 4]
        dw, dh = np.minimum(d[..., 2], _MAX_DELTA_LOG_WH), np.minimum(d[..., 3], _MAX_DELTA_LOG_WH)
        b0, b1, b2, b3 = _decode(a0, a1, a2, a3, d[..., 0], d[..., 1], dw, dh, offset)
        b2, b3 = b2 - offset, b3 - offset
        b0, b1 = _clip(b0, img_w - offset), _clip(b1, img_h - offset)
        b2, b3 = _clip(b2, img_w - offset), _clip(b3, img_h - offset)
        small = ~((F32(min_size) * scale_w <= b2 - b0 + offset) & (F32(min_size) * scale_h <= b3 - b1 + offset))
        score = sc[n].transpose(1, 2, 0).reshape(-1)
        top = _best(score, count)
        b0, b1, b2, b3 = (v.reshape(-1)[top] for v in (b0, b1, b2, b3))
        keep = nms(b0, b1, b2, b3, small.reshape(-1)[top], F32(nms_threshold), post_nms_count, offset)
        boxes.append(np.stack([b0[keep], b1[keep], b2[keep], b3[keep]], axis=-1))
        probs.append(score[top][keep])
        nums.append(len(keep))
    return (np.concatenate(boxes).astype(F32).reshape(-1, 4), np.concatenate(probs).astype(F32),
            np.array(nums, _numpy_type(roi_num_type)))
