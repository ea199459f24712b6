"""PriorBox, PriorBoxClustered and DetectionOutput against OpenVINO, the numba NMS against numpy, and
an SSD head whose prior boxes fold at load time.

Each case builds a one-op model, has OpenVINO save it, and compares OpenVINO's CPU results with
irtool's: the same shape, every value within 1e-5 (boxes, scores, labels and the -1 end marker). The
numba DetectionOutput kernel is also held to its numpy reference bit for bit, on more cases.
PriorBox takes its two shapes as Parameters, so OpenVINO's CPU node runs it, except where that node
refuses the op (opset8 with ``min_max_aspect_ratios_order=false``) or differs from OpenVINO's
constant folding (odd fixed sizes): there the shapes are constants, folded by both.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from openvino import opset1, opset3, opset8

import irtool
from irtool.errors import IRFormatError
from irtool.ir import serialize
from irtool.ir.validate import validate
from irtool.runtime import compile_model
from irtool.runtime.kernels import detection_jit as J
from irtool.runtime.kernels import detection_output as D
from irtool.runtime.kernels import priors as PB
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
# name: (DetectionAttrs changes, detection_inputs arguments: N, P, C, options)
JIT = {
    "ssd": ({}, (2, 400, 8), {}),
    "corner": (dict(center_size=False), (1, 300, 5), {}),
    "no-share": (dict(share_location=False), (2, 200, 6), dict(share=False, prior_batch=2)),
    "variance-in-target": (dict(variance_encoded_in_target=True), (1, 300, 5), dict(venc=True)),
    "corner-variance-in-target-no-share": (dict(center_size=False, variance_encoded_in_target=True,
                                                share_location=False), (1, 100, 4), dict(venc=True, share=False)),
    "no-background": (dict(background_label_id=-1), (1, 200, 4), {}),
    "background-3": (dict(background_label_id=3), (1, 200, 5), {}),
    "top-k-all": (dict(top_k=-1, keep_top_k=-1), (1, 150, 4), {}),
    "top-k-over-priors": (dict(top_k=1000, keep_top_k=-2), (1, 150, 4), {}),
    "top-k-0": (dict(top_k=0), (1, 100, 4), {}),
    "keep-top-k-0": (dict(keep_top_k=0), (1, 100, 4), {}),
    "keep-top-k-1": (dict(keep_top_k=1), (2, 100, 4), {}),
    "keep-all-top-k-rows": (dict(keep_top_k=-1, top_k=7), (2, 100, 4), {}),
    "ties": (dict(keep_top_k=15, top_k=12, confidence_threshold=np.float32(0.1)), (2, 80, 5), dict(ties=True)),
    "ties-no-share": (dict(keep_top_k=25, confidence_threshold=np.float32(0.1), share_location=False),
                      (1, 60, 4), dict(ties=True, share=False)),
    "duplicate-boxes": (dict(keep_top_k=10, confidence_threshold=np.float32(0)), (1, 20, 3), dict(duplicates=True)),
    "unnormalized-with-end": (dict(normalized=False, input_height=300, input_width=200), (2, 120, 4),
                              dict(normalized=False, end=77)),
    "unnormalized-own-priors": (dict(normalized=False, input_height=300, input_width=300, center_size=False),
                                (2, 100, 3), dict(normalized=False, prior_batch=2)),
    "clip-before-and-after": (dict(clip_before_nms=True, clip_after_nms=True, nms_threshold=np.float32(0.3)),
                              (1, 200, 4), {}),
    "mxnet": (dict(decrease_label_id=True, top_k=40), (2, 300, 6), {}),
    "mxnet-all-no-share": (dict(decrease_label_id=True, top_k=-1, share_location=False), (1, 100, 4),
                           dict(share=False)),
    "mxnet-top-k-0": (dict(decrease_label_id=True, top_k=0), (1, 50, 3), {}),
    "mxnet-ties": (dict(decrease_label_id=True, keep_top_k=9, confidence_threshold=np.float32(0.1)), (1, 80, 5),
                   dict(ties=True)),
    "arm": (dict(objectness_score=np.float32(0.3)), (2, 150, 4), dict(arm=True)),
    "arm-no-share-unnormalized-clip": (dict(objectness_score=np.float32(0.4), share_location=False,
                                            normalized=False, input_height=300, input_width=300,
                                            clip_before_nms=True), (2, 80, 3),
                                       dict(arm=True, share=False, normalized=False, end=50)),
    "arm-mxnet-corner": (dict(objectness_score=np.float32(0.5), decrease_label_id=True, center_size=False),
                         (1, 100, 4), dict(arm=True)),
    "large": (dict(top_k=400, keep_top_k=200), (1, 5000, 30), {}),  # quickselect of the top_k
    "large-mxnet-no-share": (dict(decrease_label_id=True, share_location=False, top_k=300), (1, 2000, 70),
                             dict(share=False)),
}


def jit_case(name: str) -> tuple[dict[str, np.ndarray], "D.DetectionAttrs"]:
    changes, (N, P, C_), options = JIT[name]
    attrs = dict(keep_top_k=100, nms_threshold=np.float32(0.5), top_k=60, center_size=True,
                 confidence_threshold=np.float32(0.05), normalized=True)
    return detection_inputs(list(JIT).index(name), N, P, C_, **options), D.DetectionAttrs(**{**attrs, **changes})


def assert_same_bits(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.shape == ref.shape and got.dtype == ref.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))


@pytest.mark.parametrize("name", JIT)
def test_detection_kernel_matches_numpy_reference(name):
    inputs, attrs = jit_case(name)
    fast = D.detect_jit(*inputs.values(), attrs=attrs)
    assert_same_bits(fast, D.detect(*inputs.values(), attrs=attrs))
    if name not in ("top-k-0", "keep-top-k-0", "mxnet-top-k-0"):
        assert found(fast) > 0, "a case that finds nothing checks little"


@pytest.mark.parametrize("pattern", ["random", "ascending", "descending", "organ-pipe", "one"])
def test_smallest_keys_match_numpy(pattern):
    """The quickselect behind top_k and keep_top_k: the k smallest distinct keys, in order."""
    n = 1 if pattern == "one" else 301
    keys = {"random": np.random.default_rng(0).permutation(n), "ascending": np.arange(n),
            "descending": np.arange(n)[::-1], "organ-pipe": np.r_[np.arange(0, n, 2), np.arange(n - 2, 0, -2)],
            "one": np.arange(n)}[pattern].astype(np.int64) * 7 - 1000
    for k in (-1, 0, 1, 2, n // 2, n - 1, n, n + 3):
        np.testing.assert_array_equal(J._smallest(keys.copy(), k), np.sort(keys)[:k] if k >= 0 else np.sort(keys))


def found(out: np.ndarray) -> int:
    """Detections before the -1 end marker."""
    end = np.flatnonzero(out[0, 0, :, 0] == -1)
    return int(end[0]) if len(end) else out.shape[2]


@pytest.mark.parametrize("decrease", [False, True])
def test_detection_kernel_keep_top_k_ties_across_classes(decrease):
    """Every score equal: keep_top_k keeps the lower prior, then the lower class."""
    inputs, attrs = jit_case("ssd")
    inputs["conf"][:] = 0.5
    a = D.DetectionAttrs(**{**attrs.__dict__, "keep_top_k": 13, "nms_threshold": np.float32(0.9),
                            "decrease_label_id": decrease})
    fast = D.detect_jit(*inputs.values(), attrs=a)
    assert_same_bits(fast, D.detect(*inputs.values(), attrs=a))
    assert found(fast) == 26


def test_detection_kernel_on_odd_values():
    """NaN scores never pass; -0.0 and 0.0 tie (ordered by prior); logits whose exp overflows give inf
    boxes, without a warning; NaN logits give NaN boxes."""
    inputs, attrs = jit_case("ssd")
    conf = inputs["conf"].reshape(2, 400, 8)
    conf[0, ::3, 2] = np.nan
    conf[0, ::2, 3] = -0.0  # class 3: ties only, kept in prior order
    conf[0, 1::2, 3] = 0.0
    loc = inputs["loc"].reshape(2, 400, 4)
    loc[0, :50, 2] = 500  # exp overflows
    loc[1, :20, 1] = np.nan
    for threshold in (-0.5, 0.05):
        a = D.DetectionAttrs(**{**attrs.__dict__, "confidence_threshold": np.float32(threshold), "top_k": -1,
                                "keep_top_k": -1})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fast = D.detect_jit(*inputs.values(), attrs=a)
        assert_same_bits(fast, D.detect(*inputs.values(), attrs=a))
        assert np.isinf(fast).any() and np.isnan(fast).any()


def test_specialized_detection_output_takes_new_shapes():
    """The load-time specialization keeps one checked layout per input shape."""
    run = D._prepare_detection_output([None] * 3, keep_top_k=[50], nms_threshold=0.45, top_k=30,
                                      code_type=CENTER, confidence_threshold=0.1, normalized=True)
    attrs = D.DetectionAttrs(keep_top_k=50, nms_threshold=np.float32(0.45), top_k=30, center_size=True,
                             confidence_threshold=np.float32(0.1), normalized=True)
    for seed, (N, P, C_) in enumerate([(1, 60, 4), (2, 60, 4), (1, 90, 3), (1, 60, 4)]):
        inputs = detection_inputs(seed, N, P, C_)
        assert_same_bits(run(*inputs.values()), D.detect(*inputs.values(), attrs=attrs))
    with pytest.raises(ValueError, match="do not match"):
        run(inputs["loc"][:, :-4], inputs["conf"], inputs["priors"])


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


def test_prior_boxes_of_a_reshaped_model_are_computed_once(tmp_path):
    """Reshaped at load time, the model keeps its ShapeOf -> PriorBox subgraphs: the boxes are then
    computed at the first inference and shared, read-only, by the next ones."""
    path = save(build_ssd_head(), tmp_path / "ssd.xml")
    image = np.random.default_rng(4).standard_normal((1, 3, 32, 32)).astype(np.float32)
    [ref] = compile_model(path)({"image": image}).values()
    compiled = compile_model(path, shapes={"image": [1, 3, 32, 32]})
    for _ in range(2):
        [got] = compiled({"image": image}).values()
        np.testing.assert_array_equal(got, ref)
    status = {p.node_type: p.status for p in compiled.get_profiling_info()}
    assert status["PriorBox"] == status["PriorBoxClustered"] == "EXECUTED"

    attrs = PRIOR_BOX["ssd"][1]
    run = PB._prepare_prior_box([None, None], **attrs)
    for fm, im in [([5, 5], [40, 40]), ([3, 4], [30, 40]), ([5, 5], [40, 40])]:
        fm, im = np.array(fm, np.int64), np.array(im, np.int64)
        boxes = run(fm, im)
        np.testing.assert_array_equal(boxes, PB.prior_box(fm, im, **attrs))
        assert not boxes.flags.writeable and run(fm.copy(), im.copy()) is boxes
    with pytest.raises(IRFormatError, match="2 integers"):
        run(np.array([5.0, 5.0]), np.array([40, 40]))
    clustered = PRIOR_BOX_CLUSTERED["steps-variance4"][0]
    run = PB._prepare_prior_box_clustered([None, None], **clustered)
    fm, im = np.array([4, 5], np.int32), np.array([24, 40], np.int32)
    np.testing.assert_array_equal(run(fm, im), PB.prior_box_clustered(fm, im, **clustered))


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
