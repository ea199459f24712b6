"""The shipped samples (trained on scikit-learn's digits) end to end: irtool's plugin against OpenVINO
on FP32 and NNCF-INT8 IRs, and irtool's own quantization against the accuracy bounds of the issue."""
from __future__ import annotations

from functools import cache

import numpy as np
import pytest

import irtool
from irtool.quantization import QuantizeConfig
from irtool.quantization.default import quantize
from tests.oracle import SAMPLES, assert_close, ov

# The trained classifiers, each shipped with NNCF's INT8 version; the SSD detector (ssd_*) has its own
# tests (test_detection_sample.py), the fragile digits CNN too (test_accuracy_aware.py).
MODELS = [p.stem for p in sorted(SAMPLES.glob("*.xml")) if (SAMPLES / f"{p.stem}_int8.xml").exists()
          and not p.stem.startswith("ssd_")]


@cache
def val(name: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(SAMPLES / f"{name}_val.npz") as z:
        return z["input"], z["labels"]


@cache
def calib(name: str) -> list[dict]:
    with np.load(SAMPLES / f"{name}_calib.npz") as z:
        x = z["input"]
    return [{"input": x[i:i + 1]} for i in range(len(x))]


def irtool_logits(xml, x: np.ndarray) -> np.ndarray:
    compiled = irtool.compile_model(xml).create_infer_request()
    return np.concatenate([compiled.infer({"input": x[i:i + 1]})["logits"] for i in range(len(x))])


def ov_logits(xml, x: np.ndarray) -> np.ndarray:
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    return np.concatenate([request.infer({"input": x[i:i + 1]})[0] for i in range(len(x))])


@pytest.mark.parametrize("name", MODELS)
def test_fp32_sample_equals_openvino(name):
    x, y = val(name)
    ours, theirs = irtool_logits(SAMPLES / f"{name}.xml", x), ov_logits(SAMPLES / f"{name}.xml", x)
    assert_close(ours, theirs)
    assert np.mean(ours.argmax(1) == y) > 0.9  # trained models, real data


@pytest.mark.parametrize("name", MODELS)
def test_nncf_int8_sample_runs_in_irtool(name):
    """NNCF's INT8 IR in irtool (FP32 emulation of the FakeQuantize graph) vs OpenVINO's INT8 run."""
    x, y = val(name)
    xml = SAMPLES / f"{name}_int8.xml"
    ours, theirs = irtool_logits(xml, x), ov_logits(xml, x)
    agree = np.mean(ours.argmax(1) == theirs.argmax(1))
    assert agree >= 0.97, agree
    assert abs(np.mean(ours.argmax(1) == y) - np.mean(theirs.argmax(1) == y)) <= 0.015


def test_fp16_compressed_sample_equals_openvino():
    x, _ = val("digits_cnn")
    xml = SAMPLES / "digits_cnn_fp16.xml"
    assert_close(irtool_logits(xml, x[:32]), ov_logits(xml, x[:32]))


@pytest.fixture(scope="module")
def quantized_samples(tmp_path_factory):
    out = {}
    for name in MODELS:
        model, report = quantize(irtool.read_model(SAMPLES / f"{name}.xml"), calib(name), QuantizeConfig())
        out[name] = irtool.save_model(model, tmp_path_factory.mktemp(name) / f"{name}_int8.xml"), report
    return out


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(logits.argmax(1) == labels))


def test_digits_loses_at_most_half_a_point(quantized_samples):
    """The issue's bound: <= 0.5 point of top-1 lost, measured by OpenVINO and by irtool."""
    x, y = val("digits_cnn")
    xml, report = quantized_samples["digits_cnn"]
    base = accuracy(ov_logits(SAMPLES / "digits_cnn.xml", x), y)
    assert base - accuracy(ov_logits(xml, x), y) <= 0.005 + 1e-9
    assert base - accuracy(irtool_logits(xml, x), y) <= 0.005 + 1e-9
    assert report.compressed == report.weight_fqs > 0


@pytest.mark.parametrize("name", MODELS)
def test_no_worse_than_nncf_in_openvino(name, quantized_samples):
    """Same data, same runtime: irtool's INT8 IR is at least as accurate as NNCF's, or as FP32 where
    NNCF's INT8 happens to beat FP32 (the transformer: NNCF's SmoothQuant, which irtool lacks, and
    luck on 360 samples); one sample of slack."""
    x, y = val(name)
    ours = accuracy(ov_logits(quantized_samples[name][0], x), y)
    nncf = accuracy(ov_logits(SAMPLES / f"{name}_int8.xml", x), y)
    fp32 = accuracy(ov_logits(SAMPLES / f"{name}.xml", x), y)
    assert ours >= min(nncf, fp32) - 1 / len(y) - 1e-9, (ours, nncf, fp32)


def test_transformer_int8_keeps_cosine(quantized_samples):
    """Output cosine to FP32 over the validation set, all in OpenVINO at f32: on average >= 0.99 (the
    bar) and no lower than NNCF's INT8 IR's average; every sample >= 0.98.

    Fixed bounds, not NNCF's worst sample: that one moves with the CPU OpenVINO runs on (0.863 on an
    AVX2 machine, 0.993 on an AVX-512 one). Measured: irtool mean 0.9995, worst 0.987; NNCF mean 0.992."""
    if "transformer_mini" not in quantized_samples:
        pytest.skip("no transformer sample")
    x, _ = val("transformer_mini")
    xml, report = quantized_samples["transformer_mini"]
    assert report.model_type == "transformer" and report.preset == "mixed"
    a = ov_logits(SAMPLES / "transformer_mini.xml", x)

    def cosine(b: np.ndarray) -> np.ndarray:
        return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    ours, nncf = cosine(ov_logits(xml, x)), cosine(ov_logits(SAMPLES / "transformer_mini_int8.xml", x))
    assert ours.mean() >= max(0.99, nncf.mean()), (ours.mean(), nncf.mean())
    assert ours.min() >= 0.98, ours.min()


def test_openvino_runs_irtool_int8_samples_in_int8(quantized_samples):
    """Every Convolution/MatMul whose weights irtool quantized runs with an INT8 exec type in OpenVINO."""
    for name, (xml, _) in quantized_samples.items():
        weighted = {l.name.rsplit("/fq_weights_", 1)[0] for l in irtool.read_model(xml) if "/fq_weights_" in l.name}
        compiled = ov.Core().compile_model(str(xml), "CPU", {"PERF_COUNT": True})
        request = compiled.create_infer_request()
        request.infer({"input": val(name)[0][:1]})
        ran = [p for p in request.get_profiling_info() if p.status.name == "EXECUTED"
               and any(p.node_name.startswith(w) for w in weighted)
               and (p.node_type in ("Convolution", "GroupConvolution", "MatMul") or "FullyConnected" in p.node_type)]
        assert len(ran) == len(weighted), (name, sorted(weighted), [p.node_name for p in ran])
        assert all(p.exec_type.lower().endswith("_i8") for p in ran), [(p.node_name, p.exec_type) for p in ran]


@pytest.mark.parametrize("name", MODELS)
def test_nncf_weights_expand_and_compress_back(name, tmp_path):
    """irtool expand/compress on NNCF's IRs: both forms compute the same in OpenVINO.

    The integer codes survive exactly; a scale rebuilt from an expanded range can differ in its last
    bit, and an activation FakeQuantize downstream may turn that into one quantization step, so
    outputs are compared at quantization-noise level and by top-1 agreement."""
    from irtool.passes.weights import compress_weights, expand_weights

    nncf = irtool.read_model(SAMPLES / f"{name}_int8.xml")
    expanded, n = expand_weights(nncf)
    compressed, m = compress_weights(expanded)
    assert n == m == irtool.summarize(nncf).compressed_weights.get("i8", 0) > 0
    assert irtool.summarize(expanded).compressed_weights.get("i8", 0) == 0
    x, _ = val(name)
    ref = ov_logits(SAMPLES / f"{name}_int8.xml", x)
    for form, model in (("expanded", expanded), ("compressed", compressed)):
        got = ov_logits(irtool.save_model(model, tmp_path / f"{form}.xml"), x)
        assert np.mean(got.argmax(1) == ref.argmax(1)) >= 0.99, form
        assert np.abs(got - ref).max() <= 0.01 * np.abs(ref).max(), form
