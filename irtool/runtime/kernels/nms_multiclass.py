"""PaddlePaddle's detection NMS ops: MulticlassNms (opset8, opset9) and MatrixNms (opset8).

numpy is the kernel and its own reference (MulticlassNms' hard NMS is nms.py's ``greedy``, a loop
over the kept boxes; MatrixNms is one IoU matrix per image and class). OpenVINO's CPU plugin is the
oracle; the semantics kept here are its own (measured, and read in its source):

Both: boxes ``[N, M, 4]``, scores ``[N, C, M]``; a ``background_class`` gets no boxes; outputs
``selected_outputs [R, 6]`` rows ``[class, score, 4 box numbers as given]`` (the input's float type),
``selected_indices [R, 1]`` = image * M + box, and ``valid_outputs`` / ``selected_num [N]``, both in
``output_type``; only the rows selected (no padding). ``normalized`` false adds 1 to widths and heights.

MulticlassNms
- per image and class: the boxes with score >= ``score_threshold``, best first (equal scores: lower
  index), the first ``nms_top_k`` of them (-1: all) are the candidates; each is kept unless its
  IoU with a kept box is >= ``iou_threshold``. IoU of ``[y1, x1, y2, x2]`` boxes taken as given
  (no corner reordering; an empty box overlaps nothing).
- ``nms_eta`` in [0, 1): after each kept box the threshold, while > 0.5, is multiplied by it; a
  candidate whose score equals ``score_threshold`` is then compared with the last kept box only
  (OpenVINO's loop stops there). Other etas: a fixed threshold.
- image by image, best first (equal scores: lower class, then box), at most ``keep_top_k`` per image
  (-1: all); then ``sort_result_across_batch`` with ``score``: all rows by score, image, class, box;
  with ``classid``: by class, image, score, box; ``classid`` alone: each image by class, score, box;
  ``none``: as they are. (OpenVINO's first sort takes scores within 1e-6 as equal, which is no
  strict order; scores that close may come out in another order there.)
- opset9's 3-input form: boxes ``[C, sum(R_i), 4]``, scores ``[C, sum(R_i)]``, ``roisnum [N]`` (R_i
  boxes for image i, each class its own boxes); indices are (first row of the image + box) * C + class.

MatrixNms
- per image and class: the boxes with score > ``score_threshold``, the first ``nms_top_k`` best
  first (equal scores in the order libstdc++'s ``std::partial_sort``, which OpenVINO calls, leaves
  them: emulated when there are any); box i's score decays by the minimum over the better boxes j of ``(1 - iou_ij) /
  (1 - max_iou_j)`` (linear, in double, as OpenVINO does) or ``exp((max_iou_j^2 - iou_ij^2) *
  gaussian_sigma)`` with max_iou_j the largest IoU of box j with a better box; kept when the decayed
  score is > ``post_threshold``. IoU of ``[x1, y1, x2, y2]`` boxes, touching ones overlap.
- image by image: classes in turn, then best first (equal scores: lower class, then index), the
  first ``keep_top_k``; ``sort_result_across_batch`` sorts as MulticlassNms does, and without it
  ``sort_result_type`` changes nothing (each image stays sorted by score), as measured.
- no box at all: OpenVINO fails (its node asserts that there is one); here the outputs are empty.
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.kernels.elementwise import _numpy_type
from irtool.runtime.kernels.nms import greedy
from irtool.runtime.registry import kernel

F32 = np.float32


def _iou_yx(c: np.ndarray, a: np.ndarray, norm: np.float32) -> np.ndarray:
    """MulticlassNms' IoU of box ``a`` with every row of ``c`` (``[y1, x1, y2, x2]`` as given)."""
    area_c = (c[:, 2] - c[:, 0] + norm) * (c[:, 3] - c[:, 1] + norm)
    area_a = (a[2] - a[0] + norm) * (a[3] - a[1] + norm)
    h = np.maximum(np.minimum(c[:, 2], a[2]) - np.maximum(c[:, 0], a[0]) + norm, F32(0))
    w = np.maximum(np.minimum(c[:, 3], a[3]) - np.maximum(c[:, 1], a[1]) + norm, F32(0))
    inter = h * w
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area_c + area_a - inter)
    return np.where((area_c <= 0) | (area_a <= 0), F32(0), iou)


def _candidates(s: np.ndarray, keep) -> np.ndarray:
    """Indices where ``keep`` holds, best score first, equal scores by lower index."""
    cand = np.flatnonzero(keep)
    return cand[np.argsort(-s[cand], kind="stable")]


def _partial_sort(a: list, k: int, better) -> list:
    """libstdc++'s ``std::partial_sort(a, a + k, a + n, better)`` (heap select, then heap sort): the
    first k of ``a`` in its order, which for equal keys is no sorted order but still a definite one."""
    def adjust(hole: int, n: int, value) -> None:
        top, child = hole, hole
        while child < (n - 1) // 2:
            child = 2 * (child + 1)
            if better(a[child], a[child - 1]):
                child -= 1
            a[hole] = a[child]
            hole = child
        if n % 2 == 0 and child == (n - 2) // 2:
            child = 2 * (child + 1)
            a[hole] = a[child - 1]
            hole = child - 1
        parent = (hole - 1) // 2
        while hole > top and better(a[parent], value):
            a[hole] = a[parent]
            hole = parent
            parent = (hole - 1) // 2
        a[hole] = value

    if k >= 2:  # make_heap
        for parent in range((k - 2) // 2, -1, -1):
            adjust(parent, k, a[parent])
    for i in range(k, len(a)):
        if better(a[i], a[0]):
            value, a[i] = a[i], a[0]
            adjust(0, k, value)
    for last in range(k - 1, 0, -1):  # sort_heap
        value, a[last] = a[last], a[0]
        adjust(0, last, value)
    return a[:k]


def _eta_nms(b, s, order, iou_t, score_t, eta, norm) -> np.ndarray:
    """MulticlassNms with an adaptive threshold: candidate by candidate."""
    kept: list[int] = []
    t = F32(iou_t)
    for i in order:
        if kept:
            last = kept[-1:] if not s[i] > score_t else kept
            if np.any(_iou_yx(b[np.array(last)], b[i], norm) >= t):
                continue
        kept.append(int(i))
        if t > F32(0.5):
            t = F32(t * eta)
    return np.array(kept, np.int64)


def _sorted(rows: dict[str, np.ndarray], keys: list[np.ndarray]) -> dict[str, np.ndarray]:
    """``rows`` ordered by ``keys`` (the first most significant)."""
    order = np.lexsort(keys[::-1])
    return {k: v[order] for k, v in rows.items()}


def _finish(rows: dict[str, np.ndarray], n_img: int, keep_top_k: int, sort_type: str, across: bool,
            matrix: bool) -> dict[str, np.ndarray]:
    """The per-image best-first order, ``keep_top_k`` and the final sort."""
    r = _sorted(rows, [rows["img"], -rows["score"], rows["cls"], rows["idx"]])
    if keep_top_k > -1:
        rank = np.arange(r["img"].size) - np.searchsorted(r["img"], r["img"])
        r = {k: v[rank < keep_top_k] for k, v in r.items()}
    sort_type = sort_type.lower()
    if across and sort_type == "score":
        r = _sorted(r, [-r["score"], r["img"], r["cls"], r["idx"]])
    elif across and sort_type == "classid":
        r = _sorted(r, [r["cls"], r["img"], -r["score"], r["idx"]])
    elif not across and sort_type == "classid" and not matrix:
        r = _sorted(r, [r["img"], r["cls"], -r["score"], r["idx"]])
    return r


def _outputs(r, boxes4: np.ndarray, n_img: int, out_float, out_int):
    """``selected_outputs``, ``selected_indices``, the count per image."""
    sel = np.empty((r["img"].size, 6), F32)
    sel[:, 0] = r["cls"]
    sel[:, 1] = r["score"]
    sel[:, 2:] = boxes4
    num = np.bincount(r["img"], minlength=n_img)[:n_img]
    return sel.astype(out_float), r["index"].reshape(-1, 1).astype(out_int), num.astype(out_int)


def _empty_rows() -> dict[str, np.ndarray]:
    return {k: np.zeros(0, np.int64) for k in ("img", "cls", "idx", "index")} | {"score": np.zeros(0, F32)}


def _collect(parts: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Rows from (image, class, box indices, scores, flat indices) per image and class."""
    if not parts:
        return _empty_rows()
    return {"img": np.concatenate([np.full(p[2].size, p[0], np.int64) for p in parts]),
            "cls": np.concatenate([np.full(p[2].size, p[1], np.int64) for p in parts]),
            "idx": np.concatenate([p[2] for p in parts]).astype(np.int64),
            "score": np.concatenate([p[3] for p in parts]).astype(F32),
            "index": np.concatenate([p[4] for p in parts]).astype(np.int64)}


def _float_out(x) -> np.dtype:
    return x.dtype if x.dtype.kind == "f" else np.dtype(F32)


# ------------------------------------------------------------------------------------------ MulticlassNms
def multiclass(boxes, scores, roisnum=None, *, sort_result_type="none", sort_result_across_batch=False,
               output_type="i64", iou_threshold=0.0, score_threshold=0.0, nms_top_k=-1, keep_top_k=-1,
               background_class=-1, nms_eta=1.0, normalized=True):
    b_all = np.asarray(boxes).astype(F32, copy=False)
    s_all = np.asarray(scores).astype(F32, copy=False)
    shared = s_all.ndim == 3
    if b_all.ndim != 3 or b_all.shape[-1] != 4 or s_all.ndim not in (2, 3):
        raise ValueError(f"boxes {list(b_all.shape)} / scores {list(s_all.shape)}: expected [N, M, 4] and "
                         "[N, C, M], or [C, M, 4], [C, M] and roisnum")
    if shared:
        n_img, n_cls, n_box = s_all.shape[0], s_all.shape[1], b_all.shape[1]
        if b_all.shape[0] != n_img or s_all.shape[2] != n_box:
            raise ValueError(f"boxes {list(b_all.shape)} and scores {list(s_all.shape)} do not match")
        counts = starts = None
    else:
        if roisnum is None:
            raise ValueError("2-D scores need the roisnum input")
        if b_all.shape[:2] != s_all.shape:
            raise ValueError(f"boxes {list(b_all.shape)} and scores {list(s_all.shape)} do not match")
        counts = np.asarray(roisnum).astype(np.int64).reshape(-1)
        n_img, n_cls, n_box = counts.size, s_all.shape[0], b_all.shape[1]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    top_k = n_box if nms_top_k == -1 else min(nms_top_k, n_box)
    iou_t, score_t, eta = F32(iou_threshold), F32(score_threshold), F32(nms_eta)
    norm = F32(0 if normalized else 1)
    with_eta = F32(0) <= eta < F32(1)

    def iou(c, a):
        return _iou_yx(c, a, norm)

    parts, picked = [], []
    for img in range(n_img if top_k > 0 else 0):
        for cls in range(n_cls):
            if cls == background_class or (counts is not None and counts[img] <= 0):
                continue
            if shared:
                b, s = b_all[img], s_all[img, cls]
            else:
                b = b_all[cls, starts[img]:starts[img] + counts[img]]
                s = s_all[cls, starts[img]:starts[img] + counts[img]]
            order = _candidates(s, s >= score_t)[:top_k]
            if order.size == 0:
                continue
            if with_eta:
                kept = _eta_nms(b, s, order, iou_t, score_t, eta, norm)
            else:
                kept = greedy(b, order, iou_t, order.size, iou=iou)
            index = img * n_box + kept if shared else (starts[img] + kept) * n_cls + cls
            parts.append((img, cls, kept, s[kept], index))
            picked.append(b[kept])
    rows = _collect(parts)
    rows["box"] = np.concatenate(picked) if picked else np.zeros((0, 4), F32)
    r = _finish(rows, n_img, keep_top_k, sort_result_type, sort_result_across_batch, matrix=False)
    return _outputs(r, r["box"], n_img, _float_out(np.asarray(boxes)), _numpy_type(output_type))


@kernel("MulticlassNms", versions=("opset8", "opset9"))
def multiclass_nms(boxes, scores, roisnum=None, *, sort_result_type: str = "none",
                   sort_result_across_batch: bool = False, output_type: str = "i64", iou_threshold: float = 0.0,
                   score_threshold: float = 0.0, nms_top_k: int = -1, keep_top_k: int = -1,
                   background_class: int = -1, nms_eta: float = 1.0, normalized: bool = True):
    """``selected_outputs``, ``selected_indices``, ``selected_num`` (see the module's docstring)."""
    return multiclass(boxes, scores, roisnum, sort_result_type=sort_result_type,
                      sort_result_across_batch=sort_result_across_batch, output_type=output_type,
                      iou_threshold=iou_threshold, score_threshold=score_threshold, nms_top_k=nms_top_k,
                      keep_top_k=keep_top_k, background_class=background_class, nms_eta=nms_eta,
                      normalized=normalized)


# ------------------------------------------------------------------------------------------ MatrixNms
def _iou_matrix(b: np.ndarray, norm: np.float32) -> np.ndarray:
    """IoU[i, j] of ``[x1, y1, x2, y2]`` boxes, OpenVINO's MatrixNms way (box i first, j second)."""
    p, q = b[:, None, :], b[None, :, :]
    apart = (q[..., 0] > p[..., 2]) | (q[..., 2] < p[..., 0]) | (q[..., 1] > p[..., 3]) | (q[..., 3] < p[..., 1])
    w = np.minimum(p[..., 2], q[..., 2]) - np.maximum(p[..., 0], q[..., 0]) + norm
    h = np.minimum(p[..., 3], q[..., 3]) - np.maximum(p[..., 1], q[..., 1]) + norm
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    area = np.where((bw < 0) | (bh < 0), F32(0), (bw + norm) * (bh + norm))
    inter = w * h
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / ((area[:, None] + area[None, :]) - inter)
    return np.where(apart, F32(0), iou)


def _decayed(s: np.ndarray, iou: np.ndarray, gaussian: bool, sigma: np.float32) -> np.ndarray:
    """Candidates' scores (best first) after the matrix decay."""
    n = s.size
    below = np.tril(np.ones((n, n), bool), -1)  # [i, j]: j better than i
    iou = np.where(below, iou, F32(0))
    max_iou = iou.max(axis=1)  # of each box with the better ones (0 for the best)
    if gaussian:
        decay = np.exp((max_iou[None, :] * max_iou[None, :] - iou * iou) * sigma)
    else:  # OpenVINO's (1. - iou) / (1. - max_iou + 1e-10f), in double
        decay = ((1.0 - iou.astype(np.float64)) / (1.0 - max_iou[None, :].astype(np.float64)
                                                   + np.float64(F32(1e-10)))).astype(F32)
    decay = np.where(below, decay, F32(1)).min(axis=1, initial=F32(1))
    return decay * s


def matrix(boxes, scores, *, sort_result_type="none", sort_result_across_batch=False, output_type="i64",
           score_threshold=0.0, nms_top_k=-1, keep_top_k=-1, background_class=-1, decay_function="linear",
           gaussian_sigma=2.0, post_threshold=0.0, normalized=True):
    b_all = np.asarray(boxes).astype(F32, copy=False)
    s_all = np.asarray(scores).astype(F32, copy=False)
    if b_all.ndim != 3 or b_all.shape[-1] != 4 or s_all.ndim != 3 or s_all.shape[0] != b_all.shape[0] \
            or s_all.shape[2] != b_all.shape[1]:
        raise ValueError(f"boxes {list(b_all.shape)} and scores {list(s_all.shape)}: expected [N, M, 4] and [N, C, M]")
    n_img, n_cls, n_box = s_all.shape
    score_t, post_t, sigma = F32(score_threshold), F32(post_threshold), F32(gaussian_sigma)
    norm = F32(0 if normalized else 1)
    gaussian = decay_function.lower() == "gaussian"
    parts, picked = [], []
    for img in range(n_img):
        for cls in range(n_cls):
            if cls == background_class:
                continue
            s = s_all[img, cls]
            cand = np.flatnonzero(s > score_t)
            k = cand.size if nms_top_k <= -1 else min(nms_top_k, cand.size)
            if np.unique(s[cand]).size == cand.size:  # distinct scores: one order
                order = cand[np.argsort(-s[cand], kind="stable")][:k]
            else:  # equal scores come in the order OpenVINO's partial sort leaves them
                order = np.array(_partial_sort(cand.tolist(), k, lambda i, j: s[i] > s[j]), np.int64)
            if order.size == 0:
                continue
            ds = _decayed(s[order], _iou_matrix(b_all[img, order], norm), gaussian, sigma)
            keep = ds > post_t
            kept = order[keep]
            parts.append((img, cls, kept, ds[keep], img * n_box + kept))
            picked.append(b_all[img, kept])
    rows = _collect(parts)
    rows["box"] = np.concatenate(picked) if picked else np.zeros((0, 4), F32)
    r = _finish(rows, n_img, keep_top_k, sort_result_type, sort_result_across_batch, matrix=True)
    return _outputs(r, r["box"], n_img, _float_out(np.asarray(boxes)), _numpy_type(output_type))


@kernel("MatrixNms", versions=("opset8",))
def matrix_nms(boxes, scores, *, sort_result_type: str = "none", sort_result_across_batch: bool = False,
               output_type: str = "i64", score_threshold: float = 0.0, nms_top_k: int = -1, keep_top_k: int = -1,
               background_class: int = -1, decay_function: str = "linear", gaussian_sigma: float = 2.0,
               post_threshold: float = 0.0, normalized: bool = True):
    """``selected_outputs``, ``selected_indices``, ``valid_outputs`` (see the module's docstring)."""
    return matrix(boxes, scores, sort_result_type=sort_result_type, sort_result_across_batch=sort_result_across_batch,
                  output_type=output_type, score_threshold=score_threshold, nms_top_k=nms_top_k,
                  keep_top_k=keep_top_k, background_class=background_class, decay_function=decay_function,
                  gaussian_sigma=gaussian_sigma, post_threshold=post_threshold, normalized=normalized)
