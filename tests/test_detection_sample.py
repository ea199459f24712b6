"""The SSD detection sample (samples/make_detection.py) in OpenVINO: its IR has the shape of a real SSD
IR and it detects the digits of the held-out validation canvases. OpenVINO and numpy only: irtool's
DetectionOutput kernel is tested against this same file elsewhere."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cache

import numpy as np

from tests.oracle import SAMPLES, ov

XML = SAMPLES / "ssd_digits.xml"

# (VOC all-point, 11-point) mAP@0.5 bounds, about 3 points under what make_detection.py measured in
# OpenVINO (FP32 0.9795, 0.9515; NNCF INT8 0.9788, 0.9505): room for another CPU's INT8 kernels.
MIN_MAP = {"ssd_digits": (0.95, 0.92), "ssd_digits_int8": (0.95, 0.92)}


@cache
def val() -> dict[str, np.ndarray]:
    with np.load(SAMPLES / "ssd_digits_val.npz") as z:
        return dict(z)


def detections(xml) -> np.ndarray:
    """[D, 7] rows (canvas index, label, score, x_min, y_min, x_max, y_max) over the validation set."""
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    x = val()["input"]
    rows = []
    for i in range(len(x)):
        out = request.infer({"input": x[i:i + 1]})[0].reshape(-1, 7)
        end = np.flatnonzero(out[:, 0] < 0)  # DetectionOutput ends its rows with an image id of -1
        out = out[:end[0] if len(end) else len(out)].copy()
        out[:, 0] = i
        rows.append(out)
    return np.concatenate(rows)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), 1)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(boxes) - inter)


def voc_map(dets: np.ndarray, iou_threshold: float = 0.5) -> tuple[float, float]:
    """(VOC all-point, VOC 11-point) mAP over the classes with ground truth (difficult boxes ignored)."""
    gt = val()
    aps = []
    for c in np.unique(gt["gt_labels"]):
        d = dets[dets[:, 1] == c]
        d = d[np.argsort(-d[:, 2], kind="stable")]
        mine = np.flatnonzero(gt["gt_labels"] == c)
        used, tp, fp = np.zeros(len(mine), bool), np.zeros(len(d)), np.zeros(len(d))
        for j, row in enumerate(d):
            same = gt["gt_image"][mine] == row[0]
            overlap = np.where(same, iou(row[3:7], gt["gt_boxes"][mine]), -1.0)
            best = int(overlap.argmax())
            if overlap[best] < iou_threshold:
                fp[j] = 1
            elif not gt["gt_difficult"][mine[best]]:
                tp[j], fp[j] = (0, 1) if used[best] else (1, 0)
                used[best] = True
        n_gt = int(np.sum(~gt["gt_difficult"][mine]))
        hits, seen = np.cumsum(tp), np.cumsum(tp + fp)
        recall, precision = hits / n_gt, hits / np.maximum(seen, 1e-12)
        r = np.concatenate([[0.0], recall, [1.0]])
        p = np.maximum.accumulate(np.concatenate([[0.0], precision, [0.0]])[::-1])[::-1]
        step = np.flatnonzero(r[1:] != r[:-1])
        eleven = np.mean([precision[recall >= t].max(initial=0.0) for t in np.linspace(0, 1, 11)])
        aps.append((np.sum((r[step + 1] - r[step]) * p[step + 1]), eleven))
    return tuple(np.mean(aps, 0).tolist())


def test_validation_file_holds_canvases_and_ground_truth():
    gt = val()
    n = len(gt["input"])
    assert gt["input"].shape == (n, 1, 64, 64) and gt["input"].dtype == np.float32
    assert gt["gt_boxes"].dtype == np.float32 and gt["gt_labels"].dtype == gt["gt_image"].dtype == np.int64
    assert np.all((gt["gt_boxes"] >= 0) & (gt["gt_boxes"] <= 1))
    assert np.all(gt["gt_boxes"][:, 2:] > gt["gt_boxes"][:, :2])
    assert set(np.unique(gt["gt_labels"])) == set(range(1, 11))  # digit d -> label d + 1, 0 is background
    assert set(np.unique(gt["gt_image"])) == set(range(n)) and not gt["gt_difficult"].any()


def test_ir_is_shaped_like_an_ssd_ir():
    """PriorBox-8 per feature map, both inputs ShapeOf -> StridedSlice; one DetectionOutput, the output."""
    root = ET.parse(XML).getroot()
    layers = {layer.get("id"): layer for layer in root.iter("layer")}
    source = {(e.get("to-layer"), e.get("to-port")): e.get("from-layer") for e in root.iter("edge")}
    boxes = [layer for layer in layers.values() if layer.get("type") == "PriorBox"]
    assert len(boxes) >= 2 and {b.get("version") for b in boxes} == {"opset8"}
    for box in boxes:
        for port in ("0", "1"):
            sliced = layers[source[(box.get("id"), port)]]
            assert sliced.get("type") == "StridedSlice"
            assert layers[source[(sliced.get("id"), "0")]].get("type") == "ShapeOf"
    assert [layer.get("type") for layer in layers.values()].count("DetectionOutput") == 1
    model = ov.Core().read_model(str(XML))
    assert model.input(0).get_any_name() == "input" and list(model.input(0).shape) == [1, 1, 64, 64]
    assert len(model.outputs) == 1 and list(model.output(0).shape) == [1, 1, 100, 7]
    assert model.output(0).node.input_value(0).node.get_type_name() == "DetectionOutput"


def test_detects_the_validation_digits():
    for name, bound in MIN_MAP.items():
        got = voc_map(detections(SAMPLES / f"{name}.xml"))
        assert got[0] >= bound[0] and got[1] >= bound[1], (name, got, bound)
