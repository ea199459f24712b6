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
``map:coco50``      COCO AP@0.5: the same matching and 101-point AP at IoU 0.5 only.
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
from irtool.metrics.annotations import ANNOTATION_KEYS, Annotations
from irtool.metrics.detection import (COCO_IOUS, COCO_MAX_DETS, all_point_ap, average_precisions, box_iou, coco_ap,
                                      detections, voc11_ap)

NAMES = "top1, top5, topk:K, map, map:voc11, map:all, map:coco, map:coco50, cosine, nmse"
Needs = Literal["labels", "boxes", "reference"]
Outputs = Sequence[Mapping[str, np.ndarray]]


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

    ``method``: ``voc11`` | ``all`` (both at IoU ``iou``) | ``coco`` (IoU 0.50..0.95) | ``coco50``."""

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
    if m := re.fullmatch(r"map(?::(voc11|all|coco|coco50))?", text):
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


__all__ = ["ANNOTATION_KEYS", "COCO_IOUS", "COCO_MAX_DETS", "Annotations", "Metric", "all_point_ap", "average_precisions",
           "box_iou", "coco_ap", "cosine_similarity", "default_metric", "detections", "get_metric", "nmse",
           "topk_correct", "voc11_ap"]
