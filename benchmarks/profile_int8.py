"""Per-layer profile of the shipped quantized samples: INT8 path against the FP32 emulation of the
same IR and the FP32 IR, min over many inferences per layer (this VM's speed swings ~1.5x every few
seconds: the minimum is the stable figure).

    python benchmarks/profile_int8.py [names...] [--iters 300] [--layers] [--top 15] [--openvino]

``--openvino`` also times OpenVINO's INT8 on the same IR in the same rounds (its own process
settings: whatever cores the process may use; run under ``taskset`` to pin both alike).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import irtool

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
NAMES = ("digits_cnn", "resnet_mini", "mobilenetv2_mini", "ssd_digits", "transformer_mini")


def _input(name: str) -> dict[str, np.ndarray]:
    data = np.load(SAMPLES / f"{name}_val.npz")
    key = "input" if "input" in data else data.files[0]
    return {key: np.ascontiguousarray(data[key][:1])}


def profile(xml: Path, precision: str, x: dict, iters: int) -> tuple[float, dict[str, tuple[str, str, float]]]:
    """(min total ms, {layer: (type, exec type, min us)})."""
    req = irtool.compile_model(xml, precision=precision).create_infer_request()
    for _ in range(20):
        req.infer(x)
    best, layers = np.inf, {}
    for _ in range(iters):
        t0 = time.perf_counter()
        req.infer(x)
        best = min(best, time.perf_counter() - t0)
        for c in req.get_profiling_info():
            if c.status != "EXECUTED":
                continue
            prev = layers.get(c.node_name)
            if prev is None or c.real_time < prev[2]:
                layers[c.node_name] = (c.node_type, c.exec_type, c.real_time)
    return best * 1e3, layers


def profile_openvino(xml: Path, x: dict, iters: int) -> float:
    """Min ms of OpenVINO's CPU plugin on ``xml`` (latency hint), or nan without OpenVINO."""
    try:
        import openvino as ov
    except ImportError:
        return float("nan")
    compiled = ov.Core().compile_model(str(xml), "CPU", {"PERFORMANCE_HINT": "LATENCY"})
    req = compiled.create_infer_request()
    feed = list(x.values())[0]
    for _ in range(20):
        req.infer([feed])
    best = np.inf
    for _ in range(iters):
        t0 = time.perf_counter()
        req.infer([feed])
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=list(NAMES))
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--layers", action="store_true")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (min over them)")
    ap.add_argument("--openvino", action="store_true", help="also OpenVINO's INT8 latency")
    args = ap.parse_args()
    for name in args.names:
        x = _input(name)
        runs = {"int8": (SAMPLES / f"{name}_int8.xml", "auto"), "fp32": (SAMPLES / f"{name}.xml", "fp32")}
        res: dict[str, tuple[float, dict]] = {}
        ov_ms = float("nan")
        for _ in range(args.rounds):  # interleaved: both see the VM's fast and slow states
            if args.openvino:
                ov_ms = min(ov_ms, profile_openvino(runs["int8"][0], x, args.iters)) if ov_ms == ov_ms else \
                    profile_openvino(runs["int8"][0], x, args.iters)
            for key, (xml, prec) in runs.items():
                t, layers = profile(xml, prec, x, args.iters)
                if key not in res or t < res[key][0]:
                    res[key] = (t, {k: v for k, v in layers.items()})
                else:  # keep the per-layer minima across rounds too
                    old = res[key][1]
                    for k, v in layers.items():
                        if k not in old or v[2] < old[k][2]:
                            old[k] = v
        i8, f32 = res["int8"][0], res["fp32"][0]
        i8_sum, f32_sum = sum(v[2] for v in res["int8"][1].values()), sum(v[2] for v in res["fp32"][1].values())
        ov_txt = f"  OpenVINO INT8 {ov_ms:.3f} ms ({i8 / ov_ms:.2f}x)" if args.openvino else ""
        print(f"{name:18s} INT8 {i8:.3f} ms  FP32 {f32:.3f} ms  speed-up {f32 / i8:.2f}x{ov_txt}   "
              f"(sum of layer minima: INT8 {i8_sum:.0f} us, FP32 {f32_sum:.0f} us)", flush=True)
        if args.layers:
            fl = res["fp32"][1]
            rows = sorted(res["int8"][1].items(), key=lambda kv: -kv[1][2])[:args.top]
            for lname, (typ, ex, us) in rows:
                f = fl.get(lname)
                print(f"    {us:7.1f} us  {typ:16s} {ex:14s} {lname[:60]:60s} fp32 {f[2] if f else float('nan'):7.1f}")


if __name__ == "__main__":
    main()
