"""BF16 inference precision: float32 Convolutions on bf16-rounded tensors, float32 sums (the AMX-BF16
tiles where the CPU has them), against numpy and against OpenVINO's own bf16 run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import irtool
from irtool.errors import InputError
from irtool.runtime.kernels import bf16_amx as bf
from irtool.runtime.kernels.conv_prepare import numpy_epilogue

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
tiles = pytest.mark.skipif(not bf.available(), reason="this CPU has no AMX-BF16 tiles (or Linux refuses them)")


def test_rounding_is_to_nearest_even():
    one = np.float32(1.0)
    ulp = np.float32(2.0 ** -7)  # bf16's step at 1
    x = np.array([one, one + ulp / 2, one + ulp * 1.5, one + ulp / 2 + 2 ** -20, -one - ulp / 2, 3.0e38, np.inf],
                 np.float32)
    want = np.array([one, one, one + 2 * ulp, one + ulp, -one, np.float32(3.0e38), np.inf], np.float32)
    got = bf.round_bf16(x)
    np.testing.assert_array_equal(got[:5], want[:5])
    assert np.isfinite(got[5]) and abs(got[5] / x[5] - 1) < 2 ** -8
    assert np.isinf(got[6]) and np.isnan(bf.round_bf16(np.array([np.nan], np.float32))[0])


GEOMETRIES = [(1, 3, 16, 8, 3, 1, 1), (2, 16, 14, 24, 3, 2, 1), (1, 130, 7, 20, 1, 1, 0), (1, 33, 9, 40, 3, 1, 2),
              (1, 20, 32, 16, 3, 2, 1)]


@tiles
@pytest.mark.parametrize("g", GEOMETRIES, ids=lambda g: "x".join(map(str, g)))
def test_tiles_compute_the_rounded_convolution(g):
    N, C, H, O, k, s, p = g
    rng = np.random.default_rng(sum(g))
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    w = rng.standard_normal((O, C, k, k)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    geometry = dict(strides=[s, s], dilations=[1, 1], pads_begin=[p, p], pads_end=[p, p])
    run = bf.prepare_convolution_bf16(w, b, [0.0, 6.0], False, **geometry)
    ref = np.clip(bf.convolution_bf16_reference(x, w, b, **geometry), 0.0, 6.0)
    got = run(x)
    assert got.dtype == np.float32 and got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()  # (float32 sums in another order)
    # and the kernel without tiles (the rounded tensors through the float32 kernel) agrees
    fallback = bf.convolution_bf16(x, w, b.reshape(1, -1, 1, 1), clamp=[0.0, 6.0], **geometry)
    assert np.abs(got - fallback).max() <= 1e-5 * np.abs(ref).max()


@tiles
def test_residual_then_clamp_as_the_fused_layer():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 24, 10, 10)).astype(np.float32)
    w = rng.standard_normal((24, 24, 3, 3)).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    res = rng.standard_normal((1, 24, 10, 10)).astype(np.float32)
    geometry = dict(strides=[1, 1], dilations=[1, 1], pads_begin=[1, 1], pads_end=[1, 1])
    got = bf.prepare_convolution_bf16(w, b, [0.0, np.inf], True, **geometry)(x, w, b, res)
    want = numpy_epilogue(bf.convolution_bf16_reference(x, w, b, **geometry).astype(np.float32), None, [0.0, np.inf],
                          res)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_config_hint_and_bad_config():
    xml = SAMPLES / "resnet_mini.xml"
    c = irtool.compile_model(xml, config={"INFERENCE_PRECISION_HINT": "bf16"})
    x = np.load(SAMPLES / "resnet_mini_val.npz")["input"][:1]
    r = c.create_infer_request()
    r.infer({c.inputs[0].name: x})
    convs = {p.exec_type for p in r.get_profiling_info() if p.node_type == "Convolution"}
    assert convs and all(t.endswith("_BF16") for t in convs)
    with pytest.raises(InputError, match="INFERENCE_PRECISION_HINT f32 or bf16"):
        irtool.compile_model(xml, config={"INFERENCE_PRECISION_HINT": "f16"})


def test_bf16_is_as_close_to_f32_as_openvinos_bf16():
    """The shipped ResNet (trained on digits): irtool's bf16 run departs from exact f32 about as far as
    OpenVINO's bf16 run does, and predicts the same classes."""
    ov = pytest.importorskip("openvino")
    xml = SAMPLES / "resnet_mini.xml"
    xs = np.load(SAMPLES / "resnet_mini_val.npz")["input"][:48]
    runs = [irtool.compile_model(xml), irtool.compile_model(xml, precision="bf16"),
            ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})]
    f32, ours, theirs = (np.concatenate([run(x[None])[0] for x in xs]) for run in runs)
    scale = np.abs(f32).max()
    assert 0 < np.abs(ours - f32).max() <= max(3 * np.abs(theirs - f32).max(), 1e-2 * scale)
    assert np.mean(ours.argmax(1) == f32.argmax(1)) >= 0.98


def test_cli_runs_bf16(tmp_path, capsys):
    from tests.test_bad_input import run_cli

    out = tmp_path / "y.npz"
    code, _, err = run_cli(["run", str(SAMPLES / "resnet_mini.xml"), "-i", str(SAMPLES / "resnet_mini_val.npz"),
                            "--precision", "bf16", "-o", str(out)], capsys)
    assert code in (0, None), err
    assert out.exists()


@tiles
@pytest.mark.parametrize("R, K, O", [(1, 64, 10), (7, 33, 17), (70, 200, 100)])
def test_matmul_tiles_compute_the_rounded_product(R, K, O):
    rng = np.random.default_rng(R + K + O)
    x = rng.standard_normal((R, K)).astype(np.float32)
    w = rng.standard_normal((O, K)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    got = bf.prepare_matmul_bf16(w, b, [-1.0, 1.0])(x.view(np.uint32))
    ref = np.clip(bf.round_bf16(x).astype(np.float64) @ bf.round_bf16(w).astype(np.float64).T + b, -1.0, 1.0)
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
    fallback = bf.matmul_bf16(x, w, b, transpose_b=True, clamp=[-1.0, 1.0])
    assert np.abs(got - fallback).max() <= 1e-5 * np.abs(ref).max()


def test_transformer_in_bf16_keeps_activation_products_f32():
    """The shipped transformer: weight MatMuls in bf16, the attention's activation x activation
    products float32; the outputs within bf16's reach of exact f32."""
    xml = SAMPLES / "transformer_mini.xml"
    data = np.load(SAMPLES / "transformer_mini_val.npz")
    c32, c16 = irtool.compile_model(xml), irtool.compile_model(xml, precision="bf16")
    feed = {spec.name: data[spec.name][:1] for spec in c32.inputs}
    r = c16.create_infer_request()
    y16, y32 = r.infer(feed)[0], c32(feed)[0]
    kinds = {p.exec_type for p in r.get_profiling_info() if p.node_type == "MatMul"}
    if bf.available():
        assert any(t.endswith("_BF16") for t in kinds) and any(t.endswith("_FP32") for t in kinds)
    assert 0 < np.abs(y16 - y32).max() <= 3e-2 * np.abs(y32).max()
