"""Prior boxes of SSD heads: PriorBox (opset1, opset8), PriorBoxClustered (opset1).

They read nothing but two shapes, so in a model (ShapeOf -> StridedSlice -> PriorBox) they fold at
load time; plain numpy is their kernel and their reference. (Where they cannot fold, in a model
reshaped at load time, they compute their boxes once per pair of shapes.) DetectionOutput, which reads
their boxes, is in detection_output.py.

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
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from irtool.errors import IRFormatError
from irtool.ir.graph import Layer
from irtool.runtime.registry import kernel, specializer

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

