"""Elementwise, activation, data-movement and FakeQuantize kernels against OpenVINO, op by op."""
from __future__ import annotations

import numpy as np
import pytest
from openvino import opset1, opset3, opset4, opset8, opset12

from irtool.runtime.kernels.fake_quantize import fake_quantize, fake_quantize_reference
from tests.oracle import check_against_openvino, ov, ops

F = np.float32


def param(shape, dtype=F, name="x"):
    return ops.parameter(shape, dtype, name=name)


def const(v, dtype=np.int64):
    return ops.constant(np.array(v, dtype=dtype))


def model(*outs, params):
    return ov.Model(list(outs), list(params), "op")


# name -> builder returning an ov.Model; data inputs are Parameters so nothing folds away
def _binary(fn, a_shape=(2, 3, 4), b_shape=(3, 1), dtype=F):
    a, b = param(a_shape, dtype, "a"), param(b_shape, dtype, "b")
    return model(fn(a, b), params=[a, b])


def _unary(fn, shape=(2, 3, 5)):
    x = param(shape)
    return model(fn(x), params=[x])


CASES = {
    "add": lambda: _binary(ops.add),
    "subtract": lambda: _binary(ops.subtract),
    "multiply-none": lambda: _binary(lambda a, b: ops.multiply(a, b, "none"), (2, 3), (2, 3)),
    "divide": lambda: _binary(ops.divide),
    "power": lambda: _binary(lambda a, b: ops.power(ops.abs(a), b)),
    "maximum": lambda: _binary(ops.maximum),
    "minimum": lambda: _binary(ops.minimum),
    "squared-difference": lambda: _binary(ops.squared_difference),
    "floor-mod": lambda: _binary(ops.floor_mod),
    "compare": lambda: _binary(lambda a, b: ops.convert(ops.less_equal(a, b), "f32")),
    "select": lambda: _binary(lambda a, b: ops.select(ops.greater(a, b), a, b)),
    "logical": lambda: _binary(lambda a, b: ops.convert(ops.logical_xor(ops.greater(a, F(0)), ops.less(b, F(0))), "i32")),
    **{f"unary-{n}": (lambda f: lambda: _unary(f))(f) for n, f in {
        "abs": ops.abs, "neg": ops.negative, "sign": ops.sign, "floor": ops.floor, "ceil": ops.ceiling,
        "exp": ops.exp, "erf": ops.erf, "tanh": ops.tanh, "sigmoid": ops.sigmoid, "relu": ops.relu,
        "sqrt": lambda x: ops.sqrt(ops.abs(x)), "log": lambda x: ops.log(ops.abs(x)), "hswish": ops.hswish,
        "hsigmoid": ops.hsigmoid, "mish": ops.mish, "softplus": ops.softplus, "softsign": ops.softsign,
        "gelu-erf": lambda x: ops.gelu(x, "erf"), "gelu-tanh": lambda x: ops.gelu(x, "tanh"),
        "gelu-v2": opset4.gelu, "swish": ops.swish, "swish-beta": lambda x: ops.swish(x, ops.constant(F(1.7))),
        "elu": lambda x: ops.elu(x, 0.7), "clamp": lambda x: ops.clamp(x, -0.5, 0.8),
        "round-even": lambda x: ops.round(ops.multiply(x, const(4, F)), "half_to_even"),
        "round-away": lambda x: ops.round(ops.multiply(x, const(4, F)), "half_away_from_zero"),
        "convert-i32": lambda x: ops.convert(ops.multiply(x, const(3, F)), "i32"),
        "convert-f16": lambda x: ops.convert(x, "f16"),
    }.items()},
    "prelu-channel": lambda: _unary(lambda x: ops.prelu(x, ops.constant(np.array([0.1, 0.2, 0.3], F)))),
    "selu": lambda: _unary(lambda x: ops.selu(x, ops.constant(np.array([1.67], F)), ops.constant(np.array([1.05], F)))),
    "reshape-special-zero": lambda: _unary(lambda x: ops.reshape(x, const([0, -1]), True)),
    "squeeze": lambda: _unary(lambda x: ops.squeeze(x, const([0, -1])), (1, 3, 1)),
    "squeeze-all": lambda: _unary(lambda x: opset1.squeeze(x, const([0, 2])), (1, 3, 1)),
    "unsqueeze": lambda: _unary(lambda x: ops.unsqueeze(x, const([0, -1]))),
    "transpose": lambda: _unary(lambda x: ops.transpose(x, const([2, 0, 1]))),
    "concat": lambda: _binary(lambda a, b: ops.concat([a, a], -1)),
    "split": lambda: _unary(lambda x: ops.split(x, const(-1), 5).output(3)),
    "variadic-split": lambda: _unary(lambda x: ops.variadic_split(x, const(1), const([1, -1])).output(1)),
    "strided-slice": lambda: _unary(lambda x: ops.strided_slice(x, const([0, 1, 4]), const([2, 3, 0]), const([1, 1, -2]),
                                                             [1, 0, 0], [1, 0, 1]), (2, 3, 5)),
    "strided-slice-shrink": lambda: _unary(lambda x: ops.strided_slice(x, const([0, 1, 0]), const([2, 2, 5]), const([1, 1, 1]),
                                                                    [0, 0, 0], [0, 0, 0], [], [0, 1, 0]), (2, 3, 5)),
    "strided-slice-new-axis": lambda: _unary(lambda x: ops.strided_slice(x, const([0, 0]), const([0, 0]), const([1, 1]),
                                                                      [0, 1], [0, 1], [1, 0]), (2, 3, 5)),
    "strided-slice-ellipsis": lambda: _unary(lambda x: ops.strided_slice(x, const([0, 1]), const([0, 3]), const([1, 1]),
                                                                      [0, 0], [0, 0], [], [], [1, 0]), (2, 3, 5)),
    "slice": lambda: _unary(lambda x: opset8.slice(x, const([1, -4]), const([9, 100]), const([1, 2]), const([1, 2])), (2, 3, 5)),
    "slice-negative-step": lambda: _unary(lambda x: opset8.slice(x, const([-1]), const([-100]), const([-2]), const([2])), (2, 3, 5)),
    "gather": lambda: _unary(lambda x: ops.gather(x, const([[0, 2], [1, -1]]), const(2)), (2, 3, 5)),
    "gather-v1": lambda: _unary(lambda x: opset1.gather(x, const([0, 2]), const(1)), (2, 3, 5)),
    "gather-batch": lambda: _unary(lambda x: ops.gather(x, const([[0, 4], [1, 2]]), const(2), 1), (2, 3, 5)),
    "gather-elements": lambda: _unary(lambda x: ops.gather_elements(x, const(np.zeros((2, 3, 2))), 2), (2, 3, 5)),
    "gather-nd": lambda: _unary(lambda x: ops.gather_nd(x, const([[0, 1], [1, 2]]), 0), (2, 3, 5)),
    "shape-of-dynamic": lambda: _unary(lambda x: ops.convert(opset3.shape_of(x, "i32"), "f32"), (-1, 3)),
    "broadcast": lambda: _unary(lambda x: ops.broadcast(x, const([2, 2, 3, 1])), (2, 3, 1)),
    "broadcast-bidirectional": lambda: _unary(lambda x: ops.broadcast(x, const([4, 1, 2]), broadcast_spec="bidirectional"), (3, 1)),
    "broadcast-explicit": lambda: _unary(lambda x: opset1.broadcast(x, const([2, 3, 4]), const([1]), "explicit"), (3,)),
    "tile": lambda: _unary(lambda x: ops.tile(x, const([2, 1, 3])), (1, 2, 2)),
    "pad-constant": lambda: _unary(lambda x: ops.pad(x, const([0, 1, 2]), const([1, 0, 1]), "constant", ops.constant(F(0.5))), (2, 3, 4)),
    "pad-reflect": lambda: _unary(lambda x: ops.pad(x, const([0, 1, 2]), const([1, 0, 1]), "reflect"), (2, 3, 4)),
    "pad-symmetric": lambda: _unary(lambda x: ops.pad(x, const([0, 1, 2]), const([1, 0, 1]), "symmetric"), (2, 3, 4)),
    "pad-edge-negative": lambda: _unary(lambda x: opset12.pad(x, const([0, -1, 2]), const([1, 0, -1]), "edge"), (2, 3, 4)),
    "range": lambda: _unary(lambda x: ops.add(x, ops.range(const(1.0, F), const(3.9, F), const(0.5, F), "f32")), (6,)),
    "depth-to-space": lambda: _unary(lambda x: ops.depth_to_space(x, "blocks_first", 2), (1, 8, 2, 3)),
    "depth-to-space-df": lambda: _unary(lambda x: ops.depth_to_space(x, "depth_first", 2), (1, 8, 2, 3)),
    "space-to-depth": lambda: _unary(lambda x: ops.space_to_depth(x, "blocks_first", 2), (1, 2, 4, 6)),
    "space-to-depth-df": lambda: _unary(lambda x: ops.space_to_depth(x, "depth_first", 2), (1, 2, 4, 6)),
    "shuffle-channels": lambda: _unary(lambda x: ops.shuffle_channels(x, 1, 3), (1, 6, 2, 2)),
    "scatter-update": lambda: _binary(lambda a, b: ops.scatter_update(a, const([2, 0]), b, const(1)), (3, 4), (3, 2)),
    "one-hot": lambda: _unary(lambda x: ops.add(ops.one_hot(ops.convert(ops.abs(x), "i64"), const(4), const(1.0, F),
                                                           const(0.0, F), -1), F(0)), (2, 3)),
    "fake-quantize": lambda: _unary(lambda x: ops.fake_quantize(x, const(-1.3, F), const(2.7, F), const(0.0, F),
                                                                 const(4.0, F), 256)),
    "fake-quantize-per-channel": lambda: _unary(lambda x: ops.fake_quantize(
        x, const([[-1], [-2], [-0.5]], F), const([[1], [2], [0.5]], F),
        const([[-1], [-2], [-0.5]], F), const([[1], [2], [0.5]], F), 255), (2, 3, 5)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_kernel_matches_openvino(case, tmp_path):
    check_against_openvino(CASES[case](), tmp_path)


def test_fake_quantize_rounds_half_to_even_and_matches_the_spec():
    x = np.array([-3.0, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 126.9, 200.0], F)
    lo, hi = F(-128), F(127)
    y = fake_quantize(x, lo, hi, lo, hi, levels=256)
    np.testing.assert_array_equal(y, [-3, -2, -2, -0, 0, 2, 2, 127, 127])
    rng = np.random.default_rng(0)
    x = rng.standard_normal(10_000).astype(F) * 3
    ref = fake_quantize_reference(x, -1.3, 2.7, -1.0, 1.0, 255)
    np.testing.assert_allclose(fake_quantize(x, F(-1.3), F(2.7), F(-1), F(1), levels=255), ref, atol=1e-6)


def test_dynamic_input_with_shape_override(tmp_path):
    x = param((-1, 3, -1))
    m = model(ops.relu(ops.reshape(x, ops.shape_of(x), False)), params=[x])
    inputs = {"x": np.random.default_rng(1).standard_normal((4, 3, 7)).astype(F)}
    check_against_openvino(m, tmp_path, inputs, shapes={"x": (4, 3, 7)})
    check_against_openvino(m, tmp_path, inputs)


def test_integer_division_floors_like_python(tmp_path):
    # The spec (m_pythondiv=true) and OpenVINO's constant folding floor; its CPU plugin truncates
    # (-7 / 2 = -3) at run time. irtool follows the spec, so the oracle here is the folded graph.
    a = np.array([7, -7, 7, -7, 0, 9], np.int32)
    b = np.array([2, 2, -2, -2, 3, 4], np.int32)
    folded = model(ops.divide(ops.constant(a), ops.constant(b)), params=[])
    got = check_against_openvino(folded, tmp_path)[0]
    np.testing.assert_array_equal(got, a // b)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("mask", [None, "float", "bool"])
def test_scaled_dot_product_attention(tmp_path, causal, mask):
    rng = np.random.default_rng(0)
    shapes = {"q": (1, 4, 6, 8), "k": (1, 4, 5, 8), "v": (1, 4, 5, 3)}
    params = [param(s, F, n) for n, s in shapes.items()]
    inputs = {n: rng.standard_normal(s).astype(F) for n, s in shapes.items()}
    extra = []
    if mask == "float":
        extra = [param((1, 1, 6, 5), F, "m"), ops.constant(F(0.3))]
        inputs["m"] = rng.standard_normal((1, 1, 6, 5)).astype(F)
    elif mask == "bool":
        extra = [param((1, 1, 6, 5), np.bool_, "m")]
        inputs["m"] = np.tril(np.ones((1, 1, 6, 5), bool))
    out = ops.scaled_dot_product_attention(*params, *extra, causal=causal)
    check_against_openvino(model(out, params=params + [e for e in extra if e.get_type_name() == "Parameter"]),
                           tmp_path, inputs)


@pytest.mark.parametrize("shape", [(2, 3, 7), (1, 4, 64, 64), (5, 1)])
def test_softmax_and_mvn_fast_paths_match_their_references(shape):
    from irtool.runtime.kernels.reduce import mvn_reference, mvn_v6, softmax, softmax_ref

    x = (np.random.default_rng(0).standard_normal(shape) * 4).astype(F)
    np.testing.assert_allclose(softmax(x, axis=-1), softmax_ref(x, x.ndim - 1), rtol=1e-5, atol=1e-7)
    axes = np.array([x.ndim - 1])
    for inside in (True, False):
        got = mvn_v6(x, axes, eps=1e-5, eps_mode="inside_sqrt" if inside else "outside_sqrt")
        np.testing.assert_allclose(got, mvn_reference(x, (x.ndim - 1,), True, 1e-5, inside), rtol=1e-4, atol=1e-5)


def test_specialized_reshape_transpose_concat_match_their_kernels():
    """The load-time specializations (constant shape / order) compute what the kernels do."""
    from irtool.runtime.kernels import shape as S

    x = np.arange(2 * 3 * 4 * 5, dtype=F).reshape(2, 3, 4, 5)
    for target, special_zero in [([0, -1], True), ([0, 0, 20], True), ([6, 4, -1], False), ([-1], False)]:
        shape = np.array(target, np.int64)
        run = S._prepare_reshape([None, shape], special_zero=special_zero)
        got = run(x, shape)
        np.testing.assert_array_equal(got, S.reshape(x, shape, special_zero=special_zero))
        assert got.base is not None  # a view: nothing copied
    with pytest.raises(ValueError):
        S._prepare_reshape([None, np.array([7, -1])], special_zero=False)(x, None)
    for order in ([0, 2, 3, 1], [-1, 0, 1, 2], []):
        order = np.array(order, np.int64)
        run = S._prepare_transpose([None, order])
        for v in (x, x[:, :2]):  # contiguous and not
            got = run(v, order)
            np.testing.assert_array_equal(got, S.transpose(v, order))
            assert got.flags.c_contiguous
    assert S._prepare_transpose([None, None]) is None
    run = S._prepare_concat([None, None], axis=-1)
    np.testing.assert_array_equal(run(x, x[..., :2]), S.concat(x, x[..., :2], axis=-1))


@pytest.mark.parametrize("masks", [dict(begin_mask=[0, 0, 0], end_mask=[0, 0, 0]),
                                   dict(begin_mask=[1, 0, 0], end_mask=[0, 1, 0], shrink_axis_mask=[0, 0, 1]),
                                   dict(begin_mask=[0, 0, 0], end_mask=[0, 0, 0], new_axis_mask=[1, 0, 0]),
                                   dict(begin_mask=[0, 0, 0], end_mask=[0, 0, 0], ellipsis_mask=[0, 1, 0])])
def test_specialized_strided_slice_unsqueeze_shape_of_match_their_kernels(masks):
    from irtool.runtime.kernels import shape as S

    x = np.arange(3 * 4 * 5 * 6, dtype=F).reshape(3, 4, 5, 6)
    begin, end = np.array([1, -3, 4], np.int64), np.array([3, 4, 0], np.int64)
    for strides in (None, np.array([1, 2, -2], np.int64)):
        consts = [None, begin, end] + ([] if strides is None else [strides])
        run = S._prepare_strided_slice(consts, **masks)
        args = consts[1:]
        np.testing.assert_array_equal(run(x, *args), S.strided_slice(x, *args, **masks))
    assert S._prepare_strided_slice([None, begin, None], **masks) is None
    for axes in ([0], [-1, 1], [4, 0]):
        axes = np.array(axes, np.int64)
        run = S._prepare_unsqueeze([None, axes])
        for v in (x, x[0]):
            np.testing.assert_array_equal(run(v, axes), S.unsqueeze(v, axes))
    for output_type in ("i32", "i64"):
        got = S._prepare_shape_of([None], output_type=output_type)(x)
        ref = S.shape_of(x, output_type=output_type)
        assert got.dtype == ref.dtype and got.tolist() == ref.tolist()


def test_exp32_within_two_ulp_of_exp():
    """The vectorizable float32 exp of the softmax kernel, against float64 exp over the normal range."""
    import numba

    from irtool.runtime.kernels._math import exp32

    @numba.njit
    def run(x, out):
        for i in range(x.size):
            out[i] = exp32(x[i])

    x = np.concatenate([np.linspace(-87, 88.3, 200_001, dtype=np.float32), [np.nan, np.inf, -np.inf, 0]]).astype(np.float32)
    got = np.empty_like(x)
    run(x, got)
    want = np.exp(x[:-4].astype(np.float64))
    assert np.max(np.abs(got[:-4] - want) / want) <= 2 * 2.0 ** -24
    nan, inf, minus_inf, zero = got[-4:]
    assert np.isnan(nan) and zero == 1
    assert 0 <= minus_inf < 1.2e-38 and 2e38 < inf < 3e38  # clamped to the normal range, not 0 / inf


def test_gelu_fast_path_matches_libm_erf():
    """Gelu's float32 pass with the polynomial erf, against libm's erf (float64 math), incl. large |x|."""
    from irtool.runtime.kernels.activations import gelu_erf, gelu_erf_reference

    x = np.concatenate([np.linspace(-8, 8, 20_001), [0.0, -0.0, 1e-30, -1e30, 1e30]]).astype(np.float32)
    got, want = gelu_erf(x), gelu_erf_reference(x.astype(np.float64))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)  # (1 + erf cancels below x ~ -5)
    assert np.all(got[x < 0] <= 0)
    assert np.isnan(gelu_erf(np.array([np.nan], np.float32)))[0]
