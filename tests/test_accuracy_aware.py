"""Accuracy-aware quantization on a model made fragile on purpose (samples/digits_cnn_fragile.xml: four
loud channels between the first two convolutions of the digits CNN, trained on real digits), and
cross-layer equalization, the fix that keeps it INT8."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import irtool
from irtool.errors import InputError
from irtool.metrics import Annotations, get_metric
from irtool.passes.equalize import equalize, pairs, rescale
from irtool.quantization import AccuracyConfig, AccuracyError, QuantizeConfig, quantize_with_accuracy_control
from irtool.quantization.default import quantize
from tests.oracle import ov
from tests.test_bad_input import run_cli

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
FRAGILE = SAMPLES / "digits_cnn_fragile.xml"
CONV2 = "__module.conv2/aten::_convolution/Convolution"


@pytest.fixture(scope="module")
def data():
    with np.load(SAMPLES / "digits_cnn_calib.npz") as c, np.load(SAMPLES / "digits_cnn_val.npz") as v:
        calib = [{"input": c["input"][i:i + 1]} for i in range(len(c["input"]))]
        val = [{"input": v["input"][i:i + 1]} for i in range(len(v["labels"]))]
        return calib, val, Annotations(labels=v["labels"])


@pytest.fixture(scope="module")
def fragile():
    return irtool.read_model(FRAGILE)


def top1(model, data, precision="auto") -> float:
    _, val, ann = data
    compiled = irtool.compile_model(model, precision=precision)
    return get_metric("top1").compute([compiled(x) for x in val], ann)


def ov_top1(xml: Path, data) -> float:
    _, val, ann = data
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return get_metric("top1").compute([{"logits": compiled(x)[0]} for x in val], ann)


# ------------------------------------------------------------------------------------------- the sample
def test_fragile_sample_computes_what_the_digits_cnn_computes(fragile, data):
    original = irtool.compile_model(SAMPLES / "digits_cnn.xml")
    compiled = irtool.compile_model(fragile)
    for x in data[1][:20]:
        a, b = original(x)["logits"], compiled(x)["logits"]
        assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()


def test_fragile_sample_loses_accuracy_with_default_quantization(fragile, data):
    q, _ = quantize(fragile, data[0])
    assert top1(fragile, data) - top1(q, data) > 0.05  # ~15 points: the point of the sample


def test_fragile_sample_is_regenerated_byte_identical(tmp_path):
    spec = importlib.util.spec_from_file_location("make_fragile", SAMPLES / "make_fragile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = irtool.save_model(module.make_fragile(), tmp_path / "fragile.xml")
    assert path.read_bytes() == FRAGILE.read_bytes()
    assert path.with_suffix(".bin").read_bytes() == FRAGILE.with_suffix(".bin").read_bytes()


# ------------------------------------------------------------------------------------------- equalization
def test_equalization_keeps_the_function_and_balances_channel_ranges(fragile, data, tmp_path):
    found = pairs(fragile)
    assert [(p.first.type, p.second.type) for p in found] == [("Convolution", "Convolution")] * 2
    equalized, n = equalize(fragile)
    assert n == 2
    xml = irtool.save_model(equalized, tmp_path / "eq.xml")
    a = ov.Core().compile_model(str(FRAGILE), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    b = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for x in data[1][:20]:
        ra, rb = a(x)[0], b(x)[0]
        assert np.abs(ra - rb).max() <= 1e-4 * np.abs(ra).max()
    # after equalization, each channel between the pair has the same weight range on both sides
    pair = pairs(equalized)[0]
    w1 = np.abs(irtool.passes.fold.fold(equalized, equalized.producer(pair.first, 1))).max(axis=(1, 2, 3))
    w2 = np.abs(irtool.passes.fold.fold(equalized, equalized.producer(pair.second, 1))).max(axis=(0, 2, 3))
    assert np.allclose(w1, w2, rtol=0.05)


def test_rescale_refuses_non_positive_scales(fragile):
    model = fragile.copy()
    pair = pairs(model)[0]
    with pytest.raises(ValueError):
        rescale(model, pair, -np.ones(pair.first.outputs[0].dims[1]))


# ------------------------------------------------------------------------------------------- the search
def test_accuracy_aware_keeps_every_op_int8_with_equalization(fragile, data, tmp_path):
    calib, val, ann = data
    q, report = quantize_with_accuracy_control(fragile, calib, val, "top1", ann)
    assert report.default < report.fp32 - 0.05
    assert report.met and report.drop <= 0.01 and report.reverted == []
    assert report.fixes and report.fixes[0].startswith("cross-layer equalization")
    assert report.int8_ops == report.quantizable_ops == 5  # 3 Convolutions, MatMul, ReduceMean
    xml = irtool.save_model(q, tmp_path / "aa.xml")
    assert ov_top1(FRAGILE, data) - ov_top1(xml, data) <= 0.01  # and OpenVINO agrees


def test_accuracy_aware_reverts_the_harmful_op_first(fragile, data):
    """Without the fixes the search must return conv2 (whose input the loud channels ruin) to FP32,
    and only conv2: ranking by how much a revert helps, the most helpful first."""
    calib, val, ann = data
    q, report = quantize_with_accuracy_control(fragile, calib, val, "top1", ann, accuracy=AccuracyConfig(fixes=False))
    assert report.met and report.reverted == [CONV2]
    assert [s.action for s in report.steps] == ["Default quantization", f"revert {CONV2} (Convolution) to FP32"]
    counters = irtool.compile_model(q)
    counters(val[0])
    types = {c.node_name: c.exec_type for c in counters.get_profiling_info()}
    assert types[CONV2].endswith("_FP32") and types["__module.conv3/aten::_convolution/Convolution"].endswith("_I8")


def test_reverting_everything_is_a_failure(fragile, data):
    calib, val, ann = data
    val = val[:40]
    with pytest.raises(AccuracyError, match="every quantized op was reverted") as info:
        quantize_with_accuracy_control(fragile, calib[:50], val, "nmse", ann,
                                       accuracy=AccuracyConfig(max_drop=0.0, fixes=False))
    report = info.value.report
    assert report.int8_ops == 0 and len(report.reverted) == report.quantizable_ops
    model, report = quantize_with_accuracy_control(fragile, calib[:50], val, "nmse", ann,
                                                   accuracy=AccuracyConfig(max_drop=0.0, fixes=False, keep_best=True))
    assert not report.met and isinstance(model, irtool.Model)


def test_max_iter_bounds_the_search(fragile, data):
    calib, val, ann = data
    with pytest.raises(AccuracyError, match="--max-iter 0"):
        quantize_with_accuracy_control(fragile, calib, val, "top1", ann, accuracy=AccuracyConfig(fixes=False, max_iter=0))


def test_relative_drop_and_callable_metric(fragile, data):
    calib, val, ann = data

    def accuracy(outputs, annotations):  # any callable: here top-1 by hand
        return float(np.mean([np.argmax(o["logits"]) == y for o, y in zip(outputs, annotations.labels)]))

    _, report = quantize_with_accuracy_control(fragile, calib, val, accuracy, ann,
                                               accuracy=AccuracyConfig(drop_type="relative", max_drop=0.005))
    assert report.met and report.drop == pytest.approx((report.fp32 - report.final) / report.fp32)


@pytest.mark.parametrize("options", [{"drop_type": "percent"}, {"max_drop": -1}, {"max_iter": -1}])
def test_bad_accuracy_options(options):
    with pytest.raises(InputError):
        AccuracyConfig(**options)


def test_statistics_form_marks_the_reverted_op_fp32(fragile, data):
    calib, val, ann = data
    q = irtool.quantize(fragile, calib, method="accuracy-aware", format="statistics", validation=(val, ann))
    marks = {l.name: l.attrs.get("quantization_level") for l in q if "quantization_level" in l.attrs}
    assert marks[CONV2] == "FP32" and marks["__module.conv1/aten::_convolution/Convolution"] == "I8"
    assert top1(fragile, data) - top1(q, data) <= 0.01


# ------------------------------------------------------------------------------------------- CLI
def test_cli_accuracy_aware(tmp_path, capsys):
    out = tmp_path / "q.xml"
    code, stdout, _ = run_cli(["quantize", str(FRAGILE), "--data", str(SAMPLES / "digits_cnn_calib.npz"),
                               "--method", "accuracy-aware", "--val", str(SAMPLES / "digits_cnn_val.npz"),
                               "--no-fixes", "-o", str(out)], capsys)
    assert code in (0, None) and out.exists()
    assert "within budget" in stdout and "conv2" in stdout


def test_cli_accuracy_aware_failure_writes_nothing(tmp_path, capsys):
    out = tmp_path / "q.xml"
    code, stdout, err = run_cli(["quantize", str(FRAGILE), "--data", str(SAMPLES / "digits_cnn_calib.npz"),
                                 "--method", "accuracy-aware", "--val", str(SAMPLES / "digits_cnn_val.npz"),
                                 "--no-fixes", "--max-iter", "0", "-o", str(out)], capsys)
    assert code == 2 and not out.exists() and not list(tmp_path.iterdir())
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "accuracy budget not met" in lines[0] and "--keep-best" in lines[0]
    assert err.startswith("irtool: error:")  # no blank line before it
    assert "Default quantization" in stdout  # the steps table still shows what was tried


def test_cli_accuracy_aware_needs_validation_data(tmp_path, capsys):
    code, _, err = run_cli(["quantize", str(FRAGILE), "--data", str(SAMPLES / "digits_cnn_calib.npz"),
                            "--method", "accuracy-aware", "-o", str(tmp_path / "q.xml")], capsys)
    assert code == 2 and "--val" in err and len(err.strip().splitlines()) == 1
