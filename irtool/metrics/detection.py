"""Detection mAP from DetectionOutput rows: VOC 11-point and all-point AP at an IoU, and COCO
AP@[0.5:0.95] (pycocotools' rules), vectorized over images and classes."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from irtool.errors import InputError
from irtool.metrics.annotations import Annotations

COCO_IOUS = np.linspace(0.5, 0.95, 10)  # pycocotools' iouThrs
COCO_MAX_DETS = 100  # pycocotools' maxDets: detections kept per image and class

def detections(per_batch: Sequence[np.ndarray], num_images: int | None) -> np.ndarray:
    """DetectionOutput results of all batches as [D, 7] rows (image, label, conf, x_min, y_min, x_max,
    y_max) with global image ids.

    Each batch's output holds rows [image_id, label, conf, box] (shape [1, 1, K, 7]); the rows from the
    first image_id == -1 on are padding. image_id is local to its batch: all batches hold the same
    number of images B = ``num_images`` / number of batches (irtool cuts N samples into equal batches),
    so batch i's images are i*B .. i*B+B-1. With one batch, ``num_images`` may be None."""
    if num_images is None and len(per_batch) > 1:
        raise InputError("mAP over several batches needs the number of images (Annotations.num_images)")
    if num_images is not None and num_images % len(per_batch):
        raise InputError(f"{num_images} images do not split into {len(per_batch)} equal batches")
    size = None if num_images is None else num_images // len(per_batch)
    return np.concatenate([_batch_rows(arr, i, size) for i, arr in enumerate(per_batch)], axis=0)


def _batch_rows(arr: np.ndarray, index: int, size: int | None) -> np.ndarray:
    if arr.ndim == 0 or arr.shape[-1] != 7:
        raise InputError(f"mAP reads DetectionOutput rows [image_id, label, conf, x_min, y_min, x_max, y_max]; "
                         f"the output has shape {list(arr.shape)}")
    rows = np.asarray(arr, np.float64).reshape(-1, 7)
    end = np.flatnonzero(rows[:, 0] == -1)
    rows = rows[:end[0]] if end.size else rows
    local = rows[:, 0]
    bad = local[(local < 0) | (local >= (np.inf if size is None else size))]
    if bad.size:
        raise InputError(f"batch {index}: detection image_id {bad[0]:g} is not one of the batch's "
                         f"{size} image(s) (0..{size - 1 if size else '?'})")
    return np.column_stack([local + index * (size or 0), rows[:, 1:]])


def average_precisions(dets: np.ndarray, truth: Annotations, method: str = "voc11",
                       iou: float = 0.5) -> dict[int, float]:
    """AP per class of detections [D, 7] (global image ids) against ``truth``'s boxes.

    The classes are those with at least one non-difficult ground-truth box; detections of other
    classes are ignored (as VOC does). Detections are ranked by confidence (stable, descending).
    ``voc11`` / ``all``: each detection goes to the ground truth of its image and class it overlaps
    most (VOC devkit); IoU >= ``iou`` and that box unclaimed: true positive; already claimed: false
    positive (a duplicate); a difficult box: the detection is ignored (neither TP nor FP, however many
    match it). ``coco``: pycocotools' rules at IoU 0.50:0.05:0.95 (``coco50``: at IoU 0.5 only) (the best *unclaimed* box, at most
    100 detections per image and class), difficult boxes as in VOC; the AP is averaged over thresholds.
    """
    if method not in ("voc11", "all", "coco", "coco50"):
        raise InputError(f"unknown AP method '{method}': voc11, all, coco or coco50")
    coco = method.startswith("coco")
    classes = np.unique(truth.gt_labels[~truth.gt_difficult])
    if not classes.size:
        raise InputError("mAP needs at least one ground-truth box that is not difficult")
    dets = dets[np.argsort(-dets[:, 2], kind="stable")]  # from here on, index order = confidence order
    dets = dets[np.isin(np.rint(dets[:, 1]).astype(np.int64), classes)]
    det_key, gt_key = _group_keys(dets, truth)
    if coco:
        keep = _rank_in_group(det_key) < COCO_MAX_DETS
        dets, det_key = dets[keep], det_key[keep]
    pair_det, pair_gt, slot = _pairs(det_key, gt_key)
    overlap = box_iou(dets[pair_det, 3:7], truth.gt_boxes[pair_gt])
    if coco:
        thresholds = COCO_IOUS if method == "coco" else np.array([0.5])
        tp, counted = _match_coco(overlap, pair_det, pair_gt, slot, det_key, truth.gt_difficult, thresholds)
    else:
        tp, counted = _match_voc(overlap, pair_det, pair_gt, len(dets), truth.gt_difficult, iou)
    ap = coco_ap if coco else voc11_ap if method == "voc11" else all_point_ap
    det_label = np.rint(dets[:, 1]).astype(np.int64)
    positives = {c: int(np.sum((truth.gt_labels == c) & ~truth.gt_difficult)) for c in classes}
    return {int(c): _class_ap(det_label == c, tp, counted, positives[c], ap) for c in classes}


def _group_keys(dets: np.ndarray, truth: Annotations) -> tuple[np.ndarray, np.ndarray]:
    """One int64 key per (image, class), for detections and ground truth alike."""
    det_label = np.rint(dets[:, 1]).astype(np.int64)
    labels = np.unique(np.concatenate([det_label, truth.gt_labels]))
    n = max(len(labels), 1)
    det_key = np.rint(dets[:, 0]).astype(np.int64) * n + np.searchsorted(labels, det_label)
    return det_key, truth.gt_image * n + np.searchsorted(labels, truth.gt_labels)


def _rank_in_group(keys: np.ndarray) -> np.ndarray:
    """Position of each element among the elements with the same key, in array order."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) if len(keys) else np.zeros(0, int)
    rank = np.empty(len(keys), np.int64)
    rank[order] = np.arange(len(keys)) - np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
    return rank


def _pairs(det_key: np.ndarray, gt_key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (detection, ground truth) pair of the same image and class, as (detection, box, slot):
    detections in order, each one's boxes in their original order; slot = the box's place among them."""
    order = np.argsort(gt_key, kind="stable")
    sorted_keys = gt_key[order]
    start = np.searchsorted(sorted_keys, det_key, "left")
    count = np.searchsorted(sorted_keys, det_key, "right") - start
    pair_det = np.repeat(np.arange(len(det_key)), count)
    slot = np.arange(len(pair_det)) - np.repeat(np.cumsum(count) - count, count)
    return pair_det, order[np.repeat(start, count) + slot], slot


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box pairs [P, 4] x [P, 4] (x_min, y_min, x_max, y_max), normalized: no +1 on sides."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = _area(a) + _area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _area(box: np.ndarray) -> np.ndarray:
    return np.clip(box[:, 2] - box[:, 0], 0, None) * np.clip(box[:, 3] - box[:, 1], 0, None)


def _match_voc(overlap, pair_det, pair_gt, n_det, difficult, iou) -> tuple[np.ndarray, np.ndarray]:
    """VOC devkit matching, vectorized: ([1, D] true positive, [1, D] counted = not ignored)."""
    best_gt, best_iou = np.full(n_det, -1), np.full(n_det, -1.0)
    order = np.lexsort((-overlap, pair_det))  # by detection, then IoU descending (the first box on ties)
    first = order[np.r_[True, pair_det[order][1:] != pair_det[order][:-1]]] if len(order) else order
    best_gt[pair_det[first]], best_iou[pair_det[first]] = pair_gt[first], overlap[first]
    hit = best_iou >= iou
    ignored = hit & difficult[best_gt]
    claims = np.flatnonzero(hit & ~ignored)
    # detections are in confidence order: a box's first claim is the true positive, the others duplicates
    _, first_claim = np.unique(best_gt[claims], return_index=True)
    tp = np.zeros(n_det, bool)
    tp[claims[first_claim]] = True
    return tp[None], ~ignored[None]


def _match_coco(overlap, pair_det, pair_gt, slot, det_key, ignore,
                thresholds: np.ndarray = COCO_IOUS) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' greedy matching at every IoU threshold at once: ([T, D] true positive, [T, D] counted).

    In confidence order, a detection claims the unclaimed box with the highest IoU >= t (the later box
    on ties). Only when no ordinary box is left does it fall back to a difficult one: it is then ignored,
    and the difficult box stays unclaimed (VOC's rule: any number of detections may match it).
    Claims depend on earlier claims only within an (image, class) group, so round r matches the r-th
    candidate detection of every group at once."""
    t = np.minimum(thresholds, 1 - 1e-10)
    n_det = len(det_key)
    matched, ignored = np.zeros((len(t), n_det), bool), np.zeros((len(t), n_det), bool)
    claimed = np.zeros((len(t), len(ignore)), bool)
    cand = np.unique(pair_det[overlap >= t.min()])  # the detections that can match at all
    if not cand.size:
        return matched, ~ignored
    keep = np.isin(pair_det, cand)
    row = np.searchsorted(cand, pair_det[keep])
    width = int(slot[keep].max()) + 1
    iou, box = np.full((len(cand), width), -1.0), np.zeros((len(cand), width), np.int64)
    iou[row, slot[keep]], box[row, slot[keep]] = overlap[keep], pair_gt[keep]
    rounds = _rank_in_group(det_key[cand])
    for r in range(int(rounds.max()) + 1):
        at = np.flatnonzero(rounds == r)
        v, b = iou[at][:, None, :], box[at]  # [n, 1, W], [n, W]
        free = (v >= t[:, None]) & ~claimed[:, b].transpose(1, 0, 2)  # [n, T, W]
        real = free & ~ignore[b][:, None, :]
        pick = np.where(real.any(axis=2, keepdims=True), real, free)
        j = width - 1 - np.argmax(np.where(pick, v, -1.0)[..., ::-1], axis=2)  # [n, T]
        n_i, t_i = np.nonzero(pick.any(axis=2))
        chosen = b[n_i, j[n_i, t_i]]
        claimed[t_i, chosen] = ~ignore[chosen]
        matched[t_i, cand[at[n_i]]] = True
        ignored[t_i, cand[at[n_i]]] = ignore[chosen]
    return matched & ~ignored, ~ignored


def _class_ap(in_class: np.ndarray, tp: np.ndarray, counted: np.ndarray, positives: int,
              ap: Callable[[np.ndarray, np.ndarray], float]) -> float:
    """Mean over thresholds (rows of ``tp``) of the AP of one class's counted detections."""
    values = []
    for tp_t, counted_t in zip(tp, counted):
        hits = tp_t[in_class & counted_t]
        cum_tp = np.cumsum(hits)
        recall = cum_tp / positives
        precision = cum_tp / np.arange(1, len(hits) + 1)
        values.append(ap(recall, precision))
    return float(np.mean(values))


def voc11_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2007 11-point AP: mean over t = 0, 0.1 .. 1 of the best precision at recall >= t."""
    t = np.arange(11) / 10  # exactly k/10 (arange(0, 1.1, 0.1) gives 0.30000000000000004)
    best = np.where(recall[None, :] >= t[:, None], precision[None, :], 0.0)
    return float(np.mean(best.max(axis=1, initial=0.0)))


def all_point_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2010+ AP: the area under the monotone (non-increasing) envelope of the precision."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.maximum.accumulate(np.concatenate([[0.0], precision, [0.0]])[::-1])[::-1]
    step = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[step + 1] - r[step]) * p[step + 1]))


def coco_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """pycocotools' AP: the precision envelope read at 101 recall points 0, 0.01 .. 1 (0 past the end)."""
    if not len(precision):
        return 0.0
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    at = np.searchsorted(recall, np.linspace(0.0, 1.0, 101), side="left")
    return float(np.mean(np.where(at < len(envelope), envelope[np.minimum(at, len(envelope) - 1)], 0.0)))
