"""Fetch real pretrained models that are not made here, and convert them to IR with OpenVINO.

    .venv/bin/python tools/fetch_models.py        # `make models`

The PP-OCR text detector (PP-OCRv4 det), recognizer (PP-OCRv4 rec) and direction classifier (PP-OCR
mobile v2.0 cls) that ship inside the `rapidocr-onnxruntime` wheel: the wheel is downloaded with pip
(no install), its ONNX files converted with ``openvino.convert_model``, given the static input shapes
RapidOCR feeds them, and written with ``openvino.save_model`` (FP32 weights).

They go to ``$IRTOOL_MODEL_CACHE`` (default ``~/.cache/irtool/models``), outside the repository; the
tests that use them (tests/test_real_models.py) skip with a reason when they are not there. Without
network the script says so in one line and exits 1.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "rapidocr-onnxruntime==1.4.4"
# name in the wheel -> (IR name, the input shape RapidOCR runs it at: N, C, H, W)
PPOCR = {
    "ch_PP-OCRv4_det_infer.onnx": ("ppocr_v4_det", [1, 3, 640, 640]),
    "ch_PP-OCRv4_rec_infer.onnx": ("ppocr_v4_rec", [1, 3, 48, 320]),
    "ch_ppocr_mobile_v2.0_cls_infer.onnx": ("ppocr_mobile_v2_cls", [1, 3, 48, 192]),
}


def cache_dir() -> Path:
    return Path(os.environ.get("IRTOOL_MODEL_CACHE", Path.home() / ".cache" / "irtool" / "models"))


def fetch_ppocr(out: Path) -> list[Path]:
    import openvino as ov

    todo = {k: v for k, v in PPOCR.items() if not (out / f"{v[0]}.xml").exists()}
    if not todo:
        return [out / f"{name}.xml" for name, _ in PPOCR.values()]
    with tempfile.TemporaryDirectory() as tmp:
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", tmp]
        if subprocess.run(pip, capture_output=True, text=True).returncode != 0:
            raise SystemExit(f"fetch_models: could not download {WHEEL} (no network?); the PP-OCR tests will skip")
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for member in z.namelist():
                onnx = Path(member).name
                if onnx in todo:
                    (Path(tmp) / onnx).write_bytes(z.read(member))
        out.mkdir(parents=True, exist_ok=True)
        for onnx, (name, shape) in todo.items():
            model = ov.convert_model(str(Path(tmp) / onnx))
            model.reshape({model.inputs[0].get_any_name(): shape})
            staged = out / f".{name}.tmp.xml"  # written whole, then renamed: a killed run leaves no half model
            ov.save_model(model, str(staged), compress_to_fp16=False)
            staged.with_suffix(".bin").replace(out / f"{name}.bin")
            staged.replace(out / f"{name}.xml")
            print(f"wrote {out / name}.xml  ({onnx} from {WHEEL})")
    return [out / f"{name}.xml" for name, _ in PPOCR.values()]


if __name__ == "__main__":
    fetch_ppocr(cache_dir() / "ppocr")
