"""PriorBox, PriorBoxClustered and DetectionOutput against OpenVINO, the numba NMS against numpy, and
an SSD head whose prior boxes fold at load time.

Each case builds a one-op model, has OpenVINO save it, and compares OpenVINO's CPU results with
irtool's: the same shape, every value within 1e-5 (boxes, scores, labels and the -1 end marker).
PriorBox takes its two shapes as Parameters, so OpenVINO's CPU node runs it, except where that node
refuses the op (opset8 with ``min_max_aspect_ratios_order=false``) or differs from OpenVINO's
constant folding (odd fixed sizes): there the shapes are constants, folded by both.
"""
from __future__ import annotations

import numpy as np
import pytest
from openvino import opset1, opset3, opset8

import irtool
from irtool.errors import IRFormatError
from irtool.ir import serialize
from irtool.ir.validate import validate
from irtool.runtime import compile_model
from irtool.runtime.kernels import detection as D
from tests.oracle import ops, ov, ov_outputs, save

CENTER, CORNER = "caffe.PriorBoxParameter.CENTER_SIZE", "caffe.PriorBoxParameter.CORNER"


def C(values, dtype=np.int64):
    return ops.constant(np.array(values, dtype))


def check(model: "ov.Model", tmp_path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """OpenVINO and irtool on the IR OpenVINO writes: same shapes and types, values within 1e-5."""
    path = save(model, tmp_path / "op.xml")
    ref = ov_outputs(path, inputs)
    got = list(compile_model(path)(inputs).values())
    for g, r in zip(got, ref, strict=True):
        assert g.shape == r.shape and g.dtype == r.dtype, (g.shape, r.shape, g.dtype, r.dtype)
        np.testing.assert_allclose(g, r, rtol=0, atol=1e-5)
    return got


# ------------------------------------------------------------------------------------------ PriorBox
VAR4 = [0.1, 0.1, 0.2, 0.2]
# name: (opset, attributes, feature map HW, image HW, shapes as constants)
PRIOR_BOX = {
    "ssd": (opset1, dict(min_size=[30.0], max_size=[60.0], aspect_ratio=[2.0], flip=True, step=8.0, offset=0.5,
                         variance=VAR4), [5, 5], [40, 40], False),
    "two-sizes-clip-auto-step": (opset1, dict(min_size=[4.0, 8.0], max_size=[9.0, 16.0], aspect_ratio=[2.0, 3.0],
                                              flip=True, clip=True, offset=0.5, variance=VAR4),
                                 [3, 5], [37, 50], False),
    "duplicate-ratios": (opset1, dict(min_size=[10.0], aspect_ratio=[2.0, 0.5, 3.0, 2.0, 1.0], flip=True, offset=0.5,
                                      variance=[0.2]), [4, 3], [30, 20], False),
    "default-variance-no-flip": (opset1, dict(min_size=[12.0, 20.0], aspect_ratio=[3.0], offset=0.0, step=16.0,
                                              clip=True), [2, 3], [32, 48], False),
    "mxnet": (opset1, dict(min_size=[0.2, 0.35], aspect_ratio=[2.0, 0.5], scale_all_sizes=False, offset=0.5,
                           variance=VAR4), [3, 4], [60, 80], False),
    "mxnet-step": (opset1, dict(min_size=[0.3], aspect_ratio=[2.0], flip=True, scale_all_sizes=False, step=0.25,
                                offset=0.5, clip=True), [4, 4], [64, 64], False),
    "mxnet-max-size": (opset1, dict(min_size=[0.1, 0.2], max_size=[0.3], aspect_ratio=[2.0], flip=True,
                                    scale_all_sizes=False, offset=0.5), [3, 5], [37, 50], False),  # boxes cut short
    "fixed-size-density": (opset1, dict(min_size=[], fixed_size=[16.0, 32.0], density=[2.0, 4.0], aspect_ratio=[2.0],
                                        flip=True, offset=0.5, variance=VAR4), [3, 4], [64, 80], False),
    "fixed-ratio": (opset1, dict(min_size=[], fixed_size=[24.0], density=[3.0], fixed_ratio=[2.0], offset=0.5,
                                 clip=True), [3, 3], [48, 48], False),
    "fixed-size-odd": (opset1, dict(min_size=[], fixed_size=[33.0], density=[3.0], aspect_ratio=[2.0], offset=0.5),
                       [3, 5], [37, 50], True),
    "v8-min-max-order": (opset8, dict(min_size=[4.0, 8.0], max_size=[9.0, 16.0], aspect_ratio=[2.0], flip=True,
                                      offset=0.5, variance=VAR4), [3, 5], [37, 50], False),
    "v8-ratios-before-max": (opset8, dict(min_size=[4.0, 8.0], max_size=[9.0, 16.0], aspect_ratio=[2.0, 3.0],
                                          flip=True, offset=0.5, clip=True, min_max_aspect_ratios_order=False),
                             [3, 5], [37, 50], True),
}


@pytest.mark.parametrize("name", PRIOR_BOX)
def test_prior_box_matches_openvino(name, tmp_path):
    opset, attrs, fm, im, const = PRIOR_BOX[name]
    shapes = {"fm": np.array(fm, np.int64), "im": np.array(im, np.int64)}
    if const:
        model = ov.Model([opset.prior_box(C(fm), C(im), attrs)], [])
        check(model, tmp_path, {})
    else:
        params = [ops.parameter([2], np.int64, name=n) for n in shapes]
        check(ov.Model([opset.prior_box(*params, attrs)], params), tmp_path, shapes)


# name: (attributes, feature map HW, image HW)
PRIOR_BOX_CLUSTERED = {
    "default-steps-clip": (dict(width=[4.0, 8.0, 16.0], height=[6.0, 8.0, 20.0], offset=0.5), [3, 4], [30, 50]),
    "steps-variance4": (dict(width=[9.0, 30.0], height=[12.0, 14.0], offset=0.5, step_w=8.0, step_h=6.0, clip=False,
                             variance=VAR4), [4, 5], [24, 40]),
    "one-step": (dict(width=[10.0], height=[10.0], offset=0.25, step=10.0, clip=False, variance=[0.2]),
                 [2, 3], [20, 30]),
    "step-w-only": (dict(width=[5.0, 7.0], height=[6.0, 3.0], offset=0.5, step_w=8.0, clip=False), [3, 3], [24, 24]),
}


@pytest.mark.parametrize("name", PRIOR_BOX_CLUSTERED)
def test_prior_box_clustered_matches_openvino(name, tmp_path):
    attrs, fm, im = PRIOR_BOX_CLUSTERED[name]
    shapes = {"fm": np.array(fm, np.int32), "im": np.array(im, np.int32)}
    params = [ops.parameter([2], np.int32, name=n) for n in shapes]
    check(ov.Model([opset1.prior_box_clustered(*params, attrs)], params), tmp_path, shapes)


# ------------------------------------------------------------------------------------------ DetectionOutput
def detection_inputs(seed: int, N: int, P: int, C: int, *, share: bool = True, normalized: bool = True,
                     venc: bool = False, arm: bool = False, prior_batch: int = 1, ties: bool = False,
                     end: int | None = None, duplicates: bool = False) -> dict[str, np.ndarray]:
    """Box logits, confidences and priors (and ARM inputs) for N images, P priors, C classes."""
    rng = np.random.default_rng(seed)
    L = 1 if share else C
    if ties:  # few score levels; one prior's classes all differ, so same-prior ties across classes never occur
        conf = ((rng.integers(0, 5, (N, P, 1)) + 2 * np.arange(C)) % 5) / 4
    else:
        conf = rng.random((N, P, C))
    scale = 1 if normalized else 300
    xy = rng.random((prior_batch, P, 2)) * 0.7 * scale
    box = np.concatenate([xy, xy + rng.random((prior_batch, P, 2)) * 0.3 * scale], -1)
    loc = rng.standard_normal((N, P * L * 4)) * 0.2
    if duplicates:  # identical boxes with equal scores: NMS keeps the lowest prior
        box[:] = box[:, :1]
        loc[:] = 0
        conf[:] = conf[:, :1]
    if not normalized:
        box = np.concatenate([np.zeros((prior_batch, P, 1)), box], -1)
        if end is not None:
            box[:, end, 0] = -1  # image id -1: the priors end here
    rows = [box.reshape(prior_batch, 1, -1)]
    if not venc:
        rows.append(np.resize(np.array(VAR4), (prior_batch, 1, rows[0].shape[-1])))
    out = {"loc": loc, "conf": conf.reshape(N, -1), "priors": np.concatenate(rows, axis=1)}
    if arm:
        out["arm_conf"] = rng.random((N, P * 2))
        out["arm_loc"] = rng.standard_normal((N, P * L * 4)) * 0.2
    return {k: v.astype(np.float32) for k, v in out.items()}


BASE = dict(keep_top_k=[20], nms_threshold=0.45, top_k=30, code_type=CENTER, confidence_threshold=0.2,
            background_label_id=0, normalized=True)
# name: (opset, attribute changes, detection_inputs arguments: N, P, C, options)
DETECTION = {
    "ssd": (opset8, {}, (1, 60, 4), {}),
    "ssd-opset1": (opset1, {}, (1, 60, 4), {}),
    "corner": (opset8, dict(code_type=CORNER), (1, 60, 4), {}),
    "corner-opset1-no-share": (opset1, dict(code_type=CORNER, share_location=False), (1, 50, 3), dict(share=False)),
    "no-share-location": (opset8, dict(share_location=False), (1, 60, 4), dict(share=False)),
    "variance-in-target": (opset8, dict(variance_encoded_in_target=True), (1, 60, 4), dict(venc=True)),
    "no-background": (opset8, dict(background_label_id=-1), (1, 60, 4), {}),
    "background-2": (opset1, dict(background_label_id=2), (1, 60, 4), {}),
    "keep-all-top-k-rows": (opset8, dict(keep_top_k=[-1], top_k=10), (1, 60, 4), {}),
    "keep-all-prior-rows": (opset8, dict(keep_top_k=[-1], top_k=-1), (1, 30, 3), {}),
    "no-detections": (opset8, dict(confidence_threshold=1.5), (2, 40, 3), {}),
    "top-k-0": (opset8, dict(top_k=0), (1, 40, 3), {}),
    "ties": (opset8, dict(keep_top_k=[15], top_k=12, confidence_threshold=0.1), (2, 80, 5), dict(ties=True)),
    "ties-no-share": (opset8, dict(keep_top_k=[25], top_k=-1, confidence_threshold=0.1, share_location=False),
                      (1, 60, 4), dict(ties=True, share=False)),
    "more-than-keep-top-k": (opset8, dict(keep_top_k=[5], top_k=-1, confidence_threshold=0.0), (1, 60, 4), {}),
    "duplicate-boxes": (opset8, dict(keep_top_k=[10], confidence_threshold=0.0), (1, 20, 3), dict(duplicates=True)),
    "batch2-shared-priors": (opset8, {}, (2, 60, 4), {}),
    "batch2-own-priors": (opset1, dict(share_location=False), (2, 50, 3), dict(prior_batch=2, share=False)),
    "unnormalized-with-end": (opset8, dict(normalized=False, input_height=300, input_width=300), (2, 60, 4),
                              dict(normalized=False, end=41)),
    "clip-before-and-after": (opset8, dict(clip_before_nms=True, clip_after_nms=True, nms_threshold=0.3), (1, 60, 4),
                              {}),
    "clip-after-corner": (opset8, dict(clip_after_nms=True, code_type=CORNER), (1, 60, 4), {}),
    "mxnet": (opset8, dict(decrease_label_id=True, top_k=25), (1, 60, 5), {}),
    "mxnet-no-share-batch2": (opset1, dict(decrease_label_id=True, share_location=False, top_k=-1,
                                           confidence_threshold=0.4), (2, 40, 4), dict(share=False)),
    "arm": (opset8, dict(objectness_score=0.3), (1, 60, 4), dict(arm=True)),
    "arm-no-share-unnormalized": (opset1, dict(objectness_score=0.4, share_location=False, normalized=False,
                                               input_height=300, input_width=300, clip_before_nms=True),
                                  (2, 40, 3), dict(arm=True, share=False, normalized=False)),
    "arm-mxnet": (opset8, dict(objectness_score=0.5, decrease_label_id=True, confidence_threshold=0.0),
                  (1, 50, 4), dict(arm=True)),
}


def detection_model(opset, attrs: dict, inputs: dict[str, np.ndarray], num_classes: int) -> "ov.Model":
    params = [ops.parameter(list(v.shape), np.float32, name=k) for k, v in inputs.items()]
    attrs = {**BASE, **attrs, **({"num_classes": num_classes} if opset is opset1 else {})}
    return ov.Model([opset.detection_output(*params[:3], attrs, *params[3:], name="detections")], params)


@pytest.mark.parametrize("name", DETECTION)
def test_detection_output_matches_openvino(name, tmp_path):
    opset, attrs, (N, P, C_), options = DETECTION[name]
    inputs = detection_inputs(list(DETECTION).index(name), N, P, C_, **options)
    [got] = check(detection_model(opset, attrs, inputs, C_), tmp_path, inputs)
    rows = got[0, 0]
    found = int(np.argmax(rows[:, 0] == -1)) if (rows[:, 0] == -1).any() else len(rows)
    if name in ("no-detections", "top-k-0"):
        assert found == 0
    elif name != "keep-all-prior-rows":
        assert found > 0, "a case that finds nothing checks little"


# ------------------------------------------------------------------------------------------ numba vs numpy
@pytest.mark.parametrize("seed", range(3))
def test_nms_jit_matches_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    boxes = rng.random((300, 4)).astype(np.float32)
    boxes[:, 2:] = boxes[:, :2] + rng.random((300, 2)).astype(np.float32) * 0.4
    boxes[::7] = boxes[1::7][: len(boxes[::7])]  # identical boxes
    sizes = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    group = np.sort(rng.integers(0, 6, 500))
    idx = rng.integers(0, 300, 500)
    for threshold in (np.float32(0.3), np.float32(0.7)):
        np.testing.assert_array_equal(D._nms_fast(boxes, sizes, idx, group, threshold),
                                      D.nms_ref(boxes, sizes, idx, group, threshold))


@pytest.mark.parametrize("share,decrease", [(True, False), (False, False), (True, True)])
def test_detection_output_kernel_matches_reference(share, decrease):
    inputs = detection_inputs(5, 2, 400, 8, share=share, prior_batch=2)
    attrs = D.DetectionAttrs(keep_top_k=100, nms_threshold=np.float32(0.5), top_k=60, center_size=True,
                             share_location=share, confidence_threshold=np.float32(0.05), decrease_label_id=decrease,
                             normalized=True)
    fast = D.detect(*inputs.values(), attrs=attrs)
    ref = D.detect(*inputs.values(), attrs=attrs, nms=D.nms_ref)
    np.testing.assert_array_equal(fast, ref)
    assert (fast[0, 0, :, 0] >= 0).sum() > 50


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("edit,message", [
    (("caffe.PriorBoxParameter.CENTER_SIZE", "caffe.PriorBoxParameter.CORNER_SIZE"), "code_type"),
    (('background_label_id="0"', 'background_label_id="1"'), "decrease_label_id"),
])
def test_bad_detection_attributes_name_the_layer(edit, message, tmp_path):
    inputs = detection_inputs(0, 1, 10, 3)
    path = save(detection_model(opset8, dict(decrease_label_id=True), inputs, 3), tmp_path / "op.xml")
    path.write_text(path.read_text().replace(*edit))
    with pytest.raises(IRFormatError, match=f"layer 'detections' .*{message}"):
        compile_model(path)(inputs)


# ------------------------------------------------------------------------------------------ SSD head
def build_ssd_head(classes: int = 4) -> "ov.Model":
    """Two feature maps, PriorBox / PriorBoxClustered on their ShapeOf, box and class heads, DetectionOutput."""
    rng = np.random.default_rng(11)

    def conv(x, cout, cin, k, stride):
        w = ops.constant((rng.standard_normal((cout, cin, k, k)) * 0.3).astype(np.float32))
        return ops.convolution(x, w, [stride] * 2, [k // 2] * 2, [k // 2] * 2, [1, 1])

    def hw(x):
        return opset1.strided_slice(opset3.shape_of(x), C([2]), C([4]), C([1]), [0], [0])

    def flat(x):
        return ops.reshape(ops.transpose(x, C([0, 2, 3, 1])), C([1, -1]), False)

    image = ops.parameter([1, 3, 32, 32], np.float32, name="image")
    f1 = ops.relu(conv(image, 8, 3, 3, 2))  # 16x16
    f2 = ops.relu(conv(f1, 8, 8, 3, 2))  # 8x8
    pb1 = opset8.prior_box(hw(f1), hw(image), dict(min_size=[6.0], max_size=[12.0], aspect_ratio=[2.0], flip=True,
                                                   step=2.0, offset=0.5, variance=VAR4))  # 4 per cell
    pb2 = opset1.prior_box_clustered(hw(f2), hw(image), dict(width=[8.0, 16.0, 24.0], height=[10.0, 14.0, 30.0],
                                                             offset=0.5, variance=VAR4, clip=False))  # 3 per cell
    priors = ops.unsqueeze(ops.concat([pb1, pb2], 1), C([0]))
    loc = ops.concat([flat(conv(f1, 4 * 4, 8, 1, 1)), flat(conv(f2, 3 * 4, 8, 1, 1))], 1)
    logits = ops.concat([flat(conv(f1, 4 * classes, 8, 1, 1)), flat(conv(f2, 3 * classes, 8, 1, 1))], 1)
    conf = ops.reshape(ops.softmax(ops.reshape(logits, C([1, -1, classes]), False), -1), C([1, -1]), False)
    det = opset8.detection_output(loc, conf, priors, dict(keep_top_k=[50], nms_threshold=0.45, top_k=100,
                                                          code_type=CENTER, confidence_threshold=0.3,
                                                          background_label_id=0, normalized=True))
    return ov.Model([det], [image], "ssd_head")


def test_prior_boxes_fold_at_load_time(tmp_path):
    path = save(build_ssd_head(), tmp_path / "ssd.xml")
    image = np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype(np.float32)
    compiled = compile_model(path)
    [got] = compiled({"image": image}).values()
    [ref] = ov_outputs(path, {"image": image})
    assert got.shape == ref.shape == (1, 1, 50, 7)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
    assert (got[0, 0, :, 0] == 0).sum() > 10
    status = {}
    for p in compiled.get_profiling_info():
        status.setdefault(p.node_type, set()).add(p.status)
    for op in ("ShapeOf", "StridedSlice", "PriorBox", "PriorBoxClustered", "Unsqueeze"):
        assert status[op] == {"NOT_RUN"}, op  # folded: nothing of the prior boxes runs per inference
    assert status["DetectionOutput"] == {"EXECUTED"}


# ------------------------------------------------------------------------------------------ IR
def test_detection_ir_validates_and_round_trips(tmp_path):
    shapes = [ops.parameter([2], np.int64, name=n) for n in ("fm", "im")]
    inputs = detection_inputs(1, 1, 12, 3, arm=True)
    params = [ops.parameter(list(v.shape), np.float32, name=k) for k, v in inputs.items()]
    outs = [opset1.prior_box(*shapes, PRIOR_BOX["ssd"][1]),
            opset8.prior_box(*shapes, PRIOR_BOX["v8-ratios-before-max"][1]),
            opset1.prior_box_clustered(*shapes, PRIOR_BOX_CLUSTERED["steps-variance4"][0]),
            opset1.detection_output(*params[:3], {**BASE, "num_classes": 3, "objectness_score": 0.3}, *params[3:]),
            opset8.detection_output(*params[:3], dict(BASE, normalized=True, clip_after_nms=True))]
    path = save(ov.Model(outs, shapes + params, "detection"), tmp_path / "det.xml")
    assert validate(path) == []
    xml, binary = serialize(irtool.read_model(path))
    assert xml == path.read_bytes()
    out = irtool.save_model(irtool.read_model(path), tmp_path / "copy.xml")
    assert out.read_bytes() == path.read_bytes()
