"""Metrics of a model's outputs: accuracy against ground truth, or closeness to the FP32 model.

Used by accuracy-aware quantization, ``irtool compare`` and ``irtool run``. A metric reads

- ``outputs``: the model's outputs batch by batch, as irtool's plugin returns them: a list of
  ``{output name: array}`` in model order. A metric uses the model's first output, or ``output=NAME``;
- ``annotations``: the ground truth of a validation .npz (:class:`Annotations`);
- ``reference``: the FP32 model's outputs on the same batches (``cosine`` and ``nmse``).

Names understood by :func:`get_metric`:

==================  ==================================================================================
``top1``, ``top5``  classification accuracy; also ``topK`` / ``topk:K``. Needs ``labels``.
``map``             detection mAP, Pascal VOC 11-point AP at IoU 0.5 (the OpenVINO accuracy checker's
                    setting for SSD models; same as ``map:voc11``). Needs ``gt_*`` boxes.
``map:all``         VOC 2010+ all-point AP (area under the precision envelope) at IoU 0.5.
``map:coco``        COCO AP@[0.5:0.95]: 101-point AP averaged over IoU 0.50, 0.55 .. 0.95 (pycocotools).
``cosine``          mean cosine similarity to the FP32 outputs, per sample (higher is better).
``nmse``            mean of |ref - out|^2 / |ref|^2 per sample (lower is better).
==================  ==================================================================================

A plain Python callable ``fn(outputs, annotations) -> float`` is a metric too (higher is better unless
``higher_is_better=False``).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from irtool.errors import InputError

# The arrays of a validation .npz that are ground truth, never model inputs (see irtool.data.match_inputs).
ANNOTATION_KEYS = ("labels", "gt_boxes", "gt_labels", "gt_image", "gt_difficult")
_GT_REQUIRED = ("gt_boxes", "gt_labels", "gt_image")
NAMES = "top1, top5, topk:K, map, map:voc11, map:all, map:coco, cosine, nmse"

Needs = Literal["labels", "boxes", "reference"]
Outputs = Sequence[Mapping[str, np.ndarray]]


# --- ground truth --------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)  # eq on arrays is ambiguous: compare the fields instead
class Annotations:
    """Ground truth of a validation set, as flat arrays (the keys of the .npz).

    - ``labels`` [N] int: the class of each sample (classification).
    - ``gt_boxes`` [T, 4] float: detection boxes (x_min, y_min, x_max, y_max), normalized 0..1;
      ``gt_labels`` [T] int: their class ids as the detector outputs them (0 is usually background);
      ``gt_image`` [T] int: the sample each box belongs to; ``gt_difficult`` [T] bool, optional (VOC).
    - ``num_images``: the number of samples; it numbers the images of successive batches for mAP.
    """

    labels: np.ndarray | None = None
    gt_boxes: np.ndarray | None = None
    gt_labels: np.ndarray | None = None
    gt_image: np.ndarray | None = None
    gt_difficult: np.ndarray | None = None
    num_images: int | None = None

    def __post_init__(self) -> None:
        # frozen: the checked, normalized arrays are set once here
        for key, value in _checked_fields(self).items():
            object.__setattr__(self, key, value)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], num_images: int | None = None) -> Annotations:
        """The annotations among a validation .npz's arrays (the other arrays are model inputs).

        ``num_images`` defaults to the number of labels, else to the length of the first input array
        (N samples are stored as one ``[N, ...]`` array per input)."""
        given = {k: arrays[k] for k in ANNOTATION_KEYS if k in arrays}
        if num_images is None and "labels" not in given:
            num_images = next((len(v) for k, v in arrays.items() if k not in ANNOTATION_KEYS and np.ndim(v)), None)
        return cls(**given, num_images=num_images)

    @property
    def has_boxes(self) -> bool:
        return self.gt_boxes is not None

    def select(self, indices: Sequence[int] | np.ndarray) -> Annotations:
        """The annotations of samples ``indices`` (distinct), renumbered 0, 1.. in that order: a subset run."""
        idx = np.asarray(indices, np.int64).reshape(-1)
        labels = None if self.labels is None else self.labels[idx]
        if not self.has_boxes:
            return Annotations(labels=labels, num_images=len(idx))
        new_id = np.full(max(int(idx.max(initial=-1)), int(self.gt_image.max(initial=-1))) + 1, -1)
        new_id[idx] = np.arange(len(idx))
        keep = new_id[self.gt_image] >= 0
        return Annotations(labels, self.gt_boxes[keep], self.gt_labels[keep], new_id[self.gt_image[keep]],
                           self.gt_difficult[keep], len(idx))


def _checked_fields(a: Annotations) -> dict:
    """Arrays as 1-D int / [T, 4] float / bool, consistent lengths; InputError saying what is wrong."""
    out: dict = {}
    if a.labels is not None:
        out["labels"] = _integers("labels", a.labels)
        if a.num_images is None:
            out["num_images"] = len(out["labels"])
    present = [k for k in (*_GT_REQUIRED, "gt_difficult") if getattr(a, k) is not None]
    if not present:
        return out
    missing = [k for k in _GT_REQUIRED if k not in present]
    if missing:
        raise InputError(f"detection ground truth needs gt_boxes [T,4], gt_labels [T] and gt_image [T]; "
                         f"missing: {', '.join(missing)}")
    boxes = np.asarray(a.gt_boxes, np.float64)
    boxes = boxes.reshape(0, 4) if boxes.size == 0 else boxes
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise InputError(f"gt_boxes must be [T, 4] (x_min, y_min, x_max, y_max), not {list(boxes.shape)}")
    out["gt_boxes"] = boxes
    out["gt_labels"] = _integers("gt_labels", a.gt_labels)
    out["gt_image"] = _integers("gt_image", a.gt_image)
    difficult = np.zeros(len(boxes), bool) if a.gt_difficult is None else np.asarray(a.gt_difficult).reshape(-1)
    out["gt_difficult"] = difficult.astype(bool)
    for key in ("gt_labels", "gt_image", "gt_difficult"):
        if len(out[key]) != len(boxes):
            raise InputError(f"{key} has {len(out[key])} entries for {len(boxes)} gt_boxes")
    images = out.get("num_images", a.num_images)
    bad = (out["gt_image"] < 0) | (out["gt_image"] >= (images if images is not None else np.inf))
    if bad.any():
        last = images - 1 if images else "?"
        raise InputError(f"gt_image {out['gt_image'][bad][0]} is not a sample index (0..{last})")
    return out


def _integers(key: str, values: np.ndarray) -> np.ndarray:
    """1-D int64; floats are accepted when they hold whole numbers (labels saved as float)."""
    arr = np.asarray(values).reshape(-1)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    raise InputError(f"'{key}' must hold integer ids, not {arr.dtype} values")


# --- metric objects ------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Metric:
    """A metric of a model's per-batch outputs; :func:`get_metric` builds one from a name.

    ``needs``: what it measures against: ``labels``, ``boxes`` (``gt_*``) or ``reference`` (the FP32
    outputs); None for a callable metric, which checks its own inputs."""

    name: str
    higher_is_better: bool = True
    needs: Needs | None = None
    output: str | None = None  # which model output to read; None: the first

    def check(self, annotations: Annotations | None, reference: Outputs | None = None) -> None:
        """Raise :class:`InputError` (one line: what to pass) when what the metric needs is missing."""
        if self.needs == "labels" and (annotations is None or annotations.labels is None):
            raise InputError(f"metric '{self.name}' needs class labels: add a 'labels' array "
                             "(one integer class id per sample) to the .npz")
        if self.needs == "boxes" and (annotations is None or not annotations.has_boxes):
            raise InputError(f"metric '{self.name}' needs detection ground truth: add gt_boxes [T,4], gt_labels [T] "
                             "and gt_image [T] (optionally gt_difficult [T]) to the .npz")
        if self.needs == "reference" and reference is None:
            raise InputError(f"metric '{self.name}' compares with the FP32 model: pass its outputs on the same "
                             "batches as reference")

    def compute(self, outputs: Outputs, annotations: Annotations | None = None,
                reference: Outputs | None = None) -> float:
        """The metric over all samples; ``higher_is_better`` says which way is better."""
        return float(np.mean(self._values(outputs, annotations, reference)))

    def per_sample(self, outputs: Outputs, annotations: Annotations | None = None,
                   reference: Outputs | None = None) -> np.ndarray | None:
        """One value per sample, higher = better for that sample; None when the metric does not
        decompose into samples (mAP, a callable)."""
        values = self._values(outputs, annotations, reference)
        return values if self.higher_is_better else -values

    def _values(self, outputs: Outputs, annotations: Annotations | None, reference: Outputs | None) -> np.ndarray:
        """Per-sample values whose mean is the metric (in the metric's own direction)."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class TopK(Metric):
    """Top-k accuracy of logits [N, C] (or [N, C, 1, 1]) against ``labels``."""

    k: int = 1
    needs: Needs | None = "labels"

    def _values(self, outputs, annotations, reference):
        self.check(annotations, reference)
        return topk_correct(_joined(outputs, self.output), annotations.labels, self.k).astype(np.float64)


@dataclass(frozen=True, kw_only=True)
class Cosine(Metric):
    """Cosine similarity to the FP32 outputs, each sample flattened."""

    needs: Needs | None = "reference"

    def _values(self, outputs, annotations, reference):
        self.check(annotations, reference)
        return cosine_similarity(*_paired(outputs, reference, self.output))


@dataclass(frozen=True, kw_only=True)
class NMSE(Metric):
    """|ref - out|^2 / |ref|^2 per sample, against the FP32 outputs; lower is better."""

    higher_is_better: bool = False
    needs: Needs | None = "reference"

    def _values(self, outputs, annotations, reference):
        self.check(annotations, reference)
        return nmse(*_paired(outputs, reference, self.output))


@dataclass(frozen=True, kw_only=True)
class DetectionMAP(Metric):
    """mAP of DetectionOutput results (see :func:`detections` for how rows and images are read).

    ``method``: ``voc11`` | ``all`` (both at IoU ``iou``) | ``coco`` (IoU 0.50..0.95)."""

    method: str = "voc11"
    iou: float = 0.5
    needs: Needs | None = "boxes"

    def compute(self, outputs, annotations=None, reference=None) -> float:
        aps = self.per_class(outputs, annotations)
        return float(np.mean(list(aps.values())))

    def per_sample(self, outputs, annotations=None, reference=None) -> None:
        return None  # AP ranks detections across images: it has no per-image share

    def per_class(self, outputs: Outputs, annotations: Annotations | None) -> dict[int, float]:
        """AP of each class that has a non-difficult ground-truth box."""
        self.check(annotations)
        dets = detections(_selected(outputs, self.output), annotations.num_images)
        return average_precisions(dets, annotations, self.method, self.iou)


@dataclass(frozen=True, kw_only=True)
class CallableMetric(Metric):
    """A Python callable ``fn(outputs, annotations) -> float`` as a metric (no per-sample values)."""

    fn: Callable[[Outputs, Annotations | None], float]

    def compute(self, outputs, annotations=None, reference=None) -> float:
        return float(self.fn(outputs, annotations))

    def per_sample(self, outputs, annotations=None, reference=None) -> None:
        return None


def default_metric(annotations: Annotations | None) -> str:
    """The metric a validation set calls for: top-1 with labels, mAP with boxes, else cosine to FP32."""
    if annotations is not None and annotations.labels is not None:
        return "top1"
    if annotations is not None and annotations.has_boxes:
        return "map"
    return "cosine"


def get_metric(metric: str | Metric | Callable[[Outputs, Annotations | None], float], **options) -> Metric:
    """A :class:`Metric` from a name (see the module's table), a Metric, or a callable.

    ``options``: ``output=NAME`` (the model output to read), ``iou=`` for ``map``/``map:all``;
    for a callable also ``name=`` and ``higher_is_better=``. An unknown name is an :class:`InputError`.
    """
    if isinstance(metric, Metric):
        return replace(metric, **options)
    if callable(metric):
        return CallableMetric(name=options.pop("name", getattr(metric, "__name__", "custom")), fn=metric, **options)
    text = str(metric).strip().lower()
    if m := re.fullmatch(r"top(\d+)|topk:(\d+)", text):
        k = int(m[1] or m[2])
        if k > 0:
            return TopK(name=f"top{k}", k=k, **options)
    if m := re.fullmatch(r"map(?::(voc11|all|coco))?", text):
        method = m[1] or "voc11"
        return DetectionMAP(name="map" if method == "voc11" else f"map:{method}", method=method, **options)
    if text == "cosine":
        return Cosine(name="cosine", **options)
    if text == "nmse":
        return NMSE(name="nmse", **options)
    raise InputError(f"unknown metric '{metric}': use one of {NAMES}")


# --- outputs --------------------------------------------------------------------------------------

def _selected(outputs: Outputs, name: str | None) -> list[np.ndarray]:
    """The chosen output (default: the first) of every batch."""
    if not outputs:
        raise InputError("no outputs to measure (zero batches)")
    key = next(iter(outputs[0])) if name is None else name
    if key not in outputs[0]:
        raise InputError(f"the model has no output '{key}' (outputs: {', '.join(outputs[0])})")
    return [np.asarray(o[key]) for o in outputs]


def _joined(outputs: Outputs, name: str | None) -> np.ndarray:
    """The chosen output of all batches, joined along the batch axis: one row per sample."""
    return np.concatenate([np.atleast_1d(a) for a in _selected(outputs, name)], axis=0)


def _paired(outputs: Outputs, reference: Outputs, name: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Outputs and reference as [N, -1] float64, checked to be the same shape."""
    out, ref = _joined(outputs, name), _joined(reference, name)
    if out.shape != ref.shape:
        raise InputError(f"outputs {list(out.shape)} and reference {list(ref.shape)} differ in shape: "
                         "compare the same batches of the same model")
    return out.reshape(len(out), -1).astype(np.float64), ref.reshape(len(ref), -1).astype(np.float64)


# --- classification and output error --------------------------------------------------------------

def topk_correct(logits: np.ndarray, labels: np.ndarray, k: int = 1) -> np.ndarray:
    """Per sample: is the label among the ``k`` best scores? Ties go to the lower class index (as
    ``argmax`` does), so top-1 is ``argmax == label``; a NaN score never counts as correct."""
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(logits).reshape(len(logits), -1)
    if len(scores) != len(labels):
        raise InputError(f"{len(labels)} labels for {len(scores)} outputs")
    if len(labels) and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise InputError(f"labels span {labels.min()}..{labels.max()}, but the output has {scores.shape[1]} classes")
    own = np.take_along_axis(scores, labels[:, None], axis=1)
    ahead = (scores > own) | ((scores == own) & (np.arange(scores.shape[1]) < labels[:, None]))
    return (ahead.sum(axis=1) < k) & ~np.isnan(own[:, 0])


def cosine_similarity(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Row-wise cosine of [N, D] arrays; two zero rows count as 1, one zero row as 0."""
    norms = np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1)
    dot = np.einsum("nd,nd->n", out, ref)
    both_zero = ~out.any(axis=1) & ~ref.any(axis=1)
    return np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), both_zero.astype(np.float64))


def nmse(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Row-wise |ref - out|^2 / |ref|^2 of [N, D] arrays; a zero reference row gives 0 if matched, else inf."""
    err = np.einsum("nd,nd->n", ref - out, ref - out)
    power = np.einsum("nd,nd->n", ref, ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(power > 0, err / power, np.where(err > 0, np.inf, 0.0))


# --- detection ------------------------------------------------------------------------------------

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
    match it). ``coco``: pycocotools' rules at IoU 0.50:0.05:0.95 (the best *unclaimed* box, at most
    100 detections per image and class), difficult boxes as in VOC; the AP is averaged over thresholds.
    """
    if method not in ("voc11", "all", "coco"):
        raise InputError(f"unknown AP method '{method}': voc11, all or coco")
    classes = np.unique(truth.gt_labels[~truth.gt_difficult])
    if not classes.size:
        raise InputError("mAP needs at least one ground-truth box that is not difficult")
    dets = dets[np.argsort(-dets[:, 2], kind="stable")]  # from here on, index order = confidence order
    dets = dets[np.isin(np.rint(dets[:, 1]).astype(np.int64), classes)]
    det_key, gt_key = _group_keys(dets, truth)
    if method == "coco":
        keep = _rank_in_group(det_key) < COCO_MAX_DETS
        dets, det_key = dets[keep], det_key[keep]
    pair_det, pair_gt, slot = _pairs(det_key, gt_key)
    overlap = box_iou(dets[pair_det, 3:7], truth.gt_boxes[pair_gt])
    if method == "coco":
        tp, counted = _match_coco(overlap, pair_det, pair_gt, slot, det_key, truth.gt_difficult)
    else:
        tp, counted = _match_voc(overlap, pair_det, pair_gt, len(dets), truth.gt_difficult, iou)
    ap = coco_ap if method == "coco" else voc11_ap if method == "voc11" else all_point_ap
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


def _match_coco(overlap, pair_det, pair_gt, slot, det_key, ignore) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' greedy matching at IoU 0.50..0.95 at once: ([T, D] true positive, [T, D] counted).

    In confidence order, a detection claims the unclaimed box with the highest IoU >= t (the later box
    on ties). Only when no ordinary box is left does it fall back to a difficult one: it is then ignored,
    and the difficult box stays unclaimed (VOC's rule: any number of detections may match it).
    Claims depend on earlier claims only within an (image, class) group, so round r matches the r-th
    candidate detection of every group at once."""
    t = np.minimum(COCO_IOUS, 1 - 1e-10)
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
