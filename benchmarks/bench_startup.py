"""Start-up: ``irtool run`` of the digits sample (FP32, and irtool's own INT8 IR of it) from a fresh process,
with a warm and a cold numba cache, against OpenVINO doing the same work in a fresh ``python -c``.

* irtool: ``irtool run MODEL -i samples/digits_cnn_val.npz`` (read, check, load-time transformations,
  then the 360 validation samples batch by batch, top-1 printed). Warm: ``NUMBA_CACHE_DIR`` filled by a
  run before; cold: a new empty one (numba compiles every kernel the model runs; irtool's op index is
  made again too).
* OpenVINO: ``read_model`` + ``compile_model`` (CPU, LATENCY hint; f32 for the FP32 model) + one
  inference per validation sample, the same inputs.

``IRTOOL_STARTUP_BASELINE=/path/to/another/checkout`` adds the same ``irtool run`` rows for that
checkout's irtool (``python -m irtool.cli`` run in that folder): before/after in one run.

Every command is a subprocess with the libraries' default threads; Python's bytecode caches are warm
(written under bench-out/startup/pycache, as an installed package has them). The commands rotate
within each repetition, so a slow phase of the machine hits all of them; the table gives the minimum
(the figure the README quotes: the machine is shared) and the median. Ratios: irtool / OpenVINO.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchlib import OUT, REPO, load_line, thread_env

WORK = OUT / "startup"
SAMPLES = REPO / "samples"
FP32 = SAMPLES / "digits_cnn.xml"
VAL = SAMPLES / "digits_cnn_val.npz"
CALIB = SAMPLES / "digits_cnn_calib.npz"

_OV = """
import sys, numpy as np, openvino as ov
core = ov.Core()
config = {"PERFORMANCE_HINT": "LATENCY"}
if sys.argv[3] == "fp32":
    config["INFERENCE_PRECISION_HINT"] = "f32"
compiled = core.compile_model(core.read_model(sys.argv[1]), "CPU", config)
x = np.load(sys.argv[2])["input"]
request = compiled.create_infer_request()
for i in range(x.shape[0]):
    request.infer({"input": x[i:i + 1]})
"""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def _env(numba_cache: Path | None = None, path: str | None = None) -> dict[str, str]:
    env = thread_env({"PYTHONPYCACHEPREFIX": str(WORK / "pycache")} | ({"PYTHONPATH": path} if path else {}))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode caches as an installed package has them
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    if path:
        env["_CWD"] = path
    return env


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    cwd = env.pop("_CWD", REPO)  # (python -m puts the working folder first on sys.path)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def main(report) -> None:
    cli = Path(sys.executable).parent / "irtool"
    if not cli.exists():
        cli = Path(shutil.which("irtool") or "irtool")
    WORK.mkdir(parents=True, exist_ok=True)
    warm_cache = WORK / "numba-warm"
    shutil.rmtree(warm_cache, ignore_errors=True)
    int8 = WORK / "digits_cnn_int8.xml"
    subprocess.run([str(cli), "quantize", str(FP32), "--data", str(CALIB), "-o", str(int8)], check=True,
                   capture_output=True, cwd=REPO, env=_env(warm_cache), timeout=600)
    models = {"fp32": FP32, "int8": int8}
    commands = {}
    for kind, xml in models.items():
        run = [str(cli), "run", str(xml), "-i", str(VAL)]
        commands[f"irtool {kind} warm"] = (run, lambda rep: _env(warm_cache))
        commands[f"irtool {kind} cold"] = (run, lambda rep, kind=kind: _env(_fresh(f"numba-cold-{kind}-{rep}")))
        commands[f"openvino {kind}"] = ([sys.executable, "-c", _OV, str(xml), str(VAL), kind], lambda rep: _env())
    base = os.environ.get("IRTOOL_STARTUP_BASELINE")
    if base:
        base_warm = WORK / "numba-warm-baseline"
        shutil.rmtree(base_warm, ignore_errors=True)
        for kind, xml in models.items():
            run = [sys.executable, "-m", "irtool.cli", "run", str(xml), "-i", str(VAL)]
            commands[f"baseline {kind} warm"] = (run, lambda rep: _env(base_warm, base))
            commands[f"baseline {kind} cold"] = (
                run, lambda rep, kind=kind: _env(_fresh(f"numba-cold-baseline-{kind}-{rep}"), base))
    for name, (cmd, env) in commands.items():  # bytecode caches and the warm numba cache filled
        if "cold" not in name:
            _wall(cmd, env(-1))
    reps = max(report.repeat, 5)
    times: dict[str, list[float]] = {k: [] for k in commands}
    for rep in range(reps):
        for name, (cmd, env) in commands.items():
            times[name].append(_wall(cmd, env(rep)))
        report.log(f"repetition {rep + 1}/{reps}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    shutil.rmtree(WORK / "cold", ignore_errors=True)
    rows = []
    for kind in models:
        ov = times[f"openvino {kind}"]
        for state in ("warm", "cold"):
            t = times[f"irtool {kind} {state}"]
            rows.append([f"irtool run, {kind.upper()}, {state} numba cache", min(t), statistics.median(t),
                         min(ov), min(t) / min(ov), statistics.median(t) / statistics.median(ov)])
        rows.append([f"OpenVINO read + compile + infer, {kind.upper()}", min(ov), statistics.median(ov), min(ov),
                     1.0, 1.0])
        for state in ("warm", "cold") if base else ():
            t = times[f"baseline {kind} {state}"]
            rows.append([f"baseline ({Path(base).name}) irtool run, {kind.upper()}, {state}", min(t),
                         statistics.median(t), min(ov), min(t) / min(ov), statistics.median(t) / statistics.median(ov)])
    x = "{:.2f}x"
    report.table(f"start-up on {cpu_model()} ({os.cpu_count()} cores), digits CNN + 360 validation samples, "
                 f"wall s over {reps} rotations",
                 ["", ("min s", "{:.2f}"), ("median s", "{:.2f}"), ("OpenVINO min s", "{:.2f}"),
                  ("ratio (min)", x), ("ratio (median)", x)], rows,
                 caption="fresh processes; warm: NUMBA_CACHE_DIR filled by an earlier run; cold: empty. INT8: "
                         "irtool's own quantized IR of the sample (irtool quantize), OpenVINO runs the same IR. "
                         "Bytecode caches warm; default threads.")
    report.metric("startup_s", times)
    report.metric("cpu", cpu_model())
    report.note(load_line())


def _fresh(name: str) -> Path:
    path = WORK / "cold" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run

    sys.exit(run.main(["startup", *sys.argv[1:]]))
