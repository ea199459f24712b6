"""Pooling, Interpolate and reduction kernels against OpenVINO, and the numba pooling kernel against numpy.

Each case builds a one-op model with the data input as a Parameter (nothing constant-folds), has
OpenVINO save it, and compares OpenVINO's CPU results with irtool's: max abs error <= 1e-4 * max|ref|,
integer outputs (indices) exactly equal.
"""
from __future__ import annotations

import numpy as np
import pytest
from openvino import opset1, opset2, opset3, opset4, opset5, opset6, opset8, opset10, opset11, opset14

from irtool.runtime.kernels import pooling as P
from tests.oracle import check_against_openvino, ops, ov


def C(values, dtype=np.int64):
    return ops.constant(np.array(values, dtype))


def check(build, shape, tmp_path, dtype=np.float32, inputs=None):
    x = ops.parameter(shape, dtype, name="x")
    check_against_openvino(ov.Model(build(x).outputs(), [x]), tmp_path, inputs)


# ------------------------------------------------------------------------------------------ pooling
# (input shape, kernel, strides, dilations, pads_begin, pads_end, rounding_type, auto_pad)
POOL_GEOMS = [
    ([2, 3, 9, 8], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], "floor", "explicit"),
    ([2, 3, 9, 8], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], "ceil", "explicit"),
    ([1, 4, 7, 9], [2, 3], [1, 2], [2, 1], [0, 1], [1, 0], "floor", "explicit"),  # asymmetric pads, dilation
    ([1, 4, 8, 8], [3, 3], [3, 3], [1, 1], [0, 1], [2, 2], "ceil", "explicit"),  # last windows in the padding
    ([1, 2, 7, 6], [2, 2], [2, 2], [1, 1], [0, 0], [0, 0], "ceil", "explicit"),  # clipped, no pads
    ([1, 3, 7, 6], [3, 3], [2, 2], [1, 1], [0, 0], [0, 0], "floor", "same_upper"),
    ([1, 3, 7, 6], [2, 3], [2, 1], [1, 1], [0, 0], [0, 0], "floor", "same_lower"),
    ([1, 3, 8, 7], [2, 2], [1, 2], [1, 1], [0, 0], [0, 0], "ceil", "same_upper"),
    ([1, 3, 9, 9], [3, 2], [1, 1], [2, 3], [1, 1], [1, 1], "floor", "valid"),
    ([2, 2, 11], [3], [2], [1], [1], [0], "ceil", "explicit"),  # 1-D
    ([2, 2, 10], [4], [3], [2], [0], [0], "floor", "same_lower"),  # 1-D
    ([1, 2, 5, 6, 7], [3, 2, 2], [2, 1, 2], [1, 1, 1], [1, 0, 1], [0, 1, 1], "ceil", "explicit"),  # 3-D
    ([1, 2, 5, 6, 7], [2, 3, 2], [1, 2, 2], [1, 1, 2], [0, 0, 0], [0, 0, 0], "floor", "same_upper"),  # 3-D
]


def _torch(rt):
    return "ceil_torch" if rt == "ceil" else rt


POOL_OPS = {
    "max1": lambda x, k, s, d, pb, pe, rt, ap: opset1.max_pool(x, s, pb, pe, k, rt, ap),
    "max8-axis0-i64": lambda x, k, s, d, pb, pe, rt, ap: opset8.max_pool(x, s, d, pb, pe, k, rt, ap, "i64", 0),
    "max8-axis2-i32": lambda x, k, s, d, pb, pe, rt, ap: opset8.max_pool(x, s, d, pb, pe, k, rt, ap, "i32", 2),
    "max14-axis1": lambda x, k, s, d, pb, pe, rt, ap: opset14.max_pool(x, s, d, pb, pe, k, _torch(rt), ap, "i64", 1),
    "avg1-exclude": lambda x, k, s, d, pb, pe, rt, ap: opset1.avg_pool(x, s, pb, pe, k, True, rt, ap),
    "avg1-include": lambda x, k, s, d, pb, pe, rt, ap: opset1.avg_pool(x, s, pb, pe, k, False, rt, ap),
    "avg14-include": lambda x, k, s, d, pb, pe, rt, ap: opset14.avg_pool(x, s, pb, pe, k, False, _torch(rt), ap),
}


POOL_CASES = [pytest.param(op, g, id=f"{op}-{g[0]}-k{g[1]}s{g[2]}d{g[3]}-{g[4]}{g[5]}-{g[6]}-{g[7]}")
              for g in POOL_GEOMS for op in POOL_OPS
              if set(g[3]) == {1} or op.startswith("max") and op != "max1"]  # AvgPool, MaxPool-1: no dilations


@pytest.mark.parametrize("op,geom", POOL_CASES)
def test_pooling_matches_openvino(op, geom, tmp_path):
    shape, k, s, d, pb, pe, rt, ap = geom
    check(lambda x: POOL_OPS[op](x, k, s, d, pb, pe, rt, ap), shape, tmp_path)


def test_max_pool_ties_pick_the_first_maximum(tmp_path):
    x = {"x": np.random.default_rng(1).integers(0, 3, (2, 3, 7, 8)).astype(np.float32)}
    check(lambda v: opset8.max_pool(v, [2, 1], [2, 2], [1, 1], [1, 1], [3, 3], "ceil", "explicit", "i64", 0),
          [2, 3, 7, 8], tmp_path, inputs=x)


def test_max_pool_window_in_padding_only(tmp_path):
    # OpenVINO: lowest() float and index 0 for a window of padding; AvgPool exclude-pad: 0/0 = NaN
    x = {"x": np.arange(7, dtype=np.float32).reshape(1, 1, 1, 7) - 10}
    check(lambda v: opset8.max_pool(v, [1, 2], [1, 1], [0, 1], [0, 1], [1, 2], "ceil", "explicit", "i64", 0),
          [1, 1, 1, 7], tmp_path, inputs=x)
    check(lambda v: opset1.avg_pool(v, [1, 2], [0, 1], [0, 1], [1, 2], True, "ceil"), [1, 1, 1, 7], tmp_path, inputs=x)


@pytest.mark.parametrize("shape,out", [([2, 3, 7, 9], [3, 4]), ([2, 3, 7, 9], [9, 11]), ([2, 3, 7], [4]),
                                       ([1, 2, 5, 7, 9], [2, 3, 4]), ([1, 3, 6, 6], [1, 1])])
def test_adaptive_pooling_matches_openvino(shape, out, tmp_path):
    check(lambda x: opset8.adaptive_avg_pool(x, C(out)), shape, tmp_path)
    check(lambda x: opset8.adaptive_max_pool(x, C(out), "i32"), shape, tmp_path)  # the CPU plugin refuses i64


@pytest.mark.parametrize("geom", [g for g in POOL_GEOMS if len(g[0]) < 5],  # 1-D and 2-D run through numba
                         ids=lambda g: f"{g[0]}-k{g[1]}-{g[6]}-{g[7]}")
@pytest.mark.parametrize("exclude_pad", [True, False])
def test_pool_jit_matches_numpy_reference(geom, exclude_pad):
    shape, k, s, d, pb, pe, rt, ap = geom
    x = np.random.default_rng(2).standard_normal([shape[0] + 1, shape[1] + 2, *shape[2:]]).astype(np.float32)
    x[0, 0].flat[::3] = 0.5  # ties
    st, dil, b, e, out = P._geometry(x.shape[2:], k, s, d, pb, pe, ap, rt)
    v_jit, i_jit = P.pool_jit(x, k, st, dil, b, e, out, True)
    v_ref, i_ref = P.pool_ref(x, k, st, dil, b, e, out, True)
    np.testing.assert_array_equal(v_jit, v_ref)
    np.testing.assert_array_equal(i_jit, i_ref)
    ones = [1] * len(k)
    divs = P._divisors(x.shape[2:], k, st, b, e, out, exclude_pad)
    a_jit = P.pool_jit(x, k, st, ones, b, e, out, False, divs)[0]
    a_ref = P.pool_ref(x, k, st, ones, b, e, out, False, divs)[0]
    np.testing.assert_allclose(a_jit, a_ref, rtol=1e-5, atol=1e-6, equal_nan=True)


INT_CASES = [  # integer tensors (INT8 models keep MaxPool, AvgPool, Interpolate, ReduceMax in u8/i8)
    ([1, 3, 8, 8], lambda x: opset8.max_pool(x, [2, 2], [1, 1], [1, 1], [1, 1], [3, 3], "ceil", "explicit", "i32", 0)),
    ([1, 3, 8, 8], lambda x: opset1.avg_pool(x, [2, 2], [1, 1], [1, 1], [3, 3], True, "ceil")),
    ([1, 3, 6, 8, 8], lambda x: opset1.avg_pool(x, [2, 2, 2], [1, 1, 1], [1, 1, 1], [3, 3, 3], False, "floor")),
    ([1, 3, 8, 8], lambda x: opset11.interpolate(x, C([16, 13]), "nearest", "sizes", None, None, "asymmetric",
                                                 "floor", False, -0.75, C([2, 3]))),
    ([1, 3, 8, 8], lambda x: opset1.reduce_max(x, C([2, 3]), True)),
]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("shape,build", INT_CASES)
def test_integer_tensors_match_openvino(dtype, shape, build, tmp_path):
    info = np.iinfo(dtype)
    x = {"x": np.random.default_rng(4).integers(info.min, info.max, shape, endpoint=True).astype(dtype)}
    check(build, shape, tmp_path, dtype, x)


@pytest.mark.parametrize("op", ["reduce_mean", "reduce_sum", "reduce_prod"])
def test_int32_reduce_matches_openvino(op, tmp_path):  # integer mean truncates toward zero
    x = {"x": np.random.default_rng(5).integers(-1000, 1000, [2, 3, 4, 5]).astype(np.int32)}
    check(lambda v: getattr(opset1, op)(v, C([2, 3] if op != "reduce_prod" else [3]), False), [2, 3, 4, 5], tmp_path,
          np.int32, x)


# ------------------------------------------------------------------------------------------ interpolate
CTMS = ["half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners"]
NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple"]
# (mode, coordinate mode, nearest mode, output HW of a [1, 2, 5, 7] input, sizes|scales)
INTERP = (
    [("nearest", c, n, hw, calc) for c in CTMS for n in NEAREST
     for hw, calc in (([9, 13], "scales"), ([3, 4], "sizes"))]
    + [(m, c, "round_prefer_floor", hw, calc) for m in ("linear", "linear_onnx", "cubic") for c in CTMS
       for hw, calc in (([9, 13], "sizes"), ([3, 4], "scales"), ([10, 3], "sizes"))]
)
PILLOW = [(m, c, "round_prefer_floor", hw, calc) for m in ("bilinear_pillow", "bicubic_pillow")
          for c in ("tf_half_pixel_for_nn", "half_pixel") for hw, calc in (([9, 13], "sizes"), ([3, 4], "scales"))]
# every case as Interpolate-4; Interpolate-11 (same tables, one scales_or_sizes input) on a sample and Pillow
INTERP_CASES = ([("v4", *c) for c in INTERP] + [("v11", *c) for c in INTERP[::3] + PILLOW])


@pytest.mark.parametrize("version,mode,ctm,nearest,hw,calc", INTERP_CASES)
def test_interpolate_matches_openvino(version, mode, ctm, nearest, hw, calc, tmp_path):
    scales = [hw[0] / 5 + 0.07, hw[1] / 7 + 0.05]  # scales mode: scales that are not out/in
    if version == "v4":
        def build(x):
            return opset10.interpolate(x, C(hw), C(scales, np.float32), mode, calc, None, None, ctm, nearest, False,
                                       -0.75, C([2, 3]))
    else:
        def build(x):
            values = C(scales, np.float32) if calc == "scales" else C(hw)
            return opset11.interpolate(x, values, mode, calc, None, None, ctm, nearest, False, -0.75, C([2, 3]))
    check(build, [1, 2, 5, 7], tmp_path)


# (input shape, axes, sizes, mode, antialias, pads_begin, pads_end, coordinate mode)
INTERP_MORE = [
    ([1, 2, 5, 8, 4], [2, 3, 4], [3, 4, 2], "linear", True, None, None, "half_pixel"),  # 5-D: antialias applies
    ([1, 2, 5, 8, 4], [2, 3, 4], [7, 9, 6], "linear", True, None, None, "asymmetric"),
    ([1, 2, 5, 7], [2, 3], [2, 3], "linear", True, None, None, "half_pixel"),  # 4-D: the CPU plugin ignores it
    ([1, 2, 5, 8, 4], [2, 3, 4], [3, 9, 2], "linear_onnx", False, None, None, "half_pixel"),
    ([1, 2, 5, 8, 4], [2, 3, 4], [3, 9, 2], "nearest", False, None, None, "half_pixel"),
    ([2, 3, 6], [2], [11], "linear", False, None, None, "half_pixel"),
    ([2, 3, 6], [2], [4], "cubic", False, None, None, "asymmetric"),
    ([2, 3, 6], [2], [4], "nearest", False, None, None, "align_corners"),
    ([1, 2, 4, 8], [2, 3], [9, 5], "nearest", False, [0, 0, 1, 0], [0, 0, 1, 2], "half_pixel"),
    ([1, 2, 4, 8], [2, 3], [9, 5], "linear_onnx", False, [0, 0, 1, 0], [0, 0, 1, 2], "asymmetric"),
    ([1, 2, 4, 8], [2, 3], [9, 5], "cubic", False, [0, 0, 1, 0], [0, 0, 1, 2], "align_corners"),
    ([1, 2, 4, 8], [2, 3], [9, 5], "linear", False, [0, 0, 1, 0], [0, 0, 1, 2], "half_pixel"),
    ([1, 2, 6, 8], [0, 1, 2, 3], [1, 2, 9, 4], "linear_onnx", False, None, None, "half_pixel"),  # every axis
]


@pytest.mark.parametrize("case", INTERP_MORE, ids=lambda c: f"{c[0]}-{c[3]}-aa{c[4]}-pads{c[5]}")
def test_interpolate_ranks_pads_antialias(case, tmp_path):
    shape, axes, sizes, mode, aa, pb, pe, ctm = case
    scales = [s / shape[a] for s, a in zip(sizes, axes)]
    check(lambda x: opset10.interpolate(x, C(sizes), C(scales, np.float32), mode, "sizes", pb, pe, ctm,
                                        "round_prefer_floor", aa, -0.75, C(axes)), shape, tmp_path)


@pytest.mark.parametrize("scale", [1 / 3, 2 / 3, 0.25, 1.5, 1.1, 2.0])
def test_interpolate_scales_output_size(scale, tmp_path):
    check(lambda x: opset11.interpolate(x, C([scale, scale], np.float32), "nearest", "scales", None, None,
                                        "asymmetric", "floor", False, -0.75, C([2, 3])), [1, 2, 9, 12], tmp_path)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic", "linear_onnx"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("shape,axes,sizes,pads", [
    ([1, 2, 5, 7], [2, 3], [9, 4], None), ([1, 2, 5, 7], [3], [11], None), ([2, 5, 7], [1, 2], [3, 9], None),
    ([1, 2, 3, 5, 4], [2, 3, 4], [4, 7, 3], None), ([1, 2, 5, 7], [2, 3], [9, 4], ([0, 0, 1, 1], [0, 0, 0, 1]))])
def test_interpolate_v1_matches_openvino(mode, align_corners, shape, axes, sizes, pads, tmp_path):
    attrs = {"axes": axes, "mode": mode, "align_corners": align_corners}
    if pads:
        attrs.update(pads_begin=pads[0], pads_end=pads[1])
    check(lambda x: opset1.interpolate(x, C(sizes), attrs), shape, tmp_path)


# ------------------------------------------------------------------------------------------ reductions
S = [2, 3, 4, 5]
REDUCE = ([(opset1, op, axes, kd) for op in ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod")
           for axes in ([1], [-1], [0, 2], [1, -1]) for kd in (False, True)]
          + [(opset1, op, [], True) for op in ("reduce_sum", "reduce_max")]  # no axes: unchanged
          + [(opset4, op, axes, kd) for op in ("reduce_l1", "reduce_l2") for axes in ([1], [-2, 3])
             for kd in (False, True)])


@pytest.mark.parametrize("opset,op,axes,keep_dims", REDUCE, ids=[f"{o}-{a}-{k}" for _, o, a, k in REDUCE])
def test_reduce_matches_openvino(opset, op, axes, keep_dims, tmp_path):
    check(lambda x: getattr(opset, op)(x, C(axes), keep_dims), S, tmp_path)


@pytest.mark.parametrize("op", ["reduce_logical_and", "reduce_logical_or"])
@pytest.mark.parametrize("axes,keep_dims", [([1], True), ([-1, 0], False)])
def test_logical_reduce_matches_openvino(op, axes, keep_dims, tmp_path):
    x = {"x": np.random.default_rng(0).random(S) > 0.3}
    check(lambda v: getattr(opset1, op)(v, C(axes), keep_dims), S, tmp_path, np.bool_, x)


@pytest.mark.parametrize("build", [
    lambda x: opset1.softmax(x, 0), lambda x: opset1.softmax(x, 3), lambda x: opset8.softmax(x, -1),
    lambda x: opset8.softmax(x, -3), lambda x: opset5.log_softmax(x, 1), lambda x: opset5.log_softmax(x, -1)])
def test_softmax_matches_openvino(build, tmp_path):
    check(build, S, tmp_path)


MVN = ([(lambda x, ac=ac, nv=nv: opset2.mvn(x, ac, nv, 0.1)) for ac in (False, True) for nv in (False, True)]
       + [(lambda x, a=a, nv=nv, m=m: opset6.mvn(x, C(a), nv, 0.1, m))
          for a in ([2, 3], [1, 2, 3], [-1]) for nv in (False, True) for m in ("inside_sqrt", "outside_sqrt")])


@pytest.mark.parametrize("build", MVN)
def test_mvn_matches_openvino(build, tmp_path):  # eps=0.1 tells inside from outside the square root
    check(build, S, tmp_path)


@pytest.mark.parametrize("axes", [[1], [-1], [2, 3], [1, 2, 3]])
@pytest.mark.parametrize("eps_mode", ["add", "max"])
def test_normalize_l2_matches_openvino(axes, eps_mode, tmp_path):
    check(lambda x: opset1.normalize_l2(x, C(axes), 0.5, eps_mode), S, tmp_path)


@pytest.mark.parametrize("opset", [opset1, opset5])
@pytest.mark.parametrize("shape", [S, [4, 3]])
def test_batch_norm_matches_openvino(opset, shape, tmp_path):
    g, b, mu, var = (C(np.random.default_rng(i).random(3) + 0.1, np.float32) for i in range(4))
    check(lambda x: opset.batch_norm_inference(x, g, b, mu, var, 0.01), shape, tmp_path)


@pytest.mark.parametrize("axis", [0, 2, -1])
@pytest.mark.parametrize("exclusive,reverse", [(False, False), (True, False), (False, True), (True, True)])
def test_cumsum_matches_openvino(axis, exclusive, reverse, tmp_path):
    check(lambda x: opset3.cumsum(x, C(axis), exclusive, reverse), S, tmp_path)


@pytest.mark.parametrize("opset", [opset1, opset3, opset11])
@pytest.mark.parametrize("mode,sort", [("max", "value"), ("min", "value"), ("max", "index"), ("min", "none")])
@pytest.mark.parametrize("axis,k", [(1, 2), (-1, 3), (3, 5)])
def test_topk_matches_openvino(opset, mode, sort, axis, k, tmp_path):
    check(lambda x: opset.topk(x, C(k), axis, mode, sort, "i32"), S, tmp_path)


@pytest.mark.parametrize("mode,sort,axis", [("max", "value", 3), ("min", "value", 1), ("max", "index", 3)])
def test_topk_stable_ties(mode, sort, axis, tmp_path):
    x = {"x": np.random.default_rng(3).integers(0, 3, S).astype(np.float32)}
    check(lambda v: opset11.topk(v, C(3), axis, mode, sort, "i64", True), S, tmp_path, inputs=x)


@pytest.mark.parametrize("rows", [1, 3, 16, 64, 257])
@pytest.mark.parametrize("n", [1, 5, 8, 9, 16, 49, 64, 100, 128, 129, 300])
def test_global_mean_is_numpys_mean_bit_for_bit(rows, n):
    """The load-time specialized global average (its own pairwise sum for rows up to 128 values)
    rounds exactly as numpy's mean, which the generic ReduceMean kernel uses."""
    from irtool.runtime.kernels import reduce as R
    from irtool.runtime.registry import find_kernel  # noqa: F401  (registers every kernel)

    x = (np.random.default_rng(n).standard_normal((rows, 2, n)) * 10).astype(np.float32)
    axes = np.array([2], np.int64)
    run = R._prepare_mean([None, axes], keep_dims=True)
    np.testing.assert_array_equal(run(x, axes), R._KERNELS["ReduceMean"](x, axes, keep_dims=True))


@pytest.mark.parametrize("shape, axes", [((1, 64, 64), [1]), ((3, 17, 5, 9), [1, 2]), ((2, 7, 33), [-2]),
                                         ((4, 5, 6), [0]), ((2, 300, 3), [1]), ((2, 3, 4), [0, 2]), ((5, 1, 4), [1])])
@pytest.mark.parametrize("keep_dims", [False, True])
def test_mean_over_middle_axes_is_numpys_mean_bit_for_bit(shape, axes, keep_dims):
    """The load-time specialized mean over a block of middle axes (a transformer's mean over its
    sequence: rows added in order, divided in float64) rounds exactly as numpy's mean; axes that are
    not one block take the generic kernel."""
    from irtool.runtime.kernels import reduce as R
    from irtool.runtime.registry import find_kernel  # noqa: F401  (registers every kernel)

    x = (np.random.default_rng(len(shape)).standard_normal(shape) * 10).astype(np.float32)
    axes = np.array(axes, np.int64)
    got = R._prepare_mean([None, axes], keep_dims=keep_dims)(x, axes)
    want = np.mean(x, axis=tuple(int(a) for a in axes), keepdims=keep_dims)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


# (input shape, kernel, strides, dilations, pads_begin, pads_end, rounding_type): windows inside the input,
# reaching into the padding, past the end (ceil), dilated, 1-D
MAX_GEOMS = [
    ((1, 16, 32, 32), [2, 2], [2, 2], [1, 1], [0, 0], [0, 0], "floor"),
    ((2, 3, 9, 7), [3, 2], [2, 3], [1, 1], [0, 0], [0, 0], "floor"),
    ((2, 3, 9, 7), [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], "ceil"),
    ((1, 4, 8, 8), [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], "floor"),
    ((1, 4, 8, 8), [2, 2], [2, 2], [1, 1], [0, 1], [1, 0], "ceil"),
    ((1, 2, 7, 9), [2, 3], [1, 2], [2, 1], [0, 1], [1, 0], "floor"),
    ((1, 2, 3, 4), [3, 3], [3, 3], [1, 1], [2, 2], [2, 2], "ceil"),  # windows of padding only
    ((2, 2, 11), [3], [2], [1], [1], [0], "ceil"),
    ((1, 64, 48, 48), [2, 2], [2, 2], [1, 1], [0, 0], [0, 0], "floor"),  # over SERIAL_BELOW: the parallel copy
]


def _max_input(shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    x.flat[::7] = 0.5  # ties: the first maximum wins
    x.flat[::11], x.flat[1::11] = -0.0, 0.0  # so does the first of -0.0 and 0.0
    return x


@pytest.mark.parametrize("geom", MAX_GEOMS, ids=lambda g: f"{g[0]}-k{g[1]}s{g[2]}d{g[3]}-{g[4]}{g[5]}-{g[6]}")
def test_max_pool_kernel_matches_the_general_kernel_and_numpy(geom):
    shape, k, s, d, pb, pe, rt = geom
    x = _max_input(shape)
    st, dil, b, e, out = P._geometry(shape[2:], k, s, d, pb, pe, "explicit", rt)
    v = P.max_pool_jit(x, k, st, dil, b, out)
    np.testing.assert_array_equal(v.view(np.uint32), P.pool_jit(x, k, st, dil, b, e, out, True)[0].view(np.uint32))
    np.testing.assert_array_equal(v, P.pool_ref(x, k, st, dil, b, e, out, True)[0])  # bit for bit above: -0.0 too
    x.flat[::3] = np.nan  # NaN never wins (pool_ref's argmax would pick it: the general kernel is the reference)
    x[0, 0] = -np.inf  # a window of -inf gives lowest()
    v = P.max_pool_jit(x, k, st, dil, b, out)
    np.testing.assert_array_equal(v.view(np.uint32), P.pool_jit(x, k, st, dil, b, e, out, True)[0].view(np.uint32))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("geom", MAX_GEOMS[:4], ids=lambda g: f"{g[0]}-k{g[1]}s{g[2]}-{g[4]}{g[5]}")
def test_max_pool_kernel_on_int8_codes(dtype, geom):
    shape, k, s, d, pb, pe, rt = geom
    info = np.iinfo(dtype)
    x = np.random.default_rng(1).integers(info.min, info.max + 1, shape).astype(dtype)
    x[0, 0] = info.min  # a window of the lowest code only
    st, dil, b, e, out = P._geometry(shape[2:], k, s, d, pb, pe, "explicit", rt)
    v = P.max_pool_jit(x, k, st, dil, b, out)
    assert v.dtype == dtype
    np.testing.assert_array_equal(v, P.pool_ref(x, k, st, dil, b, e, out, True)[0])


def test_specialized_max_pool_takes_new_shapes():
    """The load-time specialization keeps one plan per input shape and type; values alone when nobody
    reads the indices."""
    attrs = dict(kernel=[3, 3], strides=[2, 2], pads_begin=[1, 1], pads_end=[1, 1], rounding_type="ceil")
    run = P._prepare_max_pool_v8([None], **attrs, axis=2, outputs_used=(True, False))
    run_idx = P._prepare_max_pool_v8([None], **attrs, axis=2, outputs_used=(True, True))
    run_v1 = P._prepare_max_pool_v1([None], **attrs)
    for shape, dtype in [((1, 3, 9, 9), np.float32), ((2, 3, 6, 10), np.float32), ((1, 3, 9, 9), np.uint8),
                         ((1, 3, 9, 9), np.float32)]:
        x = np.abs(_max_input(shape) * 50).astype(dtype)
        st, dil, b, e, out = P._geometry(shape[2:], [3, 3], [2, 2], [], [1, 1], [1, 1], "explicit", "ceil")
        values, local = P.pool_ref(x, [3, 3], st, dil, b, e, out, True)
        np.testing.assert_array_equal(run(x)[0], values)
        assert run(x)[1] is None
        np.testing.assert_array_equal(run_v1(x), values)
        got = run_idx(x)
        np.testing.assert_array_equal(got[0], values)
        np.testing.assert_array_equal(got[1], P._indices(x, local, 2, "i64"))
