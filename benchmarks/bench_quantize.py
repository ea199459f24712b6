"""Post-training quantization: irtool's ``quantize`` (default ``QuantizeConfig()``) vs NNCF's
``nncf.quantize(ov_model, nncf.Dataset(samples), subset_size=300)`` (``model_type=TRANSFORMER`` for the
transformer), on the same 300 calibration samples of each sample model (``samples/NAME_calib.npz``).

Every quantization runs in a fresh worker process: import, read, quantize, save, each timed; peak RSS
is the worker's VmHWM, also shown over the RSS measured right after the imports, and for irtool over the
RSS after it has also imported its runtime (numba, llvmlite and the kernels, which irtool otherwise imports
lazily inside ``quantize``; NNCF imports OpenVINO and its backends up front). irtool runs twice:
with the default thread environment and with ``OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1`` (on a busy
2-core machine the default OpenMP + OpenBLAS thread pools fight, see ``bench_fp32``); NNCF with its
defaults. The first repetition runs everything; later repetitions (up to ``report.repeat``) only the
measurements that still fit the time budget (``BUDGET_S``), so each cell says how many runs it has.

Accuracy: top-1 on the 360 validation digits of the FP32 IR, irtool's INT8 IR and NNCF's INT8 IR,
all measured in OpenVINO (CPU, f32 inference precision hint: INT8 layers still run INT8), and the
INT8 IRs also in irtool's plugin (its integer path, and its FP32 emulation of FakeQuantize).
The quantized IRs are kept in ``bench-out/quantize/``.
"""
from __future__ import annotations

import filecmp
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (MB, OUT, REPO, Clock, emit, load_line, peak_rss_bytes, ratio, rss_bytes,  # noqa: E402
                      run_worker, thread_env)

HERE = Path(__file__).resolve()
SAMPLES_DIR = REPO / "samples"
WORK = OUT / "quantize"
SAMPLES = ("digits_cnn", "resnet_mini", "mobilenetv2_mini", "transformer_mini")
SUBSET = 300
BUDGET_S = 200.0  # repetitions after the first run only while the quantization timings stay within this
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
# (label, tool, environment variables set for the worker)
MODES = (("NNCF", "nncf", {}), ("irtool 1-thread", "irtool", ONE_THREAD), ("irtool default", "irtool", {}))
OV_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


# ------------------------------------------------------------------------------------------ workers
def _calibration(name: str) -> list[dict]:
    import numpy as np

    with np.load(SAMPLES_DIR / f"{name}_calib.npz") as z:
        x = z["input"]
    return [{"input": np.ascontiguousarray(x[i:i + 1])} for i in range(len(x))]


def quantize_worker(tool: str, name: str, dst: str) -> None:
    """``--worker quantize TOOL NAME DST``: quantize samples/NAME.xml, save to DST, print timings."""
    clock = Clock()
    with clock("import"):
        if tool == "irtool":
            import irtool
            from irtool.quantization import QuantizeConfig
            from irtool.quantization.default import quantize
        else:
            import nncf
            import openvino as ov
    rss0 = rss_bytes()
    if tool == "irtool":  # irtool loads its runtime (numba, llvmlite, kernels) lazily: measured apart
        with clock("import_runtime"):
            from irtool.runtime.kernels import load_all  # every kernel module (a model imports only its own)

            load_all()
    rss1 = rss_bytes()
    samples = _calibration(name)
    xml = SAMPLES_DIR / f"{name}.xml"
    facts = {}
    if tool == "irtool":
        with clock("read"):
            model = irtool.read_model(xml)
        with clock("quantize"):
            quantized, rep = quantize(model, samples, QuantizeConfig())
        with clock("save"):
            irtool.save_model(quantized, dst)
        facts = {"activation_fqs": rep.activation_fqs, "weight_fqs": rep.weight_fqs,
                 "bias_corrected": rep.bias_corrected, "compressed": rep.compressed, "model_type": rep.model_type,
                 "preset": rep.preset, "samples": rep.samples}
    else:
        with clock("read"):
            model = ov.Core().read_model(xml)
        kwargs = {"model_type": nncf.ModelType.TRANSFORMER} if "transformer" in name else {}
        with clock("quantize"):
            quantized = nncf.quantize(model, nncf.Dataset(samples), subset_size=SUBSET, **kwargs)
        with clock("save"):
            ov.save_model(quantized, dst, compress_to_fp16=False)
        facts = {"fake_quantize": sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ordered_ops()),
                 "samples": len(samples)}
    emit({**clock.times, "rss_after_import": rss0, "rss_after_runtime": rss1, "peak_rss": peak_rss_bytes(),
          "facts": facts})


def accuracy_worker(tool: str, name: str, entries: list[str]) -> None:
    """``--worker accuracy TOOL NAME LABEL=XML[:PRECISION] ...``: top-1 on samples/NAME_val.npz."""
    import numpy as np

    with np.load(SAMPLES_DIR / f"{name}_val.npz") as z:
        x, labels = z["input"], z["labels"]
    if tool == "irtool":
        import irtool
    else:
        import openvino as ov

        core = ov.Core()
    out = {}
    for entry in entries:
        label, _, spec = entry.partition("=")
        xml, _, precision = spec.partition("|")
        t = time.perf_counter()
        try:
            if tool == "irtool":
                compiled = irtool.compile_model(xml, precision=precision) if precision else irtool.compile_model(xml)
            else:
                compiled = core.compile_model(xml, "CPU", OV_CONFIG)
            request = compiled.create_infer_request()
            pred = np.array([int(np.argmax(request.infer({"input": x[i:i + 1]})["logits"])) for i in range(len(x))])
            out[label] = {"top1": float(np.mean(pred == labels)), "n": len(labels), "seconds": time.perf_counter() - t,
                          "pred": pred.tolist()}
        except Exception as e:
            out[label] = {"error": f"{type(e).__name__}: {e}"[:400]}
    emit(out)


def worker(argv: list[str]) -> None:
    if argv[0] == "quantize":
        quantize_worker(argv[1], argv[2], argv[3])
    elif argv[0] == "accuracy":
        accuracy_worker(argv[1], argv[2], argv[3:])
    else:
        raise SystemExit(f"unknown worker {argv[0]}")


# ------------------------------------------------------------------------------------------ main
def _env(extra: dict) -> dict:
    return thread_env({**extra, "NUMBA_CACHE_DIR": str(WORK / "numba_cache")})


def _measure(tool: str, name: str, extra: dict, dst: Path) -> dict:
    t = time.perf_counter()
    r = run_worker(HERE, ["quantize", tool, name, dst], timeout=900, env=_env(extra))
    r["process_wall"] = time.perf_counter() - t
    r["import"] += r.pop("import_runtime", 0.0)
    r["end_to_end"] = r["import"] + r["read"] + r["quantize"] + r["save"]
    r["peak_over_import"] = r["peak_rss"] - r["rss_after_import"]
    r["peak_over_runtime"] = r["peak_rss"] - r["rss_after_runtime"]
    r["load_1min"] = os.getloadavg()[0]
    return r


def _compare_ir(a: Path, b: Path) -> str:
    """'identical', or how two IRs differ (.bin bytes; .xml modulo OpenVINO's generated ``_12345`` names)."""
    import re

    if not (a.exists() and b.exists()):
        return "missing"
    xml_same = filecmp.cmp(a, b, shallow=False)
    ba, bb = a.with_suffix(".bin").read_bytes(), b.with_suffix(".bin").read_bytes()
    bin_same = ba == bb
    if xml_same and bin_same:
        return "identical"
    parts = []
    if not xml_same:
        norm = [re.sub(r'_\d+"', '_#"', p.read_text()) for p in (a, b)]
        parts.append(".xml differs only in generated layer names" if norm[0] == norm[1] else ".xml differs")
    if bin_same:
        parts.append(".bin identical")
    elif len(ba) != len(bb):
        parts.append(f".bin sizes differ ({len(ba)} vs {len(bb)} bytes)")
    else:
        parts.append(f".bin differs in {sum(u != v for u, v in zip(ba, bb))} of {len(ba)} bytes")
    return ", ".join(parts)


def _med(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def main(report) -> None:
    t_start = time.perf_counter()
    report.note(f"machine load at start: {load_line()}")
    names = [s for s in SAMPLES if all((SAMPLES_DIR / f"{s}{suffix}").exists()
                                       for suffix in (".xml", ".bin", "_calib.npz", "_val.npz"))]
    missing = [s for s in SAMPLES if s not in names]
    if missing:
        report.note(f"skipped (files missing): {', '.join(missing)}")
    WORK.mkdir(parents=True, exist_ok=True)
    scratch = WORK / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()

    # numba's cache (bench-out/quantize/numba_cache) warmed first, so no timed run pays for JIT compilation
    t = time.perf_counter()
    for name in names:
        run_worker(HERE, ["quantize", "irtool", name, scratch / f"{name}_warm.xml"], timeout=900, env=_env(ONE_THREAD))
    report.log(f"numba cache warmed: {time.perf_counter() - t:.0f} s")

    def out_path(name: str, label: str) -> Path:
        return WORK / f"{name}_{'nncf' if label == 'NNCF' else 'irtool'}_int8.xml"

    runs: dict[tuple[str, str], list[dict]] = {(n, m[0]): [] for n in names for m in MODES}
    t_timing = time.perf_counter()
    for rep in range(max(1, report.repeat)):
        for name in names:
            for label, tool, extra in MODES:
                done = runs[name, label]
                if rep > 0 and time.perf_counter() - t_timing + done[-1]["process_wall"] > BUDGET_S:
                    continue
                if rep == 0 and label != "irtool 1-thread":
                    dst = out_path(name, label)  # kept: NNCF's and irtool's (default env) quantized IRs
                else:
                    dst = scratch / f"{name}_{tool}_{rep}.xml"
                done.append(_measure(tool, name, extra, dst))
                report.log(f"rep {rep + 1}: {name} {label}: quantize {done[-1]['quantize']:.2f} s "
                           f"(load {done[-1]['load_1min']:.2f})")
    report.log(f"quantization timings: {time.perf_counter() - t_timing:.0f} s")

    # determinism: the 1-thread run against the default-env one; NNCF's output against samples/NAME_int8
    same = {n: _compare_ir(out_path(n, "irtool default"), scratch / f"{n}_irtool_0.xml") for n in names}
    nncf_same = {n: _compare_ir(out_path(n, "NNCF"), SAMPLES_DIR / f"{n}_int8.xml") for n in names}

    s, mb, x = "{:.2f}", (lambda v: f"{v / MB:.0f}"), "{:.2f}x"
    rows = []
    for name in names:
        ref = runs[name, "NNCF"]
        for i, (label, tool, _) in enumerate(MODES):
            r = runs[name, label]
            q, wall = _med(r, "quantize"), _med(r, "process_wall")
            peak, over = _med(r, "peak_rss"), _med(r, "peak_over_import")
            rows.append([name if i == 0 else "", label, len(r), _med(r, "import"), q, wall, peak, over,
                         _med(r, "peak_over_runtime"),
                         None if tool == "nncf" else ratio(q, _med(ref, "quantize")),
                         None if tool == "nncf" else ratio(wall, _med(ref, "process_wall")),
                         None if tool == "nncf" else ratio(peak, _med(ref, "peak_rss")),
                         None if tool == "nncf" else ratio(over, _med(ref, "peak_over_import"))])
    report.table(f"quantization of the 300 calibration samples (fresh process each, median of n runs)",
                 ["sample", "tool", "n", ("import s", s), ("quantize s", s), ("process s", s), ("peak MB", mb),
                  ("peak-imp MB", mb), ("peak-rt MB", mb), ("quantize ×NNCF", x), ("process ×NNCF", x), ("peak ×NNCF", x),
                  ("peak-imp ×NNCF", x)], rows,
                 caption="n: runs (fresh process each; medians). quantize s: the quantize call alone; process s: the "
                         "worker's whole wall time (interpreter start, import, read, quantize, save). peak: VmHWM; "
                         "peak-imp: minus the RSS right after the imports; peak-rt: minus the RSS after irtool has also imported its "
                         "runtime (numba, llvmlite, kernels: what quantize would otherwise import; NNCF: = peak-imp). "
                         "import s includes irtool's runtime import. "
                         "×NNCF: irtool/NNCF (< 1: irtool faster / smaller). irtool 1-thread: "
                         + " ".join(f"{k}={v}" for k, v in ONE_THREAD.items()) + "; default: no threading "
                         "variable set.")
    metrics = {f"{n}|{m}": {k: _med(v, k) for k in ("import", "read", "quantize", "save", "end_to_end",
                                                      "process_wall", "peak_rss", "rss_after_import",
                                                      "rss_after_runtime", "peak_over_import", "peak_over_runtime")} | {"runs": len(v)}
               for (n, m), v in runs.items()}
    report.metric("quantize", metrics)
    report.metric("facts", {f"{n}|{m}": v[0]["facts"] for (n, m), v in runs.items() if v})

    # ---- accuracy
    t = time.perf_counter()
    rows, acc_metrics = [], {}
    for name in names:
        fp32, mine, theirs = SAMPLES_DIR / f"{name}.xml", out_path(name, "irtool"), out_path(name, "NNCF")
        ov_acc = run_worker(HERE, ["accuracy", "openvino", name, f"fp32={fp32}", f"irtool={mine}", f"nncf={theirs}"],
                            env=thread_env())
        ir_acc = run_worker(HERE, ["accuracy", "irtool", name, f"fp32={fp32}", f"irtool={mine}|int8",
                                   f"irtool_emul={mine}|fp32", f"nncf={theirs}|int8"], env=_env(ONE_THREAD))

        def top1(d: dict, key: str) -> float | None:
            return 100 * d[key]["top1"] if key in d and "top1" in d[key] else None

        for d, tool in ((ov_acc, "openvino"), (ir_acc, "irtool")):
            for k, v in d.items():
                if "error" in v:
                    report.note(f"[red]{name}: {k} in {tool}: {v['error']}[/]")
        f, a, b = top1(ov_acc, "fp32"), top1(ov_acc, "irtool"), top1(ov_acc, "nncf")
        agree = None
        if "pred" in ov_acc.get("irtool", {}) and "pred" in ir_acc.get("irtool", {}):
            p, q = ov_acc["irtool"]["pred"], ir_acc["irtool"]["pred"]
            agree = 100 * sum(u == v for u, v in zip(p, q)) / len(p)
        rows.append([name, f, a, None if a is None or f is None else a - f, b, None if b is None or f is None else b - f,
                     top1(ir_acc, "irtool"), top1(ir_acc, "irtool_emul"), agree, top1(ir_acc, "nncf"),
                     top1(ir_acc, "fp32")])
        acc_metrics[name] = {"fp32_openvino": f, "irtool_int8_openvino": a, "nncf_int8_openvino": b,
                             "irtool_int8_irtool": top1(ir_acc, "irtool"),
                             "irtool_int8_irtool_fq_emulation": top1(ir_acc, "irtool_emul"),
                             "nncf_int8_irtool": top1(ir_acc, "nncf"), "fp32_irtool": top1(ir_acc, "fp32"),
                             "irtool_int8_prediction_agreement_irtool_vs_openvino": agree}
    p, dp = "{:.2f}", "{:+.2f}"
    report.table("top-1 accuracy (%) on the 360 validation digits",
                 ["sample", ("FP32 OV", p), ("irtool8 OV", p), ("drop", dp), ("NNCF8 OV", p), ("drop", dp),
                  ("irtool8 irt", p), ("irtool8 irt-emul", p), ("same pred %", p), ("NNCF8 irt", p),
                  ("FP32 irt", p)], rows,
                 caption="irtool8 / NNCF8: the INT8 IR made by irtool / NNCF in this run. OV: measured in OpenVINO's "
                         "CPU plugin (INFERENCE_PRECISION_HINT f32; FakeQuantize layers still run INT8). irt: in "
                         "irtool's plugin, integer path (precision='int8'); irt-emul: FakeQuantize emulated in FP32 "
                         "(precision='fp32'). drop: INT8 - FP32 (OV), points. same pred: irtool8 predictions equal "
                         "in irtool (integer path) and OpenVINO.")
    report.metric("accuracy", acc_metrics)
    report.log(f"accuracy: {time.perf_counter() - t:.0f} s")

    report.note("irtool INT8 IR, 1-thread run vs default-env run: " + "; ".join(f"{n}: {v}" for n, v in same.items()))
    report.note("NNCF INT8 IR vs samples/NAME_int8: " + "; ".join(f"{n}: {v}" for n, v in nncf_same.items()))
    loads = [r["load_1min"] for v in runs.values() for r in v]
    report.note(f"machine load during the quantization workers: 1-min load average {min(loads):.2f} .. "
                f"{max(loads):.2f} (median {statistics.median(loads):.2f}); at the end: {load_line()}")
    report.note(f"quantized IRs: {WORK.relative_to(REPO)}/NAME_irtool_int8.xml (default env run), "
                f"NAME_nncf_int8.xml; irtool env '1 thread': {' '.join(f'{k}={v}' for k, v in ONE_THREAD.items())}")
    report.metric("identical_irtool_ir_across_envs", same)
    report.metric("nncf_ir_equals_sample", nncf_same)
    shutil.rmtree(scratch, ignore_errors=True)
    report.log(f"total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2:])
    else:
        sys.exit("run through benchmarks/run.py")
