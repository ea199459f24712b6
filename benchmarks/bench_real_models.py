"""Real pretrained models (``make models``: PP-OCR v4 det/rec, mobile v2.0 cls; ddddocr's LSTM captcha
recognizer and its YOLOX + NMS character detector), batch 1: irtool vs
OpenVINO in the same run, FP32 (OpenVINO with ``INFERENCE_PRECISION_HINT: f32``) and INT8 (the IR
``irtool quantize`` writes for each, run by both plugins).

Each (model, precision, tool) is timed in this process, interleaved ``report.repeat`` times: a warm-up,
then at least ``MIN_ITER`` iterations and ``MIN_S`` seconds; the table shows the median latency over all
timed iterations and irtool/OpenVINO, and how far irtool's first output is from OpenVINO's (max abs
difference over max |OpenVINO|, and cosine). Skipped, with a note, when the models are not in the cache.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import OUT, REPO, ratio  # noqa: E402

CACHE = Path(os.environ.get("IRTOOL_MODEL_CACHE", Path.home() / ".cache" / "irtool" / "models"))
MODELS = ("ppocr/ppocr_mobile_v2_cls", "ppocr/ppocr_v4_rec", "ppocr/ppocr_v4_det", "ddddocr/ddddocr_rec",
          "ddddocr/ddddocr_det")
WORK = OUT / "real_models"
MIN_ITER, MIN_S, WARMUP = 5, 1.0, 2


def _time(infer, n: int, seconds: float) -> list[float]:
    for _ in range(WARMUP):
        infer()
    lat, start = [], time.perf_counter()
    while len(lat) < n or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        infer()
        lat.append((time.perf_counter() - t) * 1e3)
    return lat


def main(report) -> None:
    import numpy as np
    import openvino as ov

    import irtool

    sys.path.insert(0, str(REPO))
    from tests.real_data import captchas, click_captchas, text_lines  # the tests' inputs: same here

    def images(xml: Path, n: int, seed: int) -> list[dict]:
        model = core.read_model(str(xml))
        name, shape = model.inputs[0].get_any_name(), tuple(model.inputs[0].shape)
        if xml.stem == "ddddocr_rec":
            return [{name: x} for _, x in captchas(n, seed)]
        if xml.stem == "ddddocr_det":
            return [{name: x} for _, x in click_captchas(n, seed)]
        return text_lines(shape, name, n, seed)

    core = ov.Core()
    missing = [m for m in MODELS if not (CACHE / f"{m}.xml").exists()]
    if missing:
        report.note(f"skipped: {', '.join(missing)} not in {CACHE} (`make models` fetches them)")
        return
    WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    for model in MODELS:
        fp32, name = CACHE / f"{model}.xml", Path(model).name
        int8 = WORK / f"{name}_int8.xml"
        report.log(f"{name}: quantizing with irtool")
        irtool.save_model(irtool.quantize(fp32, images(fp32, 8, seed=2)), int8)
        inputs = images(fp32, 1, seed=3)[0]
        for precision, xml in (("FP32", fp32), ("INT8", int8)):
            ours = irtool.compile_model(xml)
            theirs = core.compile_model(str(xml), "CPU", {"PERFORMANCE_HINT": "LATENCY",
                                                           "INFERENCE_PRECISION_HINT": "f32"})
            request = theirs.create_infer_request()
            lat = {"irtool": [], "openvino": []}
            for _ in range(report.repeat):
                lat["irtool"] += _time(lambda: ours(inputs), MIN_ITER, MIN_S / report.repeat)
                lat["openvino"] += _time(lambda: request.infer(inputs), MIN_ITER, MIN_S / report.repeat)
            a, b = statistics.median(lat["irtool"]), statistics.median(lat["openvino"])
            got = next(iter(ours(inputs).values()))
            ref = np.asarray(request.infer(inputs)[theirs.outputs[0]])
            err = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))
            g, r = got.ravel().astype(np.float64), ref.ravel().astype(np.float64)
            rows.append([name, precision, a, b, ratio(a, b), err, float(g @ r / (np.linalg.norm(g) * np.linalg.norm(r)))])
            report.metric(f"{name}_{precision.lower()}_ratio", ratio(a, b))
    report.table("latency, batch 1 (median ms)",
                 ["model", "precision", ("irtool ms", "{:.2f}"), ("OpenVINO ms", "{:.2f}"),
                  ("irtool/OV", "{:.2f}"), ("max rel. diff", "{:.1e}"), ("cosine", "{:.5f}")], rows,
                 caption="INT8: the IR irtool quantize writes (8 inputs of the kind the test uses), run by both plugins")
