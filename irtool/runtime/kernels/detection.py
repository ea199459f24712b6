"""Detection heads: PriorBox (opset1, opset8), PriorBoxClustered (opset1), DetectionOutput (opset1, opset8).

PriorBox and PriorBoxClustered read nothing but two shapes, so in a model (ShapeOf -> StridedSlice ->
PriorBox) they fold at load time; plain numpy is their kernel and their reference. (Where they cannot
fold, in a model reshaped at load time, they compute their boxes once per pair of shapes.) DetectionOutput
runs at every inference: its attributes are checked and converted once at load time, numpy takes the
exponentials of the size logits, and one numba kernel, ``_detect_jit``, does the rest (candidates,
decoding of those boxes only, NMS, keep_top_k, rows); ``detect`` is its numpy reference.

OpenVINO's CPU plugin is the oracle; the semantics kept here are its own:

PriorBox
- aspect ratios: 1, then each given ratio not within 1e-6 of one already listed, followed by its
  inverse with ``flip`` (the inverse is not checked for duplicates).
- the boxes of one cell, in order: for each ``fixed_size``, ``density^2`` shifted boxes per ratio
  (``fixed_ratio`` when given, else the square one and then the aspect ratios), each clipped to
  [0, 1]; then for each ``min_size`` the square box, the ``sqrt(min * max)`` box and, with
  ``scale_all_sizes`` (without it: after the last ``min_size`` only), the aspect-ratio boxes of that
  size. opset8's ``min_max_aspect_ratios_order=false`` puts the ratio boxes before the max box.
- without ``scale_all_sizes`` (MXNet) min sizes and step are fractions of the image height
  (``step=-1``: image height / map height); max sizes stay in pixels.
- the output holds the number of boxes per cell that OpenVINO's shape inference counts
  (``number_of_priors``). Its loops make more with ``max_size`` but no ``scale_all_sizes``, or
  ``min_size`` beside ``fixed_size``: the boxes row is the first part of that longer stream (the
  variances overwrite the rest), as in OpenVINO. Attributes that make fewer boxes are refused.
- fixed-size box centers shift by ``int(fixed_size) // 2`` as OpenVINO's constant folding does (the
  way real models meet PriorBox); the CPU plugin's run-time node shifts by ``int(fixed_size) / 2``,
  half a pixel apart for odd sizes.
- float32 in OpenVINO's order of operations: centers ``(w + 0.5) * (IW / W)`` when step is 0, else
  ``(offset + w) * step``; coordinates times ``1 / IW``. Variances: 1 value, 4, or none (0.1).

PriorBoxClustered
- ``step_w``/``step_h`` win over ``step``; when both end up 0, the steps are image size / map size;
  centers ``(w + offset) * step_w``, coordinates divided by the image size, clipped with ``clip``.

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

import math
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from irtool.errors import IRFormatError
from irtool.ir.graph import Layer
from irtool.runtime.registry import keyword_defaults, kernel, specializer

F32 = np.float32


def _error(layer: Layer | None, message: str) -> IRFormatError:
    """A bad attribute or shape, naming the layer (kernels called directly have none)."""
    where = f"layer '{layer.name}' ({layer.type}): " if layer is not None else ""
    return IRFormatError(where + message)


def _two_ints(values, what: str, layer: Layer | None) -> tuple[int, int]:
    v = np.asarray(values).reshape(-1)
    if v.size != 2 or v.dtype.kind not in "iu":
        raise _error(layer, f"{what} must be 2 integers (height, width), got {v.tolist()}")
    return int(v[0]), int(v[1])


def _variances(variance: list[float], layer: Layer | None) -> np.ndarray:
    if len(variance) not in (0, 1, 4) or any(v < 0 for v in variance):
        raise _error(layer, f"variance must be 1 or 4 values >= 0, got {list(variance)}")
    return np.array(variance or [0.1], F32)


# ------------------------------------------------------------------------------------------ PriorBox
def _aspect_ratios(aspect_ratio: list[float], flip: bool, layer: Layer | None) -> list[np.float32]:
    ratios = [F32(1)]
    for a in map(F32, aspect_ratio):
        if abs(a) < np.finfo(F32).eps:
            raise _error(layer, "aspect_ratio has a 0")
        if any(abs(a - r) < 1e-6 for r in ratios):
            continue
        ratios.append(a)
        if flip:
            ratios.append(F32(1) / a)
    return ratios


def _round6(x: float) -> float:
    """``std::round(x * 1e6) / 1e6``: halves away from zero."""
    y = x * 1e6
    return math.copysign(math.floor(abs(y) + 0.5), y) / 1e6


def number_of_priors(min_size, max_size, aspect_ratio, flip, scale_all_sizes, fixed_size, fixed_ratio,
                     density) -> int:
    """Boxes per cell as OpenVINO's shape inference counts them (ratios deduplicated at 1e-6)."""
    ratios = {F32(1)}
    for r in map(F32, aspect_ratio):
        ratios.add(F32(_round6(float(r))))
        if flip:
            ratios.add(F32(_round6(float(F32(1) / r))))
    n = len(ratios) * len(min_size) + len(max_size) if scale_all_sizes else len(ratios) + len(min_size) - 1
    if fixed_size:
        n = len(ratios) * len(fixed_size)
    for d in density:
        n += (len(fixed_ratio) if fixed_ratio else len(ratios)) * (int(d) ** 2 - 1)
    return n


class _Prior(NamedTuple):
    """One box of a cell: half sizes, and its center ``((center - a) + b) + dx`` (``dy`` for y),
    each term a float32 as OpenVINO computes it."""

    half_w: np.float32
    half_h: np.float32
    a: np.float32 = F32(0)
    b: np.float32 = F32(0)
    dx: np.float32 = F32(0)
    dy: np.float32 = F32(0)
    clip: bool = False  # fixed-size boxes are clipped to [0, 1] one by one


def _cell_priors(mins, max_size, ratios, scale_all_sizes, fixed_size, fixed_ratio, density, min_max_order,
                 layer) -> list[_Prior]:
    """The boxes of one cell, in OpenVINO's order."""
    priors: list[_Prior] = []
    for s, size in enumerate(map(F32, fixed_size)):
        if s >= len(density) or int(density[s]) < 1:
            raise _error(layer, f"fixed_size {float(size):g} needs a density >= 1 (density={list(density)})")
        d = int(density[s])
        shift = int(size / F32(d))
        a, b = F32(int(size) // 2), F32(shift) / F32(2)  # constant folding halves the truncated size in integers
        halves = [] if fixed_ratio else [(F32(int(size)) * F32(0.5),) * 2]
        for ar in map(F32, fixed_ratio or [r for r in ratios if abs(r - F32(1)) >= 1e-6]):
            halves.append((size * F32(0.5) * np.sqrt(ar), size * F32(0.5) / np.sqrt(ar)))
        priors += [_Prior(hw, hh, a, b, F32(c * shift), F32(r * shift), True)
                   for hw, hh in halves for r in range(d) for c in range(d)]
    for i, m in enumerate(mins):
        square = [_Prior(m * F32(0.5), m * F32(0.5))]
        big = [_Prior(*(np.sqrt(m * F32(max_size[i])) * F32(0.5),) * 2)] if i < len(max_size) else []
        shaped = []
        if scale_all_sizes or i == len(mins) - 1:  # MXNet: the ratios of the first size, after the last
            base = mins[i if scale_all_sizes else 0]
            shaped = [_Prior(base * F32(0.5) * np.sqrt(ar), base * F32(0.5) / np.sqrt(ar))
                      for ar in ratios if abs(ar - F32(1)) >= 1e-6]
        priors += square + (big + shaped if min_max_order else shaped + big)
    return priors


@kernel("PriorBox", versions=("opset1", "opset8"))
def prior_box(output_size, image_size, *, min_size: list[float] = (), max_size: list[float] = (),
              aspect_ratio: list[float] = (), flip: bool = False, clip: bool = False, step: float = 0.0,
              offset: float, variance: list[float] = (), scale_all_sizes: bool = True, fixed_size: list[float] = (),
              fixed_ratio: list[float] = (), density: list[float] = (), min_max_aspect_ratios_order: bool = True,
              layer: Layer | None = None):
    """PriorBox: [2, 4 * H * W * priors] f32, the boxes row then the variances row."""
    H, W = _two_ints(output_size, "the feature map size", layer)
    IH, IW = _two_ints(image_size, "the image size", layer)
    var = _variances(variance, layer)
    ratios = _aspect_ratios(aspect_ratio, flip, layer)
    step_, mins = F32(step), [F32(m) for m in min_size]
    if not scale_all_sizes:  # MXNet: sizes and step are fractions of the image height
        step_ = F32(IH) / F32(H) if step_ == -1 else step_ * F32(IH)
        mins = [m * F32(IH) for m in mins]
    cell = _cell_priors(mins, max_size, ratios, scale_all_sizes, fixed_size, fixed_ratio, density,
                        min_max_aspect_ratios_order, layer)
    count = number_of_priors(min_size, max_size, aspect_ratio, flip, scale_all_sizes, fixed_size, fixed_ratio,
                             density)
    if len(cell) < count:  # OpenVINO would leave boxes unwritten
        raise _error(layer, f"the attributes make {len(cell)} boxes per cell, OpenVINO's output shape "
                            f"{count}")
    if step_ == 0:
        cx = (np.arange(W, dtype=F32) + F32(0.5)) * (F32(IW) / F32(W))
        cy = (np.arange(H, dtype=F32) + F32(0.5)) * (F32(IH) / F32(H))
    else:
        cx = (F32(offset) + np.arange(W, dtype=F32)) * step_
        cy = (F32(offset) + np.arange(H, dtype=F32)) * step_
    hw, hh, a, b, dx, dy, own = np.array(cell, np.float64).reshape(-1, 7).T  # float32 values, exact in float64
    hw, hh, a, b, dx, dy, own = (*(v.astype(F32) for v in (hw, hh, a, b, dx, dy)), own != 0)
    px = ((cx[:, None] - a) + b) + dx  # [W, priors]: box centers
    py = ((cy[:, None] - a) + b) + dy  # [H, priors]
    iw, ih = F32(1) / F32(IW), F32(1) / F32(IH)
    x0, x1 = (px - hw) * iw, (px + hw) * iw
    y0, y1 = (py - hh) * ih, (py + hh) * ih
    x0, y0 = (np.where(own & ~(v > 0), F32(0), v) for v in (x0, y0))
    x1, y1 = (np.where(own & ~(v < 1), F32(1), v) for v in (x1, y1))
    boxes = np.stack(np.broadcast_arrays(x0[None], y0[:, None], x1[None], y1[:, None]), axis=-1).reshape(-1)
    boxes = boxes[:H * W * count * 4]  # more boxes than the shape holds: OpenVINO's variances overwrite the rest
    if clip:
        boxes = np.clip(boxes, F32(0), F32(1))
    return np.stack([boxes, np.resize(var, boxes.size)]).astype(F32)


@kernel("PriorBoxClustered", versions=("opset1",))
def prior_box_clustered(output_size, image_size, *, width: list[float], height: list[float], clip: bool = True,
                        step_w: float = 0.0, step_h: float = 0.0, step: float = 0.0, offset: float,
                        variance: list[float] = (), layer: Layer | None = None):
    """PriorBoxClustered: one box per (width, height) pair at every cell."""
    H, W = _two_ints(output_size, "the feature map size", layer)
    IH, IW = _two_ints(image_size, "the image size", layer)
    if len(width) != len(height):
        raise _error(layer, f"{len(width)} widths but {len(height)} heights")
    var = _variances(variance, layer)
    sw = F32(step if step_w == 0 else step_w)
    sh = F32(step if step_h == 0 else step_h)
    if sw == 0 and sh == 0:
        sw, sh = F32(IW) / F32(W), F32(IH) / F32(H)
    bw, bh = np.array(width, F32) / F32(2), np.array(height, F32) / F32(2)
    cx = (np.arange(W, dtype=F32) + F32(offset)) * sw
    cy = (np.arange(H, dtype=F32) + F32(offset)) * sh
    x0, x1 = (cx[:, None] - bw) / F32(IW), (cx[:, None] + bw) / F32(IW)  # [W, priors]
    y0, y1 = (cy[:, None] - bh) / F32(IH), (cy[:, None] + bh) / F32(IH)  # [H, priors]
    boxes = np.stack(np.broadcast_arrays(x0[None], y0[:, None], x1[None], y1[:, None]), axis=-1).reshape(-1)
    if clip:
        boxes = np.clip(boxes, F32(0), F32(1))
    return np.stack([boxes, np.resize(var, boxes.size)]).astype(F32)

def _once_per_shape(fn, attrs: dict):
    """``fn(output_size, image_size, **attrs)`` computed once per pair of input values, and shared
    (read-only, as the IR's constants are) by every inference after. PriorBox reads nothing but two
    shapes: a model reshaped at load time keeps its ShapeOf -> PriorBox subgraphs (the plugin cannot
    trust the IR's ShapeOf dims then), which would otherwise redo the same boxes at every inference."""
    done: dict[tuple, np.ndarray] = {}

    def run(output_size, image_size):
        a, b = np.asarray(output_size), np.asarray(image_size)
        key = (a.dtype.str, a.shape, a.tobytes(), b.dtype.str, b.shape, b.tobytes())
        boxes = done.get(key)
        if boxes is None:
            boxes = fn(a, b, **attrs)
            boxes.flags.writeable = False
            done[key] = boxes
        return boxes
    return run


@specializer(prior_box)
def _prepare_prior_box(consts, **attrs):
    return _once_per_shape(prior_box, attrs)


@specializer(prior_box_clustered)
def _prepare_prior_box_clustered(consts, **attrs):
    return _once_per_shape(prior_box_clustered, attrs)


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
# One kernel does an image's work after the exponentials: the candidates of each class (a sort of
# integer keys: the score's bits ordered best first, then the prior), the decoding of those boxes
# alone, greedy NMS, keep_top_k and the output rows. The exponentials of CENTER_SIZE stay numpy's
# (``_exps``): numpy's vectorized float32 exp and the libm one numba would call can differ in the
# last bit, and the reference's boxes come from numpy's.
_ZERO, _ONE, _TWO = F32(0), F32(1), F32(2)
_LOW31 = (1 << 31) - 1  # the key's index bits: prior, or class * P + prior


@numba.njit(cache=True, inline="always")
def _iou(boxes, sizes, a, b):  # pragma: no cover (jit)
    """OpenVINO's JaccardOverlap, float32."""
    if (boxes[b, 0] > boxes[a, 2] or boxes[b, 2] < boxes[a, 0] or boxes[b, 1] > boxes[a, 3]
            or boxes[b, 3] < boxes[a, 1]):
        return np.float32(0.0)
    w = min(boxes[a, 2], boxes[b, 2]) - max(boxes[a, 0], boxes[b, 0])
    h = min(boxes[a, 3], boxes[b, 3]) - max(boxes[a, 1], boxes[b, 1])
    if w <= 0 or h <= 0:
        return np.float32(0.0)
    inter = w * h
    return inter / (sizes[a] + sizes[b] - inter)


@numba.njit(cache=True)
def _best_first(bits, v):  # pragma: no cover (jit)
    """A 32-bit key of float32 score ``v`` (``bits`` its bit pattern, NaN excluded) that sorts
    higher scores first, -0.0 and 0.0 alike (numpy's sorts compare them equal)."""
    b = np.int64(bits) & 0xFFFFFFFF
    if v == 0:
        b = 0
    ascending = 0xFFFFFFFF - b if b >= 0x80000000 else b + 0x80000000
    return 0xFFFFFFFF - ascending


@numba.njit(cache=True)
def _select(a, k):  # pragma: no cover (jit)
    """Reorder distinct ``a`` (0 < k <= a.size) so that ``a[:k]`` holds its ``k`` smallest: quickselect
    (Hoare partitions, median-of-three pivots). np.partition does the same, but takes numba six
    seconds to compile."""
    t, lo, hi = k - 1, 0, a.size - 1
    while lo < hi:
        x, y, z = a[lo], a[(lo + hi) >> 1], a[hi]
        pivot = max(min(x, y), min(max(x, y), z))
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if t <= j:  # a[lo:j + 1] <= pivot <= a[i:hi + 1], and a[j + 1:i] == pivot
            hi = j
        elif t >= i:
            lo = i
        else:
            break


@numba.njit(cache=True)
def _smallest(keys, k):  # pragma: no cover (jit)
    """The ``k`` smallest of distinct ``keys`` in order (all of them when k < 0 or k >= their number);
    ``keys`` is scratch."""
    if k < 0 or k >= keys.size:
        return np.sort(keys)
    if k == 0:
        return np.empty(0, np.int64)
    _select(keys, k)
    return np.sort(keys[:k])


@numba.njit(cache=True)
def _clip01(v):  # pragma: no cover (jit)
    """np.clip(v, 0, 1): NaN and -0.0 stay as they are, as in numpy."""
    if v < 0:
        return _ZERO
    if v > 1:
        return _ONE
    return v


@numba.njit(cache=True)
def _decode_jit(x0, y0, x1, y1, loc, exps, priors, n, pi, p, l, L, center, venc, normalized, iw, ih,
                clip):  # pragma: no cover (jit)
    """``_decode`` of box ``l`` of prior ``p`` in image ``n`` from the prior corners given; ``exps``
    holds exp(variance * logit) of the size logits for CENTER_SIZE."""
    o = (p * L + l) * 4
    a0, a1, a2, a3 = loc[n, o], loc[n, o + 1], loc[n, o + 2], loc[n, o + 3]
    if not venc:
        a0, a1 = priors[pi, 1, 4 * p] * a0, priors[pi, 1, 4 * p + 1] * a1
        a2, a3 = priors[pi, 1, 4 * p + 2] * a2, priors[pi, 1, 4 * p + 3] * a3
    if not normalized:
        x0, x1 = x0 / iw, x1 / iw
        y0, y1 = y0 / ih, y1 / ih
    if center:
        pw, ph = x1 - x0, y1 - y0
        cx = a0 * pw + (x0 + x1) / _TWO
        cy = a1 * ph + (y0 + y1) / _TWO
        w, h = exps[n, p, l, 0] * pw, exps[n, p, l, 1] * ph
        b0, b1, b2, b3 = cx - w / _TWO, cy - h / _TWO, cx + w / _TWO, cy + h / _TWO
    else:
        b0, b1, b2, b3 = x0 + a0, y0 + a1, x1 + a2, y1 + a3
    if clip:
        b0, b1, b2, b3 = _clip01(b0), _clip01(b1), _clip01(b2), _clip01(b3)
    return b0, b1, b2, b3


@numba.njit(cache=True)
def _box_jit(loc, exps, arm, arm_loc, arm_exps, priors, n, pi, p, l, L, size, center, venc, normalized, iw, ih, clip,
             box):  # pragma: no cover (jit)
    """Decode box ``l`` of prior ``p`` into ``box`` (4 values): from the ARM box when there are ARM
    logits, else from the prior."""
    o = p * size + size - 4
    x0, y0, x1, y1 = priors[pi, 0, o], priors[pi, 0, o + 1], priors[pi, 0, o + 2], priors[pi, 0, o + 3]
    if arm:
        x0, y0, x1, y1 = _decode_jit(x0, y0, x1, y1, arm_loc, arm_exps, priors, n, pi, p, l, L, center, venc,
                                     normalized, iw, ih, clip)
    box[0], box[1], box[2], box[3] = _decode_jit(x0, y0, x1, y1, loc, exps, priors, n, pi, p, l, L, center, venc,
                                                 normalized, iw, ih, clip)


@numba.njit(cache=True)
def _detect_jit(loc, conf, priors, exps, arm, arm_conf, arm_loc, arm_exps, C, L, size, ip, fp,
                out):  # pragma: no cover (jit)
    """``detect`` from ``_image_detections`` on, for every image, into ``out`` [R, 7] (zeros on entry).
    ``ip``: keep_top_k, top_k, background_label_id and the flags variance_encoded_in_target,
    normalized, clip_before_nms, clip_after_nms, decrease_label_id, CENTER_SIZE; ``fp``:
    confidence_threshold, nms_threshold, objectness_score, input_width, input_height. The arrays a
    layer lacks (``exps`` for CORNER, the ARM ones without ``arm``) come empty: one signature, one
    compilation. One thread: the plugin runs heads with
    fewer than threads.SERIAL_BELOW box logits on one anyway, and little work is left after the selection."""
    keep_top_k, top_k, bg = ip[0], ip[1], ip[2]
    venc, normalized, clip_before, clip_after = ip[3] != 0, ip[4] != 0, ip[5] != 0, ip[6] != 0
    decrease, center = ip[7] != 0, ip[8] != 0
    thr, nms_thr, objectness, iw, ih = fp[0], fp[1], fp[2], fp[3], fp[4]
    N, Np, P, R = conf.shape[0], priors.shape[0], priors.shape[2] // size, out.shape[0]
    row = 0
    for n in range(N):
        pi = n if Np > 1 else 0
        n_priors = P
        if not normalized:  # image id -1 ends the priors
            for p in range(P):
                if priors[pi, 0, p * size] == -1:
                    n_priors = p
                    break
        score = conf[n]
        if arm:  # weak ARM objectness: background only
            score = score.copy()
            for p in range(P):
                if arm_conf[n, 2 * p + 1] < objectness:
                    for c in range(C):
                        score[p * C + c] = _ONE if c == bg else _ZERO
        bits = score.view(np.int32)

        # candidates: cand[c, :count[c]] the priors of class c, best first (ties: lower prior)
        cap = top_k if 0 <= top_k < n_priors else n_priors
        cand = np.empty((C, max(cap, 1)), np.int64)
        count = np.zeros(C, np.int64)
        if decrease:  # MXNet: each prior's best class but 0, the image's top_k best
            keys = np.empty(n_priors, np.int64)
            m = 0
            for p in range(n_priors):
                best, bv = -1, _ZERO
                for c in range(1, C):
                    v = score[p * C + c]
                    if v >= thr and v > -1 and (best < 0 or v > bv):
                        best, bv = c, v
                if best >= 0:
                    keys[m] = (_best_first(bits[p * C + best], bv) << 31) | (best * P + p)
                    m += 1
            for key in _smallest(keys[:m], top_k):
                i = key & _LOW31
                c = i // P
                cand[c, count[c]] = i - c * P
                count[c] += 1
        else:  # Caffe: per class but the background, confidence > threshold, top_k best
            keys2 = np.empty((C, max(n_priors, 1)), np.int64)
            m2 = np.zeros(C, np.int64)
            if top_k != 0:
                # which confidences pass, a byte each (a loop that vectorizes), the background's
                # cleared; then read 8 at a time, so that a run of weak ones costs little
                nv = n_priors * C
                passed = np.zeros((nv + 7) // 8 * 8, np.uint8)
                for i in range(nv):
                    passed[i] = score[i] > thr
                if 0 <= bg < C:
                    for p in range(n_priors):
                        passed[p * C + bg] = 0
                words = passed.view(np.uint64)
                for w in range(words.size):
                    if words[w] != 0:
                        for i in range(8 * w, 8 * w + 8):
                            if passed[i]:  # in memory order: each class's priors ascending
                                p = i // C
                                c = i - p * C
                                keys2[c, m2[c]] = (_best_first(bits[i], score[i]) << 31) | p
                                m2[c] += 1
            for c in range(C):
                if m2[c] > 0:
                    best_keys = _smallest(keys2[c, :m2[c]], top_k)
                    for j in range(best_keys.size):
                        cand[c, j] = best_keys[j] & _LOW31
                    count[c] = best_keys.size

        # greedy NMS per class, decoding only the candidates; the kept ones move to the front of cand
        boxes = np.empty((C, max(cap, 1), 4), np.float32)
        sizes = np.empty((C, max(cap, 1)), np.float32)
        kept = np.zeros(C, np.int64)
        for c in range(C):
            k = 0
            for i in range(count[c]):
                p = cand[c, i]
                b = boxes[c, k]
                _box_jit(loc, exps, arm, arm_loc, arm_exps, priors, n, pi, p, 0 if L == 1 else c, L, size, center,
                         venc, normalized, iw, ih, clip_before, b)
                sizes[c, k] = (b[2] - b[0]) * (b[3] - b[1])
                ok = True
                for j in range(k):
                    if _iou(boxes[c], sizes[c], k, j) > nms_thr:
                        ok = False
                        break
                if ok:
                    cand[c, k] = p
                    k += 1
            kept[c] = k

        # keep_top_k: the best by (score, lower prior, lower class); rows class by class, best first
        total = 0
        for c in range(C):
            total += kept[c]
        limit = 0 <= keep_top_k < total
        kth, need = np.int64(0), 0
        if limit and keep_top_k > 0:
            keys = np.empty(total, np.int64)
            i = 0
            for c in range(C):
                for j in range(kept[c]):
                    p = cand[c, j]
                    keys[i] = (_best_first(bits[p * C + c], score[p * C + c]) << 31) | p
                    i += 1
            best = keys.copy()
            _select(best, keep_top_k)
            kth = best[:keep_top_k].max()
            need = keep_top_k
            for i in range(total):
                if keys[i] < kth:
                    need -= 1
        for c in range(C):
            for j in range(kept[c]):
                p = cand[c, j]
                s = score[p * C + c]
                take = not limit
                if limit and keep_top_k > 0:
                    key = (_best_first(bits[p * C + c], s) << 31) | p
                    if key < kth:
                        take = True
                    elif key == kth and need > 0:  # equal keys: the lower class first
                        take = True
                        need -= 1
                if take and row < R:
                    out[row, 0] = n
                    out[row, 1] = c - 1 if decrease else c
                    out[row, 2] = s
                    for t in range(4):
                        v = boxes[c, j, t]
                        out[row, 3 + t] = _clip01(v) if clip_after else v
                    row += 1
    if row < R:
        out[row, 0] = -1


@numba.njit(cache=True)
def _size_logits(logits, priors, venc, P, L, t):  # pragma: no cover (jit)
    """t[n, p, l] = variance * size logits of box l of prior p (the reference's product); True when
    exp(t) may overflow to inf (some t > 88)."""
    N, Np = t.shape[0], priors.shape[0]
    big = False
    for n in range(N):
        pi = n if Np > 1 else 0
        for p in range(P):
            for l in range(L):
                for j in range(2):
                    v = logits[n, (p * L + l) * 4 + 2 + j]
                    if not venc:
                        v = priors[pi, 1, 4 * p + 2 + j] * v
                    t[n, p, l, j] = v
                    big |= v > 88
    return big


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
