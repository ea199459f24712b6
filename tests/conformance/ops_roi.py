"""Conformance cases: regions of interest and detector heads (ROIAlign, ROIAlignRotated, ROIPooling,
PSROIPooling, DeformablePSROIPooling, RegionYolo, ReorgYolo, Proposal, GenerateProposals).

Regions lie inside the feature map, cross its border, lie outside it, and shrink to less than a cell.
Proposal's scores are distinct (OpenVINO's partial sort orders ties in no defined way), and the
settings keep boxes under the minimum size (score 0, tied) out of the output.
"""
from __future__ import annotations

import numpy as np
from openvino import opset1, opset2, opset3, opset4, opset9, opset15

from tests.conformance._build import C, case

RNG = np.random.default_rng(14)


def _f32(*shape, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


MAPS = _f32(2, 5, 9, 11)  # [N, C, H, W]
BOXES = np.array([[0, 0, 4, 4], [1.3, 2.2, 8.7, 7.9], [-3, -2, 5, 6], [6, 5, 14, 12], [2, 2, 2.3, 2.2],
                  [10, 8, 10.5, 8.5], [-5, -5, -2, -1.5], [0, 0, 10, 8], [2.5, 1.5, 3.5, 7.5]], np.float32)
IMAGES = np.array([0, 1, 1, 0, 1, 0, 1, 0, 1])
ROWS = np.column_stack([IMAGES, BOXES]).astype(np.float32)  # [batch, x0, y0, x1, y1]

# ------------------------------------------------------------------------------------------- ROIAlign
for mode in ("avg", "max"):
    for ratio in (0, 2):
        for scale in (1.0, 0.5):
            case("ROIAlign", "opset3", f"{mode}-ratio{ratio}-scale{scale:g}", lambda x, r, m=mode, s=ratio, k=scale: (
                opset3.roi_align(x, r, C(IMAGES, np.int32), 2, 3, s, k, m)), MAPS, BOXES)
    for aligned in ("asymmetric", "half_pixel_for_nn", "half_pixel"):
        for ratio in (0, 3):
            case("ROIAlign", "opset9", f"{mode}-{aligned}-ratio{ratio}", lambda x, r, m=mode, a=aligned, s=ratio: (
                opset9.roi_align(x, r, C(IMAGES, np.int32), 3, 2, s, 1.0, m, a)), MAPS, BOXES)
case("ROIAlign", "opset9", "scale0.37-1x1", lambda x, r: opset9.roi_align(
    x, r, C(IMAGES, np.int32), 1, 1, 0, 0.37, "avg", "half_pixel"), MAPS, BOXES * 2.7)
case("ROIAlign", "opset3", "negative-map-max", lambda x, r: opset3.roi_align(  # max(0, samples): 0 here
    x, r, C(IMAGES, np.int32), 2, 2, 2, 1.0, "max"), -np.abs(MAPS) - 1, BOXES)
case("ROIAlign", "opset9", "i64-batch-indices", lambda x, r, b: opset9.roi_align(
    x, r, b, 2, 2, 2, 1.0, "avg", "half_pixel"), MAPS, BOXES, IMAGES.astype(np.int64))
case("ROIAlign", "opset9", "i32-batch-indices", lambda x, r, b: opset9.roi_align(
    x, r, b, 2, 2, 0, 0.5, "max", "asymmetric"), MAPS, BOXES * 2, IMAGES.astype(np.int32))
case("ROIAlign", "opset9", "f16", lambda x, r: opset9.roi_align(x, r, C(IMAGES, np.int32), 2, 2, 2, 1.0, "avg"),
     MAPS.astype(np.float16), BOXES.astype(np.float16), rel=2e-3)

# ------------------------------------------------------------------------------------------- ROIAlignRotated
ROTATED = np.array([[4, 4, 3, 3, 0.3], [5, 3, 6, 4, 1.0], [1, 4, 5, 2, -0.5], [10, 8, 6, 6, 2.5], [0, 0, 2, 2, 0],
                    [5, 5, 0.4, 0.3, 0.7], [-3, 12, 4, 3, -1.2]], np.float32)  # [cx, cy, w, h, angle]
for clockwise in (False, True):
    for ratio in (0, 2):
        for scale in (1.0, 0.7):
            case("ROIAlignRotated", "opset15", f"cw{int(clockwise)}-ratio{ratio}-scale{scale:g}",
                 lambda x, r, c=clockwise, s=ratio, k=scale: opset15.roi_align_rotated(
                     x, r, C(IMAGES[:7], np.int32), 3, 2, s, k, c), MAPS, ROTATED)
case("ROIAlignRotated", "opset15", "i64-batch-indices", lambda x, r, b: opset15.roi_align_rotated(
    x, r, b, 2, 2, 2, 1.0, True), MAPS, ROTATED, IMAGES[:7].astype(np.int64))
case("ROIAlignRotated", "opset15", "f16", lambda x, r: opset15.roi_align_rotated(
    x, r, C(IMAGES[:7], np.int32), 2, 2, 2, 1.0, False), MAPS.astype(np.float16), ROTATED.astype(np.float16),
    rel=2e-3)

# ------------------------------------------------------------------------------------------- ROIPooling
FRACTIONS = np.array([[0, 0, 0, 0.4, 0.4], [1, 0.13, 0.22, 0.87, 0.79], [1, -0.3, -0.2, 0.5, 0.6],
                      [0, 0.6, 0.5, 1.4, 1.2], [1, 0.2, 0.2, 0.23, 0.22], [0, 0, 0, 1, 1], [1, 0.5, 0.5, 0.5, 0.5]],
                     np.float32)  # bilinear: corners as fractions of the map
for scale in (1.0, 0.5, 0.37):
    for ph, pw in ((2, 3), (1, 1), (4, 2)):
        case("ROIPooling", "opset2", f"max-scale{scale:g}-{ph}x{pw}", lambda x, r, s=scale, o=(ph, pw): (
            opset2.roi_pooling(x, r, output_roi=list(o), spatial_scale=s, method="max")), MAPS, ROWS)
for ph, pw in ((2, 3), (1, 1), (3, 3), (4, 1)):
    case("ROIPooling", "opset2", f"bilinear-{ph}x{pw}", lambda x, r, o=(ph, pw): opset2.roi_pooling(
        x, r, output_roi=list(o), spatial_scale=1.0, method="bilinear"), MAPS, FRACTIONS)
_ENDED = ROWS.copy()
_ENDED[5, 0] = -1  # regions end at the first batch index -1: the rest are 0
case("ROIPooling", "opset2", "max-ends-at-minus-one", lambda x, r: opset2.roi_pooling(
    x, r, output_size=[2, 2], spatial_scale=1.0, method="max"), MAPS, _ENDED)
case("ROIPooling", "opset2", "f16-max", lambda x, r: opset2.roi_pooling(
    x, r, output_roi=[2, 2], spatial_scale=1.0, method="max"), MAPS.astype(np.float16), ROWS.astype(np.float16))

# ------------------------------------------------------------------------------------------- PSROIPooling
for group, dim in ((2, 2), (1, 8), (3, 1)):
    for scale in (1.0, 0.37):
        case("PSROIPooling", "opset1", f"average-g{group}-dim{dim}-scale{scale:g}",
             lambda x, r, g=group, d=dim, s=scale: opset1.psroi_pooling(x, r, d, g, s, 1, 1, "average"),
             _f32(2, dim * group * group, 9, 11), ROWS)
for group, dim, bx, by in ((2, 2, 2, 2), (1, 2, 2, 2), (3, 8, 1, 1), (2, 4, 2, 1), (2, 1, 1, 3)):
    case("PSROIPooling", "opset1", f"bilinear-g{group}-dim{dim}-bins{bx}x{by}",
         lambda x, r, g=group, d=dim, a=bx, b=by: opset1.psroi_pooling(x, r, d, g, 0.5, a, b, "bilinear"),
         _f32(2, dim * bx * by, 9, 11), ROWS)
case("PSROIPooling", "opset1", "average-ends-at-minus-one", lambda x, r: opset1.psroi_pooling(
    x, r, 2, 2, 1.0, 1, 1, "average"), _f32(2, 8, 9, 11), _ENDED)

# ------------------------------------------------------------------------------------------- DeformablePSROIPooling
for group, dim, bx, by in ((2, 2, 1, 1), (1, 8, 2, 2), (2, 1, 2, 3)):
    maps = _f32(2, dim * group * group, 9, 11)
    for trans, part in ((1.0, 1), (0.3, 2), (0.5, 3)):
        attrs = {"group_size": group, "spatial_bins_x": bx, "spatial_bins_y": by, "trans_std": trans, "part_size": part}
        label = f"g{group}-dim{dim}-bins{bx}x{by}-std{trans:g}-part{part}"
        case("DeformablePSROIPooling", "opset1", f"{label}-no-offsets", lambda x, r, d=dim, a=attrs: (
            opset1.deformable_psroi_pooling(x, r, d, 0.5, **a)), maps, ROWS)
        for classes in (1, 2):
            if dim % classes == 0:
                case("DeformablePSROIPooling", "opset1", f"{label}-offsets{classes}", lambda x, r, o, d=dim, a=attrs: (
                    opset1.deformable_psroi_pooling(x, r, d, 0.5, offsets=o, **a)), maps, ROWS,
                    _f32(len(ROWS), 2 * classes, part, part, scale=0.5))

# ------------------------------------------------------------------------------------------- RegionYolo
for images in (1, 2):
    for axis, end_axis in ((1, 3), (2, 3), (1, 2), (0, 3), (1, -1), (-3, -1)):
        case("RegionYolo", "opset1", f"softmax-n{images}-axes{axis}..{end_axis}", lambda x, a=axis, e=end_axis: (
            opset1.region_yolo(x, 4, 3, 2, True, [], a, e)), _f32(images, 16, 3, 5, scale=3))
    for mask, num in (([0, 1, 2], 3), ([3, 4, 5], 6), ([1], 3)):
        case("RegionYolo", "opset1", f"yolo-n{images}-mask{''.join(map(str, mask))}", lambda x, m=mask, k=num: (
            opset1.region_yolo(x, 4, 3, k, False, m, 1, 3, [10.0, 14.0] * k)),
            _f32(images, len(mask) * 8, 3, 5, scale=3))
    # more anchors in the input than the mask outputs: the CPU node copies the input's first elements, flat
    case("RegionYolo", "opset1", f"yolo-n{images}-input-holds-all-anchors", lambda x: opset1.region_yolo(
        x, 4, 3, 6, False, [3, 4, 5], 1, 3), _f32(images, 48, 3, 5, scale=3))
case("RegionYolo", "opset1", "softmax-coords1", lambda x: opset1.region_yolo(x, 1, 3, 2, True, [], 1, 3),
     _f32(1, 10, 3, 5, scale=3))
case("RegionYolo", "opset1", "yolo-coords1", lambda x: opset1.region_yolo(x, 1, 3, 2, False, [0, 1], 1, 3),
     _f32(1, 10, 3, 5, scale=3))
case("RegionYolo", "opset1", "yolo-f16", lambda x: opset1.region_yolo(x, 4, 3, 3, False, [0, 1, 2], 1, 3),
     _f32(1, 24, 3, 5, scale=3).astype(np.float16), rel=1e-3)

# ------------------------------------------------------------------------------------------- ReorgYolo
for s in (1, 2, 3):
    for shape in ((1, s * s * 2, 2 * s, 3 * s), (2, s * s * 3, s, 2 * s)):
        case("ReorgYolo", "opset2", f"stride{s}-{'x'.join(map(str, shape))}", lambda x, k=s: opset2.reorg_yolo(x, [k]),
             _f32(*shape))

# ------------------------------------------------------------------------------------------- Proposal
def _proposal_attrs(**changes) -> dict:
    a = {"base_size": 16, "pre_nms_topn": 40, "post_nms_topn": 12, "nms_thresh": 0.7, "feat_stride": 16,
         "min_size": 4, "ratio": [0.5, 1, 2], "scale": [1.0, 2.0]} | changes
    ints = ("base_size", "pre_nms_topn", "post_nms_topn", "feat_stride", "min_size")
    floats = ("nms_thresh", "box_size_scale", "box_coordinate_scale")
    return {k: np.uint32(v) if k in ints else np.float32(v) if k in floats else
            np.array(v, np.float32) if k in ("ratio", "scale") else v for k, v in a.items()}


_A, _H, _W = 6, 5, 6
PROBS = [RNG.permutation(n * 2 * _A * _H * _W).reshape(n, 2 * _A, _H, _W).astype(np.float32) / (n * 2 * _A * _H * _W)
         for n in (1, 2)]  # distinct scores
DELTAS = [_f32(n, 4 * _A, _H, _W, scale=0.3) for n in (1, 2)]
INFO3, INFO4 = np.array([80, 96, 1], np.float32), np.array([80, 96, 1.5, 0.5], np.float32)
PROPOSAL = [
    ("caffe", {}), ("no-clip-before", {"clip_before_nms": False}), ("clip-after", {"clip_after_nms": True}),
    ("normalize", {"normalize": True}), ("box-scales", {"box_size_scale": 2.0, "box_coordinate_scale": 0.5}),
    ("tensorflow", {"framework": "tensorflow"}),
    ("tensorflow-clip-after-normalize", {"framework": "tensorflow", "clip_after_nms": True, "normalize": True}),
    ("min-size20", {"min_size": 20}), ("nms0.3", {"nms_thresh": 0.3}), ("pre10", {"pre_nms_topn": 10}),
    ("fewer-than-post", {"post_nms_topn": 60, "pre_nms_topn": 300, "nms_thresh": 0.5}),  # -1 marker, zero rows
    ("one-ratio-three-scales", {"ratio": [1.0], "scale": [0.5, 1.0, 2.0]}),
]
SHORT = ("pre10", "fewer-than-post")  # fewer boxes than post_nms_topn: opset4's scores past them are unwritten
for version, mod in (("opset1", opset1), ("opset4", opset4)):
    for label, changes in PROPOSAL:
        if version == "opset4" and label in SHORT:
            continue
        for n in (1, 2):
            info = INFO4 if label in ("caffe", "tensorflow") and n == 2 else INFO3
            ratios = changes.get("ratio", [0.5, 1, 2])
            scales = changes.get("scale", [1.0, 2.0])
            anchors = len(ratios) * len(scales)
            probs, deltas = PROBS[n - 1][:, :2 * anchors], DELTAS[n - 1][:, :4 * anchors]
            case("Proposal", version, f"{label}-n{n}" + ("-info4" if info is INFO4 else ""),
                 lambda p, d, i, m=mod, a=_proposal_attrs(**changes): m.proposal(p, d, i, a), probs, deltas, info)

# ------------------------------------------------------------------------------------------- GenerateProposals
def _anchors(h: int, w: int, stride: int) -> np.ndarray:
    """[H, W, 3, 4] anchors: a square and two 2:1 boxes centred on each cell."""
    sizes = np.array([[8, 8], [12, 6], [6, 12]], np.float32)
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    x0 = xs[..., None] * stride + stride / 2 - sizes[:, 0] / 2
    y0 = ys[..., None] * stride + stride / 2 - sizes[:, 1] / 2
    return np.stack([x0, y0, x0 + sizes[:, 0], y0 + sizes[:, 1]], axis=-1).astype(np.float32)


GP_ANCHORS = _anchors(_H, _W, 8)
for n in (1, 2):
    scores = RNG.permutation(n * 3 * _H * _W).reshape(n, 3, _H, _W).astype(np.float32) / (n * 3 * _H * _W)
    deltas = _f32(n, 12, _H, _W, scale=0.4)
    deltas[:, 2::4][:, :, 0, 0] = 6.0  # a size delta past log(1000 / 16): clamped
    for info_label, info in (("info3", np.array([[40, 48, 1], [36, 30, 1]], np.float32)[:n]),
                             ("info4", np.array([[40, 48, 1.2, 0.8], [44, 30, 0.9, 1.1]], np.float32)[:n])):
        for normalized in (True, False):
            for label, (min_size, thr, pre, post, num_type) in {
                    "min1-nms0.7-pre30-post10-i32": (1.0, 0.7, 30, 10, "i32"),
                    "min4-nms0.5-all-i64": (4.0, 0.5, 100, 100, "i64"),
                    "min0-nms0.3-post5-i64": (0.0, 0.3, 1000, 5, "i64"),
                    "min6-nms0.9-pre50-post40-i32": (6.0, 0.9, 50, 40, "i32")}.items():
                case("GenerateProposals", "opset9", f"n{n}-{info_label}-norm{int(normalized)}-{label}",
                     lambda i, a, d, s, m=min_size, t=thr, p=pre, q=post, z=normalized, k=num_type: (
                         opset9.generate_proposals(i, a, d, s, m, t, p, q, z, 1.0, k)),
                     info, GP_ANCHORS, deltas, scores)
