"""Real-size models (issue 16; benchmarks/size_models.py builds them into the cache once): ResNet-18 and
ResNet-50 224, MobileNetV2 224, a BERT-base-sized encoder at sequence 128. Batch 1 latency, irtool vs
OpenVINO in the same run:

- FP32: OpenVINO with ``INFERENCE_PRECISION_HINT: f32`` (exact), irtool (always f32);
- BF16: OpenVINO's default on a CPU with avx512_bf16 (bf16), against irtool's ``precision="bf16"``
  (float32 Convolutions on bf16 tiles; MatMuls stay float32);
- INT8: NNCF's INT8 IR of the same model, run by both; and irtool INT8 over irtool FP32.

Each (model, precision, tool) is timed interleaved ``report.repeat`` times (warm-up, then at least
``MIN_ITER`` iterations and ``MIN_S`` seconds); medians. The CPU's ISA flags are named in a note.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ratio  # noqa: E402

MIN_ITER, MIN_S, WARMUP = 3, 1.5, 1
FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vnni", "avx512bf16", "avxvnni", "amx-int8", "amx-bf16")


def _time(infer, seconds: float) -> list[float]:
    for _ in range(WARMUP):
        infer()
    lat, start = [], time.perf_counter()
    while len(lat) < MIN_ITER or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        infer()
        lat.append((time.perf_counter() - t) * 1e3)
    return lat


def _cosine(a, b) -> float:
    import numpy as np

    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main(report) -> None:
    import numpy as np
    import openvino as ov

    import irtool
    from irtool.runtime.cpu import host_features, int8_exec_isa, int8_isa, isa
    from size_models import MODELS, build, inputs

    feats = host_features()
    report.note(f"CPU flags: {' '.join(f for f in FLAGS if f in feats)}; irtool ISA: {isa()}, INT8 kernels: {int8_exec_isa(int8_isa())}")
    core = ov.Core()
    rows, speedups = [], []
    for name in MODELS:
        fp32, int8 = build(name, log=report.log)
        feed = inputs(core.read_model(str(fp32)), 1, seed=5)[0]
        ours_ms = {}
        for precision, xml, config in (("FP32", fp32, {"INFERENCE_PRECISION_HINT": "f32"}),
                                       ("BF16", fp32, {}), ("INT8", int8, {"INFERENCE_PRECISION_HINT": "f32"})):
            report.log(f"{name} {precision}")
            theirs = core.compile_model(str(xml), "CPU", {"PERFORMANCE_HINT": "LATENCY", **config})
            request = theirs.create_infer_request()
            ours = irtool.compile_model(xml, precision="bf16" if precision == "BF16" else "auto")
            lat = {"irtool": [], "openvino": []}
            for _ in range(report.repeat):
                lat["irtool"] += _time(lambda: ours(feed), MIN_S / report.repeat)
                lat["openvino"] += _time(lambda: request.infer(feed), MIN_S / report.repeat)
            a, b = statistics.median(lat["irtool"]), statistics.median(lat["openvino"])
            ours_ms.setdefault(precision, a)
            ref = np.asarray(request.infer(feed)[theirs.outputs[0]])
            got = next(iter(ours(feed).values()))
            rows.append([name, precision, a, b, ratio(a, b),
                         float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30)), _cosine(got, ref)])
            report.metric(f"{name}_{precision.lower()}_ratio", ratio(a, b))
        speedups.append([name, ours_ms["FP32"] / ours_ms["INT8"]])
        report.metric(f"{name}_int8_speedup_over_fp32", ours_ms["FP32"] / ours_ms["INT8"])
    report.table("latency, batch 1 (median ms)",
                 ["model", "precision", ("irtool ms", "{:.1f}"), ("OpenVINO ms", "{:.1f}"), ("irtool/OV", "{:.2f}"),
                  ("max rel. diff", "{:.1e}"), ("cosine", "{:.5f}")], rows,
                 caption="BF16: OpenVINO's default precision here, irtool's precision='bf16' (Convolutions in bf16; "
                         "its MatMuls stay f32); the differences are each tool's against OpenVINO's bf16 run")
    report.table("irtool INT8 over irtool FP32", ["model", ("speed-up", "{:.2f}x")], speedups)
