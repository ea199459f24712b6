"""The SSD sample quantized and run in INT8 (issue #7): irtool's plugin against OpenVINO on the FP32 IR,
on irtool's INT8 IR and on NNCF's, scored with the numpy VOC mAP of test_detection_sample.py.

Backbone and heads go INT8; PriorBox, DetectionOutput, the ShapeOf subgraphs and the SoftMax/Reshape in
front of DetectionOutput stay FP32, as NNCF and OpenVINO leave them."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

import irtool
from irtool.metrics import Annotations
from irtool.quantization import AccuracyConfig, QuantizeConfig, quantize_with_accuracy_control
from irtool.quantization.default import quantize
from tests.oracle import SAMPLES, ov
from tests.test_detection_sample import XML, detections, iou, val, voc_map

NNCF = SAMPLES / "ssd_digits_int8.xml"
MAX_DROP = 0.01  # the bound: at most 1 point of mAP@0.5 lost
# FakeQuantize must never read or feed these (they stay FP32 in NNCF's IR and in OpenVINO)
FP32_ONLY = {"ShapeOf", "StridedSlice", "PriorBox", "DetectionOutput", "SoftMax", "Reshape", "Concat"}


@cache
def calib() -> list[dict]:
    with np.load(SAMPLES / "ssd_digits_calib.npz") as z:
        return [{"input": x[None]} for x in z["input"]]


@cache
def quantized(tmp: Path, overflow_fix: str = "first_layer") -> tuple[Path, object]:
    model, report = quantize(irtool.read_model(XML), calib(), QuantizeConfig(overflow_fix=overflow_fix))
    return irtool.save_model(model, tmp / f"ssd_{overflow_fix}.xml"), report


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ssd")


def irtool_detections(xml: Path, count: int | None = None) -> np.ndarray:
    """[D, 7] rows (canvas, label, score, box) of irtool's plugin (INT8 kernels for an INT8 IR)."""
    request = irtool.compile_model(xml).create_infer_request()
    x = val()["input"][:count]
    rows = []
    for i in range(len(x)):
        out = request.infer({"input": x[i:i + 1]})[0].reshape(-1, 7)
        end = np.flatnonzero(out[:, 0] < 0)
        out = out[:end[0] if len(end) else len(out)].copy()
        out[:, 0] = i
        rows.append(out)
    return np.concatenate(rows)


def matched(a: np.ndarray, b: np.ndarray, conf_tol: float) -> np.ndarray:
    """Per row of ``a``: does ``b`` hold the same detection (canvas, label, IoU > 0.9, |Δscore| <= tol)?"""
    found = np.zeros(len(a), bool)
    for j, row in enumerate(a):
        same = b[(b[:, 0] == row[0]) & (b[:, 1] == row[1])]
        found[j] = np.any((iou(row[3:7], same[:, 3:7]) > 0.9) & (np.abs(same[:, 2] - row[2]) <= conf_tol))
    return found


def agreement(a: np.ndarray, b: np.ndarray, conf_tol: float) -> float:
    """The smaller of the two directions' matched fractions."""
    return min(matched(a, b, conf_tol).mean(), matched(b, a, conf_tol).mean())


# ------------------------------------------------------------------------------------------ FP32
def test_fp32_detections_equal_openvino():
    ours, theirs = irtool_detections(XML), detections(XML)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1e-5
    assert voc_map(ours) == pytest.approx(voc_map(theirs), abs=1e-9)


# ------------------------------------------------------------------------------------------ markup
def _activation_quantizers(model) -> list:
    return [l for l in model if l.type == "FakeQuantize" and model.producer(l, 0).layer.type not in ("Const", "Convert")]


def _quantized_tensors(model) -> list[str]:
    """The layers whose output an activation FakeQuantize reads."""
    return sorted(model.producer(fq, 0).layer.name for fq in _activation_quantizers(model))


def test_quantizers_where_nncf_puts_them(tmp):
    """Every Convolution INT8 (backbone and heads); activation FakeQuantizes on the same tensors as NNCF's
    (the image and the ReLUs), never on the shape, prior-box or DetectionOutput side."""
    xml, report = quantized(tmp)
    model, nncf = irtool.read_model(xml), irtool.read_model(NNCF)
    convs = sorted(l.name for l in model if l.type == "Convolution")
    assert sorted(report.quantized_ops) == convs and len(convs) == 9
    assert report.weight_fqs == 9
    assert _quantized_tensors(model) == _quantized_tensors(nncf)
    for fq in _activation_quantizers(model):
        assert {c.layer.type for c in model.consumers(fq)} <= {"Convolution", "MaxPool"}
    for layer in model:
        if layer.type in FP32_ONLY:
            assert all(s.layer.type != "FakeQuantize" for s in model.input_values(layer)), layer.name


# ------------------------------------------------------------------------------------------ accuracy
def test_int8_loses_at_most_a_point_of_map(tmp):
    """irtool's INT8 IR, VOC all-point and 11-point mAP@0.5, in OpenVINO and in irtool's plugin."""
    xml, _ = quantized(tmp)
    fp32 = np.array(voc_map(detections(XML)))
    for rows in (detections(xml), irtool_detections(xml)):
        assert np.all(fp32 - np.array(voc_map(rows)) <= MAX_DROP), (fp32, voc_map(rows))


@pytest.mark.parametrize("which", ["irtool", "nncf"])
def test_int8_execution_agrees_with_openvino(tmp, which):
    """The same INT8 IR in irtool's integer kernels and in OpenVINO's.

    irtool computes exact int32 sums; OpenVINO's AVX2 u8 x s8 kernels (vpmaddubsw) saturate pair sums at
    int16 in every layer but the first (7-bit weights there), which moves scores a little: measured 4 of
    1493 rows unmatched (a shifted small box, scores near the 0.01 threshold), max |Δscore| 0.017, median
    1e-4, mAP within 0.0004. Bounds: 99% of rows matched within 0.05, median |Δscore| <= 1e-3, mAP 0.002."""
    xml = quantized(tmp)[0] if which == "irtool" else NNCF
    ours, theirs = irtool_detections(xml), detections(xml)
    assert agreement(ours, theirs, 0.05) >= 0.99
    common = matched(ours, theirs, 0.05)
    assert common.sum() > 0.9 * len(ours)
    scores = [np.abs(theirs[(theirs[:, 0] == r[0]) & (theirs[:, 1] == r[1]), 2] - r[2]).min() for r in ours[common]]
    assert np.median(scores) <= 1e-3
    assert np.allclose(voc_map(ours), voc_map(theirs), atol=0.002)


def test_without_saturation_openvino_and_irtool_agree_closely(tmp):
    """7-bit weights everywhere (--overflow-fix all): OpenVINO's int16 pair sums cannot saturate, and the
    two runtimes agree to rounding (measured: every row matched, max |Δscore| 8e-4). This is what
    separates the saturation above from an irtool error."""
    xml, _ = quantized(tmp, "all")
    ours, theirs = irtool_detections(xml, 100), detections(xml)
    theirs = theirs[theirs[:, 0] < 100]
    assert agreement(ours, theirs, 2e-3) >= 0.995


# ------------------------------------------------------------------------------------------ counters
def test_counters_show_int8_convolutions_and_fp32_detection_output(tmp):
    xml, _ = quantized(tmp)
    x = val()["input"][:1]
    compiled = irtool.compile_model(xml)
    compiled({"input": x})
    ran = {p.node_name: p for p in compiled.get_profiling_info() if p.status == "EXECUTED"}
    convs = [p for p in ran.values() if p.node_type == "Convolution"]
    assert len(convs) == 9 and all(p.exec_type.endswith("_I8") for p in convs), [p.exec_type for p in convs]
    assert ran["detection_out"].exec_type.endswith("_FP32")
    assert not any(p.node_type == "PriorBox" for p in ran.values())  # folded at load time
    request = ov.Core().compile_model(str(xml), "CPU", {"PERF_COUNT": True}).create_infer_request()
    request.infer({"input": x})
    theirs = {p.node_name: p for p in request.get_profiling_info() if p.status.name == "EXECUTED"}
    assert all(theirs[p.node_name].exec_type.lower().endswith("_i8") for p in convs)
    assert theirs["detection_out"].exec_type.lower().endswith("_f32")


# ------------------------------------------------------------------------------------------ accuracy-aware
def test_accuracy_aware_ranks_detector_ops_on_subsets():
    """mAP has no per-image values: the ranking scores trial reverts by mAP on an image subset
    (Annotations.select). A zero budget forces one revert, chosen among the scored candidates."""
    v = val()
    n = 100
    validation = [{"input": v["input"][i:i + 1]} for i in range(n)]
    truth = Annotations.from_arrays(v).select(range(n))
    options = AccuracyConfig(max_drop=0.0, max_iter=1, ranking_subset=20, candidates=2, fixes=False, keep_best=True)
    _, report = quantize_with_accuracy_control(irtool.read_model(XML), calib()[:100], validation, "map:all",
                                               truth, accuracy=options)
    reverts = [s for s in report.steps if s.action.startswith("revert")]
    assert report.metric == "map:all" and len(reverts) == 1 and report.evaluations >= 3
    assert report.quantizable_ops == 9 and report.int8_ops == 9 - len(report.reverted)
