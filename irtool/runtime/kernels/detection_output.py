"""DetectionOutput (opset1, opset8), the last layer of SSD heads.

It runs at every inference: its attributes are checked and converted once at load time, numpy takes
the exponentials of the size logits, and one numba kernel, ``_detect_jit`` (detection_jit.py), does
the rest (candidates, decoding of those boxes only, NMS, keep_top_k, rows); ``detect`` is its numpy
reference. PriorBox and PriorBoxClustered, which make its priors, are in priors.py.

OpenVINO's CPU plugin is the oracle; the semantics kept here are its own:

DetectionOutput
- inputs: box logits [N, P*L*4] (L = 1 with ``share_location``, else one box per class),
  confidences [N, P*C], priors [1 or N, 2 (1 with ``variance_encoded_in_target``), P*4]; unnormalized
  priors take 5 numbers, an image id first, and end at the first id -1; their coordinates are
  divided by ``input_width``/``input_height``. Variances are read 4 per prior from the second row,
  also when priors take 5 numbers. The 5-input form adds ARM confidences [N, P*2] and ARM box logits.
- ARM: a prior whose objectness (ARM confidence 1) is below ``objectness_score`` gets confidence 1
  for the background and 0 for every other class; boxes are decoded twice, from the priors with the
  ARM logits and then from those boxes with the box logits (normalized again when unnormalized).
- Caffe style: per class but the background, priors with confidence > threshold, the ``top_k`` best
  (ties: lower prior first), then greedy NMS: a box goes when its IoU with a kept one is > nms_threshold.
- ``decrease_label_id`` (MXNet style): per prior the best class but 0 with confidence >= threshold
  (first on ties), the ``top_k`` best of the image (ties: lower class * P + prior), NMS per class;
  labels are class - 1.
- ``keep_top_k``: an image with more detections keeps the best (ties: lower prior first, then lower
  class; OpenVINO leaves same-score same-prior ties across classes in an unspecified order).
- output [1, 1, R, 7] rows ``[image, label, conf, xmin, ymin, xmax, ymax]``, image by image, class by
  class, best first, clipped to [0, 1] with ``clip_after_nms``; then zeros, the first of these rows
  with image -1. R = N*keep_top_k, else N*top_k*C when keep_top_k is -1, else N*P*C. (With
  keep_top_k 0 and top_k > 0 OpenVINO zeroes only the first N*top_k*C rows and leaves the rest of
  its buffer as it was; here they are 0.)
- IoU as OpenVINO computes it in float32: 0 for boxes apart or only touching, areas from the decoded
  corners. CORNER_SIZE, which OpenVINO refuses, is refused here too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from irtool.ir.graph import Layer
from irtool.runtime.kernels.detection_jit import _detect_jit, _size_logits
from irtool.runtime.kernels.priors import _error
from irtool.runtime.registry import keyword_defaults, kernel, specializer

F32 = np.float32


# ------------------------------------------------------------------------------------------ DetectionOutput
_CODE_TYPES = ("caffe.PriorBoxParameter.CENTER_SIZE", "caffe.PriorBoxParameter.CORNER")


@dataclass(frozen=True)
class DetectionAttrs:
    """DetectionOutput's attributes, float ones as the float32 OpenVINO holds."""

    keep_top_k: int
    nms_threshold: np.float32
    background_label_id: int = 0
    top_k: int = -1
    center_size: bool = False  # code_type CENTER_SIZE, else CORNER
    share_location: bool = True
    variance_encoded_in_target: bool = False
    confidence_threshold: np.float32 = F32(0)
    clip_after_nms: bool = False
    clip_before_nms: bool = False
    decrease_label_id: bool = False
    normalized: bool = False
    input_height: int = 1
    input_width: int = 1
    objectness_score: np.float32 = F32(0)


class _Layout(NamedTuple):
    N: int  # images
    P: int  # priors
    C: int  # classes
    L: int  # boxes per prior: 1 with share_location, else C
    size: int  # numbers per prior: 4, or 5 (an image id first) when unnormalized
    R: int  # output rows


def _layout(loc: np.ndarray, conf: np.ndarray, priors: np.ndarray, arm_conf, arm_loc, a: DetectionAttrs) -> _Layout:
    """The sizes DetectionOutput's inputs imply; ValueError when they do not fit each other."""
    N = conf.shape[0]
    size = 4 if a.normalized else 5
    rows = 1 if a.variance_encoded_in_target else 2
    if priors.ndim != 3 or priors.shape[0] not in (1, N) or priors.shape[1] != rows or priors.shape[2] % size:
        raise ValueError(f"priors have shape {list(priors.shape)}, expected [1 or {N}, {rows}, P*{size}]")
    P = priors.shape[2] // size
    C = conf.shape[1] // P if conf.ndim == 2 and P else 0
    L = 1 if a.share_location else C
    if C == 0 or conf.shape[1] != P * C or loc.shape != (N, P * L * 4):
        raise ValueError(f"box logits {list(loc.shape)} and confidences {list(conf.shape)} do not match "
                         f"{P} priors")
    if arm_conf is not None and (np.shape(arm_conf) != (N, P * 2) or np.shape(arm_loc) != loc.shape):
        raise ValueError(f"ARM inputs {list(np.shape(arm_conf))}, {list(np.shape(arm_loc))} do not match "
                         f"{P} priors and box logits {list(loc.shape)}")
    k = a.keep_top_k
    R = N * k if k > 0 else N * a.top_k * C if k == -1 and a.top_k > 0 else N * P * C
    return _Layout(N, P, C, L, size, R)


# ------------------------------------------------------------------------------------------ numpy reference
def nms_ref(boxes: np.ndarray, sizes: np.ndarray, idx: np.ndarray, group: np.ndarray,
            threshold: np.float32) -> np.ndarray:
    """Greedy NMS over candidates ``idx`` (rows of ``boxes``), best first, each run of equal ``group``
    (a class) on its own: which candidates survive."""
    keep = np.zeros(idx.size, bool)
    kept: list[int] = []
    for i, b in enumerate(idx):
        if i and group[i] != group[i - 1]:
            kept = []
        k = np.array(kept, np.int64)
        A, B = boxes[b], boxes[k]
        apart = (B[:, 0] > A[2]) | (B[:, 2] < A[0]) | (B[:, 1] > A[3]) | (B[:, 3] < A[1])
        w = np.minimum(A[2], B[:, 2]) - np.maximum(A[0], B[:, 0])
        h = np.minimum(A[3], B[:, 3]) - np.maximum(A[1], B[:, 1])
        inter = w * h
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(apart | (w <= 0) | (h <= 0), F32(0), inter / (sizes[b] + sizes[k] - inter))
        if not np.any(iou > threshold):
            kept.append(int(b))
            keep[i] = True
    return keep


def _decode(prior: np.ndarray, loc: np.ndarray, var: np.ndarray | None, a: DetectionAttrs) -> np.ndarray:
    """Boxes from priors [.., P, 4] and logits [L, P, 4] in OpenVINO's float32 order."""
    px0, py0, px1, py1 = (prior[..., i] for i in range(4))
    if not a.normalized:
        px0, px1 = px0 / F32(a.input_width), px1 / F32(a.input_width)
        py0, py1 = py0 / F32(a.input_height), py1 / F32(a.input_height)
    l0, l1, l2, l3 = (loc[..., i] for i in range(4))
    if var is not None:  # scale each logit by its prior's variance
        l0, l1, l2, l3 = var[:, 0] * l0, var[:, 1] * l1, var[:, 2] * l2, var[:, 3] * l3
    if a.center_size:
        pw, ph = px1 - px0, py1 - py0
        cx, cy = l0 * pw + (px0 + px1) / F32(2), l1 * ph + (py0 + py1) / F32(2)
        w, h = np.exp(l2) * pw, np.exp(l3) * ph
        box = np.stack([cx - w / F32(2), cy - h / F32(2), cx + w / F32(2), cy + h / F32(2)], axis=-1)
    else:
        box = np.stack([px0 + l0, py0 + l1, px1 + l2, py1 + l3], axis=-1)
    return np.clip(box, F32(0), F32(1)) if a.clip_before_nms else box


def _best_k(score: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """Per row, the ``k`` best masked entries (ties: lower column first)."""
    s = np.where(mask, score, F32(-np.inf))
    kth = -np.partition(-s, k - 1, axis=1)[:, k - 1:k]
    above = s > kth
    tied = mask & (s == kth)
    return above | (tied & (np.cumsum(tied, axis=1) <= k - above.sum(axis=1, keepdims=True)))


def _candidates_caffe(conf: np.ndarray, n_priors: int, a: DetectionAttrs) -> tuple[np.ndarray, np.ndarray]:
    """(class, prior) per class but the background: confidence > threshold, top_k best, best first."""
    v = conf[:, :n_priors]
    mask = v > a.confidence_threshold
    if 0 <= a.background_label_id < len(conf):
        mask[a.background_label_id] = False
    if a.top_k == 0:
        mask[:] = False
    elif 0 < a.top_k < n_priors:
        mask &= _best_k(v, mask, a.top_k)
    cls, pr = np.nonzero(mask)
    order = np.lexsort((pr, -v[cls, pr], cls))
    return cls[order], pr[order]


def _candidates_mx(conf: np.ndarray, n_priors: int, a: DetectionAttrs) -> tuple[np.ndarray, np.ndarray]:
    """(class, prior): each prior's best class but 0, the image's top_k best, grouped by class."""
    v = conf[1:, :n_priors]
    if v.size == 0:  # no class but 0, or no prior
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ok = (v >= a.confidence_threshold) & (v > -1)  # OpenVINO starts the search at -1
    pr = np.nonzero(ok.any(axis=0))[0]
    cls = np.where(ok, v, F32(-np.inf)).argmax(axis=0)[pr] + 1  # the first best
    order = np.lexsort((cls * conf.shape[1] + pr, -conf[cls, pr]))
    if a.top_k >= 0:
        order = order[:a.top_k]
    cls, pr = cls[order], pr[order]
    group = np.argsort(cls, kind="stable")
    return cls[group], pr[group]


def _keep_top_k(cls: np.ndarray, pr: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best detections of an image, back in class order (best first within a class)."""
    best = np.lexsort((cls, pr, -score))[:k]
    return best[np.argsort(cls[best], kind="stable")]


def _image_detections(loc, conf, prior, var, n_priors, arm_conf, arm_loc, a: DetectionAttrs) -> np.ndarray:
    """The detections of one image as rows [label, conf, xmin, ymin, xmax, ymax]."""
    C, P = conf.shape
    if arm_conf is not None:
        weak = arm_conf.reshape(P, 2)[:, 1] < a.objectness_score
        conf[:, weak] = F32(0)
        if 0 <= a.background_label_id < C:
            conf[a.background_label_id, weak] = F32(1)
        prior = _decode(prior, arm_loc, var, a)  # the ARM boxes are the priors of the final ones
    boxes = _decode(prior, loc, var, a)
    boxes = np.broadcast_to(boxes, loc.shape).reshape(-1, 4)
    sizes = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    cls, pr = (_candidates_mx if a.decrease_label_id else _candidates_caffe)(conf, n_priors, a)
    box = pr if a.share_location else cls * P + pr
    keep = nms_ref(boxes, sizes, box, cls, a.nms_threshold)
    cls, pr, box = cls[keep], pr[keep], box[keep]
    score = conf[cls, pr]
    if -1 < a.keep_top_k < len(cls):
        best = _keep_top_k(cls, pr, score, a.keep_top_k)
        cls, box, score = cls[best], box[best], score[best]
    out = boxes[box]
    if a.clip_after_nms:
        out = np.clip(out, F32(0), F32(1))
    label = cls - 1 if a.decrease_label_id else cls
    return np.column_stack([label.astype(F32), score, out]).astype(F32)


def _per_class(logits: np.ndarray, P: int, L: int) -> np.ndarray:
    """One image's box logits [P * L * 4] as [L, P, 4]."""
    return np.asarray(logits, F32).reshape(P, L, 4).transpose(1, 0, 2)


def detect(loc, conf, priors, arm_conf=None, arm_loc=None, *, attrs: DetectionAttrs) -> np.ndarray:
    """DetectionOutput in numpy: [1, 1, R, 7] f32 (see the module docstring); the reference of
    ``detect_jit``."""
    a = attrs
    loc, conf, priors = (np.asarray(v, F32) for v in (loc, conf, priors))
    N, P, C, L, size, R = _layout(loc, conf, priors, arm_conf, arm_loc, a)
    dets = []
    for n in range(N):  # priors past an image's end may decode to inf: nothing reads them
        pn = priors[n if priors.shape[0] > 1 else 0]
        coords = pn[0].reshape(P, size)
        ends = np.nonzero(coords[:, 0] == -1)[0] if not a.normalized else []  # image id -1 ends the priors
        n_priors = int(ends[0]) if len(ends) else P
        var = None if a.variance_encoded_in_target else pn[1][:P * 4].reshape(P, 4)
        arm = (None, None) if arm_conf is None else (np.asarray(arm_conf[n], F32), _per_class(arm_loc[n], P, L))
        with np.errstate(over="ignore", invalid="ignore"):
            d = _image_detections(_per_class(loc[n], P, L), conf[n].reshape(P, C).T.copy(), coords[:, size - 4:],
                                  var, n_priors, *arm, a)
        dets.append(np.column_stack([np.full(len(d), n, F32), d]))
    out = np.zeros((R, 7), F32)
    found = np.concatenate(dets)[:R]
    out[:len(found)] = found
    if len(found) < R:
        out[len(found), 0] = -1
    return out.reshape(1, 1, R, 7)


# ------------------------------------------------------------------------------------------ numba
# ``_detect_jit`` (detection_jit.py) does an image's work after the exponentials; these prepare its inputs.
_NONE2, _NONE4 = np.empty((0, 0), F32), np.empty((0, 0, 0, 0), F32)  # the arrays a layer lacks


def _exps(logits: np.ndarray, priors: np.ndarray, lay: _Layout, a: DetectionAttrs) -> np.ndarray:
    """exp(variance * size logit) [N, P, L, 2] of CENTER_SIZE: numpy's exp of a contiguous array, as
    the reference takes it (numpy's float32 exp gives each value the same result however it is laid out)."""
    if not a.center_size:
        return _NONE4
    t = np.empty((lay.N, lay.P, lay.L, 2), F32)
    if _size_logits(logits, priors, a.variance_encoded_in_target, lay.P, lay.L, t):
        with np.errstate(over="ignore"):  # priors past an image's end may decode to inf
            return np.exp(t)
    return np.exp(t)


def _jit_params(a: DetectionAttrs) -> tuple[np.ndarray, np.ndarray]:
    """The attributes as ``_detect_jit`` takes them."""
    ip = np.array([a.keep_top_k, a.top_k, a.background_label_id, a.variance_encoded_in_target, a.normalized,
                   a.clip_before_nms, a.clip_after_nms, a.decrease_label_id, a.center_size], np.int64)
    fp = np.array([a.confidence_threshold, a.nms_threshold, a.objectness_score, a.input_width, a.input_height], F32)
    return ip, fp


def detect_jit(loc, conf, priors, arm_conf=None, arm_loc=None, *, attrs: DetectionAttrs,
               params: tuple[np.ndarray, np.ndarray] | None = None, layouts: dict | None = None) -> np.ndarray:
    """DetectionOutput through ``_detect_jit``: what ``detect`` computes, bit for bit. ``params``
    (``_jit_params(attrs)``) and ``layouts`` (input shapes -> checked ``_Layout``) let a caller that
    runs often do that work once."""
    a = attrs
    loc, conf, priors = (np.ascontiguousarray(v, F32) for v in (loc, conf, priors))
    if arm_conf is not None:
        arm_conf, arm_loc = np.ascontiguousarray(arm_conf, F32), np.ascontiguousarray(arm_loc, F32)
    shapes = (loc.shape, conf.shape, priors.shape, None if arm_conf is None else (arm_conf.shape, arm_loc.shape))
    lay = layouts.get(shapes) if layouts is not None else None
    if lay is None:
        lay = _layout(loc, conf, priors, arm_conf, arm_loc, a)
        if layouts is not None:
            layouts[shapes] = lay
    if lay.P * lay.C >= 1 << 31:  # beyond the 31 index bits of the sort keys
        return detect(loc, conf, priors, arm_conf, arm_loc, attrs=a)
    exps = _exps(loc, priors, lay, a)
    arm = arm_conf is not None
    arm_exps = _exps(arm_loc, priors, lay, a) if arm else _NONE4
    if not arm:
        arm_conf = arm_loc = _NONE2
    out = np.zeros((lay.R, 7), F32)
    _detect_jit(loc, conf, priors, exps, arm, arm_conf, arm_loc, arm_exps, lay.C, lay.L, lay.size,
                *(params or _jit_params(a)), out)
    return out.reshape(1, 1, lay.R, 7)


# ------------------------------------------------------------------------------------------ kernel
def _detection_attrs(layer: Layer | None, *, keep_top_k, nms_threshold, background_label_id, top_k, code_type,
                     share_location, variance_encoded_in_target, confidence_threshold, clip_after_nms,
                     clip_before_nms, decrease_label_id, normalized, input_height, input_width,
                     objectness_score) -> DetectionAttrs:
    """The checked attributes; IRFormatError naming the layer for those OpenVINO refuses."""
    if code_type.lower() not in (c.lower() for c in _CODE_TYPES):
        raise _error(layer, f"code_type '{code_type}' is not one of {', '.join(_CODE_TYPES)} "
                            "(OpenVINO supports no other)")
    if not keep_top_k:
        raise _error(layer, "keep_top_k is empty")
    if decrease_label_id and background_label_id != 0:
        raise _error(layer, "decrease_label_id needs background_label_id 0")
    return DetectionAttrs(
        keep_top_k=keep_top_k[0], nms_threshold=F32(nms_threshold), background_label_id=background_label_id,
        top_k=top_k, center_size=code_type.lower() == _CODE_TYPES[0].lower(), share_location=share_location,
        variance_encoded_in_target=variance_encoded_in_target, confidence_threshold=F32(confidence_threshold),
        clip_after_nms=clip_after_nms, clip_before_nms=clip_before_nms, decrease_label_id=decrease_label_id,
        normalized=normalized, input_height=input_height, input_width=input_width,
        objectness_score=F32(objectness_score))


def _check_classes(num_classes: int, conf, priors, normalized: bool, layer: Layer | None) -> None:
    P = np.shape(priors)[-1] // (4 if normalized else 5)
    if num_classes > 0 and np.shape(conf)[-1] != P * num_classes:  # opset1 states it; opset8 infers it
        raise _error(layer, f"num_classes={num_classes} does not match confidences {list(np.shape(conf))} "
                            f"for {P} priors")


@kernel("DetectionOutput", versions=("opset1", "opset8"), impl="jit")
def detection_output(loc, conf, priors, arm_conf=None, arm_loc=None, *, keep_top_k: list[int], nms_threshold: float,
                     num_classes: int = -1, background_label_id: int = 0, top_k: int = -1,
                     code_type: str = "caffe.PriorBoxParameter.CORNER", share_location: bool = True,
                     variance_encoded_in_target: bool = False, confidence_threshold: float = 0.0,
                     clip_after_nms: bool = False, clip_before_nms: bool = False, decrease_label_id: bool = False,
                     normalized: bool = False, input_height: int = 1, input_width: int = 1,
                     objectness_score: float = 0.0, layer: Layer | None = None):
    attrs = _detection_attrs(
        layer, keep_top_k=keep_top_k, nms_threshold=nms_threshold, background_label_id=background_label_id,
        top_k=top_k, code_type=code_type, share_location=share_location,
        variance_encoded_in_target=variance_encoded_in_target, confidence_threshold=confidence_threshold,
        clip_after_nms=clip_after_nms, clip_before_nms=clip_before_nms, decrease_label_id=decrease_label_id,
        normalized=normalized, input_height=input_height, input_width=input_width, objectness_score=objectness_score)
    _check_classes(num_classes, conf, priors, normalized, layer)
    return detect_jit(loc, conf, priors, arm_conf, arm_loc, attrs=attrs)


@specializer(detection_output)
def _prepare_detection_output(consts, **kwargs):
    """The attributes checked and converted once (a bad one fails the load, naming the layer)."""
    kwargs = keyword_defaults(detection_output) | kwargs
    num_classes, layer = kwargs.pop("num_classes"), kwargs.pop("layer")
    attrs = _detection_attrs(layer, **kwargs)
    params, layouts, checked = _jit_params(attrs), {}, set()

    def run(loc, conf, priors, arm_conf=None, arm_loc=None):
        key = (np.shape(conf), np.shape(priors))
        if key not in checked:
            _check_classes(num_classes, conf, priors, attrs.normalized, layer)
            checked.add(key)
        return detect_jit(loc, conf, priors, arm_conf, arm_loc, attrs=attrs, params=params, layouts=layouts)
    return run
