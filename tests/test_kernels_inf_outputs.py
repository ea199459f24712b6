"""Outputs that are +-inf, which the conformance oracle's relative criterion cannot compare: these
must equal OpenVINO's exactly (ErfInv at +-1, SegmentMax's f16 lowest fill, CTCLoss of labels the
steps cannot hold), along with the data-dependent errors irtool raises where OpenVINO's CPU
plugin stops with one."""
from __future__ import annotations

import numpy as np
import pytest

from tests.oracle import ov, ov_outputs, save

from openvino import opset1, opset3, opset4, opset16, opset17  # noqa: E402  (after oracle's importorskip)

from irtool.errors import InputError  # noqa: E402
from irtool.runtime import compile_model  # noqa: E402


def _model(build, *inputs):
    params = [opset1.parameter(list(x.shape), x.dtype, name=f"in{i}") for i, x in enumerate(inputs)]
    return ov.Model(build(*params).outputs(), params), {f"in{i}": x for i, x in enumerate(inputs)}


def _both(tmp_path, build, *inputs):
    model, feed = _model(build, *inputs)
    path = save(model, tmp_path / "op.xml")
    return ov_outputs(path, feed), list(compile_model(path)(feed).values())


CASES = {
    "erfinv-ends": (opset17.erfinv, np.array([1, -1, 0.5, 2, np.nan], np.float32)),
    "segment-max-f16-lowest": (lambda x: opset16.segment_max(x, opset1.constant(np.array([0, 0, 2], np.int32)),
                                                             None, "LOWEST"), np.ones((3, 2), np.float16)),
    # batch 1: three 2s need 5 steps with blanks between, and has 4: infinite loss
    "ctc-loss-impossible": (lambda x, a, b, c: opset4.ctc_loss(x, a, b, c), np.random.default_rng(0).standard_normal(
        (2, 4, 4)).astype(np.float32), np.array([4, 4], np.int32), np.array([[1, 2, 0, 0], [2, 2, 2, 0]], np.int32),
        np.array([2, 3], np.int32)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_inf_outputs_equal_openvino(name, tmp_path):
    build, *inputs = CASES[name]
    ref, got = _both(tmp_path, build, *inputs)
    for r, g in zip(ref, got):
        assert g.dtype == r.dtype and g.shape == r.shape
        assert np.array_equal(np.isinf(g), np.isinf(r)) and np.array_equal(np.isnan(g), np.isnan(r))
        finite = np.isfinite(r)
        np.testing.assert_allclose(g[finite], r[finite], rtol=1e-5, atol=1e-6)
        assert np.array_equal(g[~finite & ~np.isnan(r)], r[~finite & ~np.isnan(r)])


ERRORS = {  # OpenVINO's CPU plugin stops at inference; irtool says why in one line
    "embedding-index-outside": lambda e: opset3.embedding_bag_offsets_sum(
        e, opset1.constant(np.array([0, 9], np.int32)), opset1.constant(np.array([0], np.int32))),
    "embedding-empty-last-bag": lambda e: opset3.embedding_bag_offsets_sum(
        e, opset1.constant(np.array([0, 1], np.int32)), opset1.constant(np.array([0, 2], np.int32))),
    "segments-default-minus1": lambda e: opset3.embedding_segments_sum(
        e, opset1.constant(np.array([0, 1], np.int32)), opset1.constant(np.array([0, 2], np.int32)),
        opset1.constant(np.int32(3)), opset1.constant(np.int32(-1))),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_data_errors_like_openvino(name, tmp_path):
    model, feed = _model(ERRORS[name], np.ones((4, 3), np.float32))
    path = save(model, tmp_path / "op.xml")
    with pytest.raises(Exception):
        ov_outputs(path, feed)
    with pytest.raises(InputError) as error:
        compile_model(path)(feed)
    assert "\n" not in str(error.value)
