"""Conformance cases: SSD heads (PriorBox, PriorBoxClustered, DetectionOutput).

PriorBox reads two shapes; the cases feed them as models do: ShapeOf of a feature map and of the image,
their spatial dims sliced out (OpenVINO and irtool both fold that subgraph at load time).
"""
from __future__ import annotations

import numpy as np
from openvino import opset1, opset8

from tests.conformance._build import RNG, C, case, f32


def _hw(x):
    return opset1.strided_slice(opset1.shape_of(x), C([2]), C([4]), C([1]), [0], [0])


def _prior_box(mod, attrs):
    return lambda feat, img: mod.prior_box(_hw(feat), _hw(img), attrs)


VAR4 = [0.1, 0.1, 0.2, 0.2]
FEAT, IMG = f32(1, 8, 5, 6), f32(1, 3, 40, 48)

# ------------------------------------------------------------------------------------------- PriorBox
PB_CASES = [
    ("ssd", {"min_size": [16.0], "max_size": [32.0], "aspect_ratio": [2.0], "flip": True, "clip": False,
             "step": 0.0, "offset": 0.5, "variance": VAR4, "scale_all_sizes": True}),
    ("clip-step-two-sizes", {"min_size": [8.0, 20.0], "max_size": [16.0, 36.0], "aspect_ratio": [2.0, 3.0],
                             "flip": True, "clip": True, "step": 8.0, "offset": 0.5, "variance": VAR4,
                             "scale_all_sizes": True}),
    ("no-max-one-variance", {"min_size": [12.0], "aspect_ratio": [0.5, 2.0], "flip": False, "clip": False,
                             "step": 0.0, "offset": 0.25, "variance": [0.1]}),
    ("fixed-size-density", {"fixed_size": [16.0, 32.0], "density": [2.0, 1.0], "fixed_ratio": [1.0, 2.0],
                            "clip": True, "offset": 0.5, "variance": VAR4}),
    ("mxnet-no-scale-all", {"min_size": [0.2], "aspect_ratio": [2.0, 0.5], "flip": False, "clip": False,
                            "step": 0.0, "offset": 0.5, "variance": VAR4, "scale_all_sizes": False}),
]
for label, attrs in PB_CASES:
    case("PriorBox", "opset1", label, _prior_box(opset1, attrs), FEAT, IMG)
for order in (True, False):
    case("PriorBox", "opset8", f"ssd-minmax-order{int(order)}", _prior_box(opset8, dict(
        PB_CASES[1][1], min_max_aspect_ratios_order=order)), FEAT, IMG)
case("PriorBox", "opset8", "fixed-size", _prior_box(opset8, PB_CASES[4][1]), f32(1, 4, 3, 3), f32(1, 3, 30, 30))
case("PriorBox", "opset8", "non-square", _prior_box(opset8, {
    "min_size": [30.0], "max_size": [60.0], "aspect_ratio": [2.0], "flip": True, "clip": True, "step": 16.0,
    "offset": 0.5, "variance": VAR4, "min_max_aspect_ratios_order": False}), f32(1, 2, 4, 7), f32(1, 3, 64, 112))

# ------------------------------------------------------------------------------------------- PriorBoxClustered
PBC = {"widths": [4.0, 8.0, 12.5], "heights": [6.0, 10.0, 14.0], "offset": 0.5, "variance": VAR4}
for label, extra in [("clip", {"clip": True}), ("steps", {"step_widths": 10.0, "step_heights": 6.0}),
                     ("one-variance-no-clip", {"variance": [0.2], "clip": False})]:
    case("PriorBoxClustered", "opset1", label, lambda feat, img, a=dict(PBC, **extra): opset1.prior_box_clustered(
        _hw(feat), _hw(img), a), FEAT, IMG)

# ------------------------------------------------------------------------------------------- DetectionOutput
P, NC = 12, 4  # priors, classes (0 the background)


def _priors(n=1, variance=True, p=P):
    centre, size = RNG.uniform(0.15, 0.85, (n, p, 2)), RNG.uniform(0.1, 0.5, (n, p, 2))
    boxes = np.concatenate([centre - size / 2, centre + size / 2], -1).reshape(n, 1, p * 4)
    if variance:
        boxes = np.concatenate([boxes, np.tile(np.array(VAR4), (n, 1, p))], 1)
    return boxes.astype(np.float32)


def _conf(n=1, classes=NC, p=P):
    logits = RNG.standard_normal((n, p, classes)) * 2
    return (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).reshape(n, p * classes).astype(np.float32)


DO = {"background_label_id": 0, "top_k": 8, "keep_top_k": [6], "code_type": "caffe.PriorBoxParameter.CENTER_SIZE",
      "share_location": True, "nms_threshold": 0.45, "confidence_threshold": 0.05, "normalized": True}
DO_CASES = [
    ("center-size", {}, 1, True, True),
    ("corner", {"code_type": "caffe.PriorBoxParameter.CORNER"}, 1, True, True),
    ("batch2-clip", {"clip_after_nms": True, "keep_top_k": [10]}, 2, True, True),
    ("variance-in-target", {"variance_encoded_in_target": True}, 1, False, True),
    ("no-share-location", {"share_location": False, "top_k": 5}, 1, True, False),
    ("keep-all-no-top-k", {"top_k": -1, "keep_top_k": [-1], "nms_threshold": 0.3}, 1, True, True),
    ("decrease-label-id", {"decrease_label_id": True, "background_label_id": 0}, 2, True, True),
    ("clip-before-nms", {"clip_before_nms": True, "confidence_threshold": 0.2}, 1, True, True),
]
for i, (label, extra, n, variance, share) in enumerate(DO_CASES):
    attrs = dict(DO, **extra)
    loc = (RNG.standard_normal((n, P * 4 * (1 if share else NC))) * 0.3).astype(np.float32)
    inputs = (loc, _conf(n), _priors(1 if n == 1 else n, variance))
    if i % 2 == 0 or i == 1:
        case("DetectionOutput", "opset1", label, lambda b, c, p, a=attrs: opset1.detection_output(
            b, c, p, dict(a, num_classes=NC)), *inputs)
    if i % 2 == 1 or i == 0:
        case("DetectionOutput", "opset8", label, lambda b, c, p, a=attrs: opset8.detection_output(b, c, p, a),
             *inputs)
case("DetectionOutput", "opset8", "arm-5-inputs", lambda b, c, p, ac, ab: opset8.detection_output(
    b, c, p, dict(DO, objectness_score=0.4), ac, ab), (RNG.standard_normal((1, P * 4)) * 0.3).astype(np.float32),
     _conf(), _priors(), _conf(classes=2), (RNG.standard_normal((1, P * 4)) * 0.2).astype(np.float32))


def _pixel_priors(width=100, height=80):
    """Unnormalized priors: [image id, xmin, ymin, xmax, ymax] in pixels; the variances, 4 a prior, lead the
    second row (which is as long as the first)."""
    boxes = _priors(variance=False)[0, 0].reshape(P, 4) * np.array([width, height, width, height])
    first = np.concatenate([np.zeros((P, 1)), boxes], 1).reshape(-1)
    second = np.concatenate([np.tile(VAR4, P), np.zeros(P)])
    return np.stack([first, second])[None].astype(np.float32)


for v, mod, extra in (("opset1", opset1, {"num_classes": NC}), ("opset8", opset8, {})):
    case("DetectionOutput", v, "unnormalized", lambda b, c, p, m=mod, e=extra: m.detection_output(b, c, p, dict(
        DO, normalized=False, input_width=100, input_height=80, **e)),
         (RNG.standard_normal((1, P * 4)) * 0.3).astype(np.float32), _conf(), _pixel_priors())
