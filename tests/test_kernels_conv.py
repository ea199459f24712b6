"""Convolution family and MatMul kernels: fast path vs the numpy reference beside it, and the op vs OpenVINO.

Criterion everywhere: max abs error <= 1e-4 * max|reference|, same shape and dtype.
A weight tensor one rank above the input means the Group* op.
"""
from __future__ import annotations

import numpy as np
import pytest

from tests.oracle import assert_close, check_against_openvino, ov

from openvino import opset1 as ops  # noqa: E402  (after oracle's importorskip)

from irtool.runtime.kernels import conv, conv_backprop, conv_prepare, matmul  # noqa: E402

E, SU, SL, V = "explicit", "same_upper", "same_lower", "valid"

# id: (x shape, w shape, strides, dilations, pads_begin, pads_end, auto_pad)
FORWARD = {
    "2d-pad1": ([1, 3, 8, 8], [4, 3, 3, 3], [1, 1], [1, 1], [1, 1], [1, 1], E),
    "2d-stride-asym-pads": ([1, 4, 9, 10], [5, 4, 3, 2], [2, 3], [1, 1], [1, 0], [0, 2], E),
    "2d-dilation": ([1, 3, 11, 9], [4, 3, 3, 3], [1, 1], [2, 3], [2, 1], [0, 3], E),
    "2d-same_upper": ([1, 3, 7, 8], [4, 3, 4, 3], [2, 2], [1, 1], [0, 0], [0, 0], SU),
    "2d-same_lower": ([1, 3, 7, 8], [4, 3, 4, 3], [2, 2], [1, 1], [0, 0], [0, 0], SL),
    "2d-same_upper-dil": ([1, 2, 9, 6], [3, 2, 2, 3], [1, 3], [2, 1], [0, 0], [0, 0], SU),
    "2d-valid": ([1, 3, 7, 7], [2, 3, 3, 3], [2, 2], [1, 1], [5, 5], [5, 5], V),
    "2d-1x1": ([1, 8, 6, 6], [6, 8, 1, 1], [1, 1], [1, 1], [0, 0], [0, 0], E),
    "2d-1x1-stride2": ([2, 8, 7, 6], [6, 8, 1, 1], [2, 2], [1, 1], [0, 0], [0, 0], E),
    "2d-1x1-padded": ([1, 4, 5, 5], [3, 4, 1, 1], [1, 1], [1, 1], [1, 0], [0, 1], E),
    "2d-batch2": ([2, 5, 7, 7], [6, 5, 3, 3], [1, 1], [1, 1], [1, 1], [1, 1], E),
    "1d": ([2, 3, 11], [4, 3, 3], [2], [2], [1], [2], E),
    "1d-same_upper": ([1, 3, 10], [2, 3, 4], [3], [1], [0], [0], SU),
    "3d": ([1, 2, 5, 6, 7], [3, 2, 2, 3, 3], [1, 2, 1], [1, 1, 2], [1, 0, 1], [0, 1, 2], E),
    "3d-same_lower-batch2": ([2, 2, 5, 4, 5], [3, 2, 2, 2, 3], [2, 1, 2], [1, 1, 1], [0, 0, 0], [0, 0, 0], SL),
    "group2": ([1, 6, 8, 8], [2, 2, 3, 3, 3], [1, 1], [1, 1], [1, 1], [1, 1], E),
    "group3-1d": ([2, 6, 9], [3, 2, 2, 3], [2], [1], [1], [0], E),
    "group2-3d": ([1, 4, 4, 5, 5], [2, 3, 2, 2, 2, 3], [1, 1, 2], [1, 2, 1], [1, 1, 0], [0, 0, 1], E),
    "depthwise": ([1, 8, 9, 9], [8, 1, 1, 3, 3], [1, 1], [1, 1], [1, 1], [1, 1], E),
    "depthwise-mult2-stride2": ([2, 4, 9, 8], [4, 2, 1, 3, 3], [2, 2], [1, 2], [1, 0], [0, 2], E),
    "depthwise-mult2-5x3-dilated": ([2, 3, 7, 6], [3, 2, 1, 5, 3], [1, 1], [1, 2], [2, 1], [2, 3], E),
    "depthwise-3x3-dilated-narrow": ([1, 4, 6, 2], [4, 1, 1, 3, 3], [1, 1], [2, 2], [2, 3], [2, 1], E),
    "depthwise-same_upper": ([1, 5, 8, 7], [5, 1, 1, 4, 3], [2, 2], [1, 1], [0, 0], [0, 0], SU),
    "depthwise-3x3-stride2": ([1, 6, 9, 8], [6, 1, 1, 3, 3], [2, 2], [1, 1], [1, 1], [1, 1], E),
    "depthwise-3x3-stride2-mult2-pads": ([2, 3, 7, 7], [3, 2, 1, 3, 3], [2, 2], [1, 1], [0, 2], [2, 0], E),
    "depthwise-3x3-stride2-same_upper": ([1, 4, 8, 8], [4, 1, 1, 3, 3], [2, 2], [1, 1], [0, 0], [0, 0], SU),
    "depthwise-3x3-stride2-wide": ([1, 3, 20, 18], [3, 1, 1, 3, 3], [2, 2], [1, 1], [1, 1], [1, 1], E),
    "depthwise-3x3-stride2-7-columns": ([1, 5, 14, 13], [5, 1, 1, 3, 3], [2, 2], [1, 1], [1, 0], [1, 2], E),
    "depthwise-1d": ([1, 4, 12], [4, 1, 1, 5], [1], [2], [3], [1], E),
    "depthwise-3d": ([1, 3, 4, 5, 6], [3, 1, 1, 3, 2, 3], [1, 2, 1], [1, 1, 1], [1, 0, 1], [1, 1, 1], E),
    "single-in-channel": ([1, 1, 6, 6], [4, 1, 3, 3], [1, 1], [1, 1], [0, 0], [0, 0], E),
    # the direct FMA kernel's cases: taps over K_CHUNK (partial sums), channel counts not a multiple of 4,
    # taps read in place (no padding) at the input's row pitch, outputs of under 3 vectors, several
    # work items per pixel tile
    "2d-many-taps": ([1, 40, 12, 13], [6, 40, 3, 3], [1, 1], [1, 1], [1, 1], [1, 1], E),
    "2d-1x1-many-channels": ([1, 300, 5, 7], [9, 300, 1, 1], [1, 1], [1, 1], [0, 0], [0, 0], E),
    "2d-in-place-dilated": ([1, 3, 10, 12], [5, 3, 3, 2], [1, 1], [2, 1], [0, 0], [0, 0], E),
    "2d-one-vector": ([1, 2, 3, 6], [3, 2, 2, 2], [1, 1], [1, 1], [0, 0], [0, 0], E),
    "2d-two-vectors-many-outputs": ([1, 8, 4, 4], [20, 8, 3, 3], [1, 1], [1, 1], [1, 1], [1, 1], E),
    "2d-stride3-dilated": ([2, 5, 17, 19], [7, 5, 3, 3], [3, 2], [2, 3], [2, 1], [1, 2], E),
    "2d-1x1-1kb-planes": ([1, 12, 16, 16], [10, 12, 1, 1], [1, 1], [1, 1], [0, 0], [0, 0], E),
}

# id: (x shape, w shape, strides, dilations, pads_begin, pads_end, auto_pad, output_padding, output_shape)
BACKPROP = {
    "2d-pad1-stride2": ([1, 4, 5, 5], [4, 3, 3, 3], [2, 2], [1, 1], [1, 1], [1, 1], E, [0, 0], None),
    "2d-output_padding": ([1, 4, 5, 6], [4, 3, 3, 4], [2, 3], [1, 1], [1, 0], [0, 2], E, [1, 2], None),
    "2d-dilation": ([1, 3, 4, 5], [3, 2, 3, 2], [1, 2], [2, 3], [0, 1], [1, 0], E, [0, 1], None),
    "2d-outshape-explicit": ([1, 3, 5, 5], [3, 2, 3, 3], [2, 2], [1, 1], [2, 1], [1, 1], E, [0, 0], [9, 12]),
    "2d-outshape-same_upper": ([1, 3, 5, 5], [3, 2, 4, 3], [2, 2], [1, 1], [0, 0], [0, 0], SU, [1, 0], [9, 10]),
    "2d-outshape-same_lower": ([1, 3, 5, 5], [3, 2, 4, 3], [2, 2], [1, 1], [0, 0], [0, 0], SL, [0, 1], [9, 10]),
    "2d-same_upper-no-outshape": ([1, 3, 4, 4], [3, 2, 3, 3], [2, 2], [1, 1], [1, 1], [1, 1], SU, [0, 0], None),
    "2d-valid": ([1, 3, 4, 4], [3, 2, 3, 3], [2, 1], [1, 1], [1, 1], [1, 1], V, [1, 0], None),
    "2d-batch2": ([2, 5, 4, 6], [5, 4, 3, 3], [1, 1], [1, 1], [1, 1], [1, 1], E, [0, 0], None),
    "1d-output_padding": ([2, 3, 7], [3, 4, 3], [3], [1], [1], [2], E, [2], None),
    "1d-outshape": ([1, 3, 7], [3, 2, 5], [2], [2], [0], [0], SU, [0], [15]),
    "3d": ([1, 2, 3, 4, 3], [2, 3, 2, 3, 3], [2, 1, 2], [1, 2, 1], [1, 0, 1], [0, 1, 1], E, [1, 0, 0], None),
    "group2": ([1, 6, 5, 5], [2, 3, 2, 3, 3], [2, 2], [1, 1], [1, 1], [0, 1], E, [1, 0], None),
    "group-depthwise": ([2, 4, 5, 4], [4, 1, 1, 3, 3], [2, 2], [1, 1], [1, 1], [1, 1], E, [0, 0], None),
    "group2-outshape": ([1, 4, 4, 4], [2, 2, 3, 3, 2], [2, 3], [1, 1], [0, 0], [0, 0], SL, [0, 0], [8, 11]),
}

# id: (a shape, b shape, transpose_a, transpose_b, dtype)
MATMUL = {
    "2d": ([3, 4], [4, 5], False, False, np.float32),
    "ta": ([4, 3], [4, 5], True, False, np.float32),
    "tb": ([3, 4], [5, 4], False, True, np.float32),
    "ta-tb": ([4, 3], [5, 4], True, True, np.float32),
    "1d-a": ([4], [4, 5], False, False, np.float32),
    "1d-b": ([3, 4], [4], False, False, np.float32),
    "1d-both": ([4], [4], False, False, np.float32),
    "1d-ignores-transpose": ([4], [5, 4], True, True, np.float32),
    "1d-a-batched-b": ([4], [2, 4, 5], False, False, np.float32),
    "batched": ([2, 3, 4], [2, 4, 5], False, False, np.float32),
    "broadcast": ([2, 1, 3, 4], [3, 5, 4], False, True, np.float32),
    "broadcast-2d-b": ([2, 3, 4], [4, 5], False, False, np.float32),
    "broadcast-rank": ([4, 3], [2, 2, 4, 5], True, False, np.float32),
    "int32": ([3, 6], [6, 5], False, False, np.int32),
    "int32-batched-tb": ([2, 3, 6], [5, 6], False, True, np.int32),
}


def _data(shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng([seed, len(shape), *shape])
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-8, 9, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _fwd_attrs(case):
    _, _, s, d, pb, pe, ap = case
    return dict(strides=s, dilations=d, pads_begin=pb, pads_end=pe, auto_pad=ap)


def _bp_attrs(case):
    _, _, s, d, pb, pe, ap, opad, _ = case
    return dict(strides=s, dilations=d, pads_begin=pb, pads_end=pe, auto_pad=ap, output_padding=opad)


def _grouped(case):
    return len(case[1]) == len(case[0]) + 1


@pytest.mark.parametrize("case", FORWARD.values(), ids=FORWARD.keys())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_vs_reference(case, dtype):
    x, w = _data(case[0], dtype), _data(case[1], dtype, 1)
    fast = conv.group_convolution if _grouped(case) else conv.convolution
    ref = conv.group_convolution_reference if _grouped(case) else conv.convolution_reference
    assert_close(fast(x, w, **_fwd_attrs(case)), ref(x, w, **_fwd_attrs(case)), 1e-5)


@pytest.mark.parametrize("case", FORWARD.values(), ids=FORWARD.keys())
@pytest.mark.parametrize("clamp", [None, [0.0, 6.0]])
def test_load_time_specialized_forward(case, clamp):
    """The load-time 2-D paths (the direct FMA kernel, the depthwise kernels; fused bias and clamp) vs
    the generic kernel followed by numpy's Add and clip: the same up to the order of the float
    additions (the direct kernel sums taps in order, BLAS in blocks; the depthwise kernels contract
    to FMAs in another order than the generic kernel's)."""
    x, w = _data(case[0]), _data(case[1], seed=1)
    grouped = _grouped(case)
    O = w.shape[0] * w.shape[1] if grouped else w.shape[0]
    bias = _data([1, O] + [1] * (x.ndim - 2), seed=2)
    fast = conv.group_convolution if grouped else conv.convolution
    want = fast(x, w, **_fwd_attrs(case)) + bias
    if clamp:
        want = np.clip(want, np.float32(clamp[0]), np.float32(clamp[1]))
    run = conv_prepare.prepare_convolution([None, w, bias], grouped, lambda *a: None, clamp=clamp, **_fwd_attrs(case))
    got = None if run is None else run(x, w, bias)
    if got is None:  # not 2-D, or a grouped convolution that is not depthwise: the generic kernel runs
        assert x.ndim != 4 or (grouped and w.shape[2] != 1)
        return
    assert_close(got, want, 1e-5)


@pytest.mark.parametrize("case", [c for c in FORWARD.values() if len(c[0]) == 4 and len(c[1]) == 4],
                         ids=[k for k, c in FORWARD.items() if len(c[0]) == 4 and len(c[1]) == 4])
@pytest.mark.parametrize("shifted", [True, False])
def test_direct_plan_layouts(case, shifted):
    """The input layouts of the direct kernel (shifted copies or padded phases, or planes read in
    place) on every 2-D case, with a residual: ``clamp(conv + bias + residual)``."""
    from irtool.runtime.kernels import conv_direct as cd

    x, w = _data(case[0]), _data(case[1], seed=1)
    a = _fwd_attrs(case)
    conv_ref = conv.convolution_reference(x, w, **a)
    pb, _ = conv.conv_pads(x.shape[2:], w.shape[2:], a["strides"], a["dilations"], a["pads_begin"], a["pads_end"],
                           a["auto_pad"])
    bias, res = _data([w.shape[0]], seed=2), _data(conv_ref.shape, seed=3)
    plan = cd.direct_plan(w, bias, -1.0, 2.0, x.shape[1], *x.shape[2:], tuple(a["strides"]), tuple(a["dilations"]),
                          tuple(pb), conv_ref.shape[2:], shifted=shifted)
    if plan is None:
        assert (conv_ref.shape[2] - 1) * x.shape[3] + conv_ref.shape[3] < cd.LANES or conv_ref.shape[2:] == (1, 1)
        return
    want = np.clip(conv_ref.astype(np.float32) + bias[:, None, None], -1, 2)
    from irtool.runtime import threads

    threads.configure()
    try:
        for serial in (True, False):  # the serial kernel and the one-region parallel one
            threads.serial(serial)
            assert_close(plan(x), want, 1e-5)
            assert_close(plan(x, res), np.clip(conv_ref.astype(np.float32) + bias[:, None, None] + res, -1, 2), 1e-5)
    finally:
        threads.serial(False)


@pytest.mark.parametrize("C, mult, H, W, pads, end", [
    (8, 1, 16, 16, (1, 1), (1, 1)),  # mobilenet's stride-2 layers
    (3, 2, 9, 8, (1, 0), (1, 1)),  # multiplier, odd height, uneven pads
    (4, 1, 6, 10, (0, 1), (0, 1)),
    (2, 1, 5, 4, (2, 2), (2, 2)),  # a tap column past the row: the guards
])
def test_stride_two_depthwise_vs_reference(C, mult, H, W, pads, end):
    """The 3x3 stride-2 depthwise kernel on column halves: its pads, edges and zero rows, two images."""
    from irtool.runtime.kernels import depthwise as dk

    O = C * mult
    out = tuple((n + p + q - 3) // 2 + 1 for n, p, q in zip((H, W), pads, end))
    x = _data([2, C, H, W])
    w, bias = _data([O, 3, 3], seed=1), _data([O], seed=2)
    plan = dk.stride_two_depthwise_plan(w, bias, -1.0, 2.0, C, H, W, pads, out)
    if plan is None:
        assert pads[1] > 1
        return
    want = dk.depthwise_reference(x, w, bias, -1.0, 2.0, (2, 2), (1, 1), pads, out)
    assert_close(plan(x), want, 1e-5)
    assert_close(plan(x), want, 1e-5)


@pytest.mark.parametrize("O, K, R, nsplit", [(4, 9, 24, 1), (5, 300, 37, 2), (13, 40, 8, 3), (3, 600, 100, 1),
                                             (8, 1, 17, 2)])
def test_direct_kernel_vs_reference(O, K, R, nsplit):
    """The FMA kernel alone: every tile width, tails, partial channel blocks, K_CHUNK partial sums."""
    from irtool.runtime.kernels import conv_direct as cd

    rng = np.random.default_rng([O, K, R])
    src = rng.standard_normal(K * 7 + R + 5).astype(np.float32)
    offs = rng.permutation(K * 7)[:K].astype(np.int64)
    w, bias = rng.standard_normal((O, K)).astype(np.float32), rng.standard_normal(O).astype(np.float32)
    for nv in range(1, 4):
        if R < nv * cd.LANES:
            continue
        dst = np.full(O * R, np.nan, np.float32)
        cd._direct(src, offs, cd.pack_weights(w), bias, np.float32(-0.5), np.float32(0.7), nv, R, nsplit, dst, R)
        want, sums = (cd.direct_reference(src, offs, w, bias, lo, hi, R) for lo, hi in ((-0.5, 0.7), (-np.inf, np.inf)))
        np.testing.assert_allclose(dst.reshape(O, R), want, rtol=0, atol=1e-5 * np.abs(sums).max())


@pytest.mark.parametrize("case", FORWARD.values(), ids=FORWARD.keys())
def test_forward_vs_openvino(case, tmp_path):
    x = ops.parameter(case[0], np.float32, name="x")
    w = ops.constant(_data(case[1], seed=1))
    a = _fwd_attrs(case)
    make = ops.group_convolution if _grouped(case) else ops.convolution
    y = make(x, w, a["strides"], a["pads_begin"], a["pads_end"], a["dilations"], a["auto_pad"])
    check_against_openvino(ov.Model([y], [x]), tmp_path)


@pytest.mark.parametrize("case", BACKPROP.values(), ids=BACKPROP.keys())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backprop_vs_reference(case, dtype):
    x, w = _data(case[0], dtype), _data(case[1], dtype, 1)
    out_shape = None if case[-1] is None else np.array(case[-1], np.int64)
    bp = conv_backprop
    fast = bp.group_convolution_backprop_data if _grouped(case) else bp.convolution_backprop_data
    ref = bp.group_convolution_backprop_reference if _grouped(case) else bp.convolution_backprop_reference
    assert_close(fast(x, w, out_shape, **_bp_attrs(case)), ref(x, w, out_shape, **_bp_attrs(case)), 1e-5)


@pytest.mark.parametrize("case", BACKPROP.values(), ids=BACKPROP.keys())
def test_backprop_vs_openvino(case, tmp_path):
    x = ops.parameter(case[0], np.float32, name="x")
    w = ops.constant(_data(case[1], seed=1))
    out_shape = None if case[-1] is None else ops.constant(np.array(case[-1], np.int64))
    make = ops.group_convolution_backprop_data if _grouped(case) else ops.convolution_backprop_data
    y = make(x, w, output_shape=out_shape, **_bp_attrs(case))
    got = check_against_openvino(ov.Model([y], [x]), tmp_path)
    if case[-1] is not None:
        assert list(got[0].shape[2:]) == case[-1]


@pytest.mark.parametrize("case", MATMUL.values(), ids=MATMUL.keys())
def test_matmul_vs_reference(case):
    a_shape, b_shape, ta, tb, dtype = case
    a, b = _data(a_shape, dtype), _data(b_shape, dtype, 1)
    assert_close(matmul.matmul(a, b, transpose_a=ta, transpose_b=tb),
                 matmul.matmul_reference(a, b, transpose_a=ta, transpose_b=tb), 1e-5)


@pytest.mark.parametrize("case", MATMUL.values(), ids=MATMUL.keys())
def test_matmul_vs_openvino(case, tmp_path):
    a_shape, b_shape, ta, tb, dtype = case
    a, b = ops.parameter(a_shape, dtype, name="a"), ops.parameter(b_shape, dtype, name="b")
    inputs = {"a": _data(a_shape, dtype), "b": _data(b_shape, dtype, 1)}
    check_against_openvino(ov.Model([ops.matmul(a, b, ta, tb)], [a, b]), tmp_path, inputs)


def test_types_are_kept():
    """f16 computes in f32 and comes back f16; integers are exact (int64 accumulation)."""
    case = FORWARD["2d-stride-asym-pads"]
    x, w = _data(case[0]), _data(case[1], seed=1)
    ref = conv.convolution_reference(x, w, **_fwd_attrs(case))
    assert_close(conv.convolution(x.astype(np.float16), w.astype(np.float16), **_fwd_attrs(case)),
                 ref.astype(np.float16), 5e-3)
    xi, wi = _data(case[0], np.int32), _data(case[1], np.int32, 1)
    got = conv.convolution(xi, wi, **_fwd_attrs(case))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, conv.convolution(xi.astype(np.float64), wi.astype(np.float64),
                                                        **_fwd_attrs(case)).astype(np.int32))
    h = matmul.matmul(x[0, 0].astype(np.float16), x[0, 1].T.astype(np.float16))
    assert h.dtype == np.float16


def test_batch_runs_in_chunks(monkeypatch):
    """A batch whose im2col buffer exceeds the budget runs chunk by chunk with the same result."""
    case = FORWARD["2d-batch2"]
    x, w = _data([5, *case[0][1:]]), _data(case[1], seed=1)
    whole = conv.convolution(x, w, **_fwd_attrs(case))
    monkeypatch.setattr(conv, "_COLS_BYTES", 1)
    assert_close(conv.convolution(x, w, **_fwd_attrs(case)), whole, 1e-6)


def test_bad_shapes_raise_value_error():
    with pytest.raises(ValueError):
        conv.convolution(_data([1, 3, 5, 5]), _data([2, 4, 3, 3]), strides=[1, 1], dilations=[1, 1])
    with pytest.raises(ValueError):
        conv.convolution(_data([1, 3, 2, 2]), _data([2, 3, 3, 3]), strides=[1, 1], dilations=[1, 1])
    with pytest.raises(ValueError):
        matmul.matmul(_data([3, 4]), _data([5, 4]))
