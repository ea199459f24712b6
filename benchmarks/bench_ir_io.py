"""IR read/write: irtool vs OpenVINO on a > 100 MB IR with a few thousand layers.

The IR is built once with OpenVINO's opset API and written by OpenVINO's own serializer (cached in
bench-out/ir_io/). Every measurement runs in a fresh process (imports, caches and peak memory are
isolated), ``report.repeat`` times, interleaving irtool and OpenVINO; the table shows medians.

* read + save: ``irtool.read_model`` + ``irtool.save_model`` to a new path, against
  ``openvino.Core().read_model`` + ``openvino.save_model(..., compress_to_fp16=False)``;
  the irtool output must be byte-identical to the original.
* read + touch: read, then decode every constant and sum it (every weight page is read).

Peak RSS is the worker process's VmHWM (high-water RSS) (it counts the memory-mapped .bin pages that were
touched); "over imports" subtracts the RSS measured right after the imports.

Standalone: ``python benchmarks/bench_ir_io.py --profile`` prints cProfile top entries of irtool's
read and save on the cached IR.
"""
from __future__ import annotations

import filecmp
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import MB, OUT, Clock, emit, median_of, peak_rss_bytes, ratio, rss_bytes, run_worker  # noqa: E402

HERE = Path(__file__).resolve()
WORK = OUT / "ir_io"
MODEL = WORK / "model.xml"

# The IR: a [1, HIDDEN] activation through big MatMuls and Convolutions (the weights), with blocks of
# small layers between them (the XML). Change SPEC and the cached IR is rebuilt.
SPEC = {
    "hidden": 2048,  # MatMul weights [hidden, hidden] f32: 16 MiB each
    "matmuls": 6,
    "convs": 2,  # Conv weights [hidden/4, hidden/4, 3, 3] f32 on a [1, hidden/4, 2, 2] view: 9 MiB each
    "blocks": 720,  # Multiply(scalar const) -> Add(scalar const) -> Clamp: 5 layers each
    "reshape_every": 8,  # a Reshape pair (shape consts: identical blobs, stored once) every N blocks
    "seed": 0,
}
MODES = ("irtool", "openvino")


# ------------------------------------------------------------------------------------------ build
def build_ir() -> dict:
    """Write the IR with OpenVINO (if not cached for this SPEC and OpenVINO version); return its facts."""
    import openvino as ov
    stamp_path = WORK / "model.json"
    stamp = {"spec": SPEC, "openvino": ov.__version__}
    if MODEL.exists() and MODEL.with_suffix(".bin").exists() and stamp_path.exists():
        cached = json.loads(stamp_path.read_text())
        if {k: cached.get(k) for k in stamp} == stamp:
            return cached
    import numpy as np
    from openvino import opset13 as ops

    t0 = time.perf_counter()
    rng = np.random.default_rng(SPEC["seed"])
    h = SPEC["hidden"]
    x = ops.parameter([1, h], np.float32, name="input")
    x.output(0).get_tensor().set_names({"input"})
    big = [("matmul", i) for i in range(SPEC["matmuls"])] + [("conv", i) for i in range(SPEC["convs"])]
    per_gap = SPEC["blocks"] // len(big)
    y, block = x, 0
    for kind, i in big:
        if kind == "matmul":
            w = ops.constant(rng.standard_normal((h, h), dtype=np.float32) * 0.02, name=f"mm{i}.weight")
            y = ops.matmul(y, w, False, True, name=f"mm{i}")
        else:
            c = h // 4
            img = ops.reshape(y, ops.constant(np.array([1, c, 2, 2], np.int64), name=f"conv{i}.shape"), False)
            w = ops.constant(rng.standard_normal((c, c, 3, 3), dtype=np.float32) * 0.02, name=f"conv{i}.weight")
            y = ops.convolution(img, w, [1, 1], [1, 1], [1, 1], [1, 1], name=f"conv{i}")
            y = ops.reshape(y, ops.constant(np.array([1, h], np.int64), name=f"conv{i}.flat"), False)
        for _ in range(per_gap):
            s = ops.constant(np.float32([1 + rng.standard_normal() * 1e-3]), name=f"b{block}.scale")
            b = ops.constant(np.float32([rng.standard_normal() * 1e-3]), name=f"b{block}.bias")
            y = ops.clamp(ops.add(ops.multiply(y, s, name=f"b{block}.mul"), b, name=f"b{block}.add"),
                          -10.0, 10.0, name=f"b{block}.clamp")
            if block % SPEC["reshape_every"] == SPEC["reshape_every"] - 1:
                t = ops.reshape(y, ops.constant(np.array([h // 2, 2], np.int64), name=f"b{block}.tall"), False)
                y = ops.reshape(t, ops.constant(np.array([1, h], np.int64), name=f"b{block}.wide"), False,
                                name=f"b{block}.back")
            block += 1
    y.output(0).get_tensor().set_names({"output"})
    model = ov.Model([ops.result(y, name="output")], [x], "ir_io_bench")
    model.set_rt_info("irtool bench", ["framework", "name"])
    WORK.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(MODEL), compress_to_fp16=False)
    facts = {**stamp, "layers": len(model.get_ordered_ops()), "xml_bytes": MODEL.stat().st_size,
             "bin_bytes": MODEL.with_suffix(".bin").stat().st_size, "build_s": round(time.perf_counter() - t0, 2)}
    stamp_path.write_text(json.dumps(facts, indent=1) + "\n")
    return facts


# ------------------------------------------------------------------------------------------ workers
def worker(argv: list[str]) -> None:
    """``--worker TOOL TASK SRC [DST]``: one measurement in this fresh process, printed as JSON."""
    tool, task, src = argv[0], argv[1], argv[2]
    dst = argv[3] if len(argv) > 3 else None
    clock = Clock()
    with clock("import"):
        if tool == "irtool":
            import irtool
        else:
            import openvino as ov
    import numpy as np
    rss0 = rss_bytes()
    checksum = 0.0
    if tool == "irtool":
        with clock("read"):
            model = irtool.read_model(src)
        if task == "rw":
            with clock("save"):
                irtool.save_model(model, dst)
        else:
            with clock("touch"):
                for layer in model.layers.values():
                    if layer.constant is not None:
                        checksum += float(np.sum(layer.constant.value, dtype=np.float64))
    else:
        with clock("setup"):
            core = ov.Core()
        with clock("read"):
            model = core.read_model(src)
        if task == "rw":
            with clock("save"):
                ov.save_model(model, dst, compress_to_fp16=False)
        else:
            with clock("touch"):
                for op in model.get_ordered_ops():
                    if op.get_type_name() == "Constant":
                        checksum += float(np.sum(op.get_data(), dtype=np.float64))
    emit({**clock.times, "rss_after_import": rss0, "peak_rss": peak_rss_bytes(), "checksum": checksum})


def measure(tool: str, task: str, rep: int) -> dict:
    scratch = WORK / "scratch" / f"{tool}-{task}-{rep}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        dst = scratch / "out.xml"
        result = run_worker(HERE, [tool, task, MODEL] + ([dst] if task == "rw" else []))
        if task == "rw":
            result["xml_identical"] = filecmp.cmp(MODEL, dst, shallow=False)
            result["bin_identical"] = filecmp.cmp(MODEL.with_suffix(".bin"), dst.with_suffix(".bin"), shallow=False)
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # ~120 MB per run: do not let them pile up


# ------------------------------------------------------------------------------------------ main
def main(report) -> None:
    t0 = time.perf_counter()
    facts = build_ir()
    report.note(f"IR: {facts['layers']} layers, .xml {facts['xml_bytes'] / MB:.1f} MB, .bin "
                f"{facts['bin_bytes'] / MB:.1f} MB, written by OpenVINO {facts['openvino']} "
                f"({'cached' if time.perf_counter() - t0 < 1 else f'built in {time.perf_counter() - t0:.1f} s'})")
    for p in (MODEL, MODEL.with_suffix(".bin")):  # same page-cache state for everyone
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass
    runs: dict[tuple[str, str], list[dict]] = {(t, k): [] for t in MODES for k in ("rw", "touch")}
    for rep in range(report.repeat):
        for task in ("rw", "touch"):
            for tool in MODES:
                runs[tool, task].append(measure(tool, task, rep))
        report.log(f"repetition {rep + 1}/{report.repeat} done ({time.perf_counter() - t0:.0f} s)")
    shutil.rmtree(WORK / "scratch", ignore_errors=True)

    for k in runs:
        for r in runs[k]:
            if "save" in r:
                r["total"] = r["read"] + r["save"]
                r["end_to_end"] = r["import"] + r.get("setup", 0.0) + r["total"]
            if "touch" in r:
                r["read_touch"] = r["read"] + r["touch"]
            r["peak_over_import"] = r["peak_rss"] - r["rss_after_import"]

    def med(tool: str, task: str, key: str) -> float | None:
        return median_of(runs[tool, task], key)

    s, mb = "{:.3f}", (lambda v: f"{v / MB:.0f}")
    x = "{:.2f}x"
    rows = []
    for label, task, key, fmt in (
            ("import (s)", "rw", "import", s),
            ("setup: ov.Core() (s)", "rw", "setup", s),
            ("read_model (s)", "rw", "read", s),
            ("save_model (s)", "rw", "save", s),
            ("read + save (s)", "rw", "total", s),
            ("  with import + setup (s)", "rw", "end_to_end", s),
            ("read + touch all weights (s)", "touch", "read_touch", s),
            ("peak RSS, read + save (MB)", "rw", "peak_rss", mb),
            ("  over RSS after imports (MB)", "rw", "peak_over_import", mb),
            ("peak RSS, read + touch (MB)", "touch", "peak_rss", mb),
            ("  over RSS after imports (MB)", "touch", "peak_over_import", mb)):
        a, b = med("irtool", task, key), med("openvino", task, key)
        rows.append([label, (a, fmt), (b, fmt), ratio(a, b)])
        report.metric(f"{task}.{key}", {"irtool": a, "openvino": b, "ratio": ratio(a, b)})
    report.table(f"read + save of a {(facts['xml_bytes'] + facts['bin_bytes']) / MB:.0f} MB IR, "
                 f"{facts['layers']} layers (fresh process each, median of {report.repeat})",
                 ["", "irtool", "OpenVINO", ("irtool/OpenVINO", x)], rows,
                 caption="read + save: the two calls alone; with import + setup: the whole job in a fresh process; "
                         "peak RSS counts touched pages of the memory-mapped .bin")
    rw = runs["irtool", "rw"]
    same_xml, same_bin = all(r["xml_identical"] for r in rw), all(r["bin_identical"] for r in rw)
    ov_xml = all(r["xml_identical"] for r in runs["openvino", "rw"])
    ov_bin = all(r["bin_identical"] for r in runs["openvino", "rw"])
    yn = {True: "yes", False: "NO"}
    report.note(f"irtool output byte-identical to the original: .xml {yn[same_xml]}, .bin {yn[same_bin]} "
                f"({len(rw)} runs)")
    report.note(f"(OpenVINO's own re-save byte-identical: .xml {yn[ov_xml]}, .bin {yn[ov_bin]})")
    sums = {t: runs[t, "touch"][0]["checksum"] for t in MODES}
    if abs(sums["irtool"] - sums["openvino"]) > 1e-6 * max(1.0, abs(sums["openvino"])):
        report.note(f"[red]weight checksums differ: irtool {sums['irtool']!r}, OpenVINO {sums['openvino']!r}[/]")
    report.metric("ir", facts)
    report.metric("byte_identical", {"xml": same_xml, "bin": same_bin})
    report.metric("runs", {f"{t}.{k}": v for (t, k), v in runs.items()})


def profile() -> None:
    """cProfile of irtool's read and save on the cached IR (top entries by cumulative and own time)."""
    import cProfile
    import pstats

    import irtool
    build_ir()
    dst = WORK / "scratch" / "profile"
    dst.mkdir(parents=True, exist_ok=True)
    try:
        for step, fn in (("read_model", lambda: irtool.read_model(MODEL)),
                         ("save_model", lambda: irtool.save_model(model, dst / "out.xml"))):
            prof = cProfile.Profile()
            prof.enable()
            result = fn()
            prof.disable()
            if step == "read_model":
                model = result
            print(f"===== {step}")
            st = pstats.Stats(prof)
            st.sort_stats("cumulative").print_stats(25)
            st.sort_stats("tottime").print_stats(15)
    finally:
        shutil.rmtree(dst, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2:])
    elif sys.argv[1:2] == ["--profile"]:
        profile()
    else:
        sys.exit("run through benchmarks/run.py (or --profile)")
