"""Helpers shared by the ``bench_*.py`` modules (not a benchmark itself: the driver only runs ``bench_*``).

Measurements that must not share a process (imports, caches, peak memory) run in a fresh worker
process: the benchmark module re-runs itself with ``--worker ...`` and prints one JSON line.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench-out"
MB = 1e6


def rss_bytes() -> int:
    """Resident set size of this process now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far: VmHWM, the high-water mark of this address space.

    Not ``getrusage().ru_maxrss``: Linux carries that over from the parent across fork + exec, so a
    worker started by a 200 MB parent would report at least 200 MB whatever it did itself.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # not Linux


class Clock:
    """``with clock("read"): ...`` records seconds per step in ``clock.times``."""

    def __init__(self):
        self.times: dict[str, float] = {}

    def __call__(self, step: str) -> "_Step":
        return _Step(self, step)


class _Step:
    def __init__(self, clock: Clock, step: str):
        self.clock, self.step = clock, step

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        self.clock.times[self.step] = time.perf_counter() - self.t0


# Environment variables that change how irtool (numba), numpy (OpenBLAS) and OpenVINO use threads.
THREAD_VARS = ("NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
               "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_PROC_BIND", "MKL_NUM_THREADS", "GOTO_NUM_THREADS",
               "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
               "IRTOOL_NUM_THREADS", "IRTOOL_BLAS_THREADS", "IRTOOL_PARALLEL_MACS")


def worker_env(env: dict[str, str] | None = None, unset: tuple[str, ...] | list[str] = ()) -> dict[str, str]:
    """The environment of a worker: this process's, minus ``unset``, plus ``env``."""
    out = {k: v for k, v in os.environ.items() if k not in set(unset)}
    out.update(env or {})
    out["PYTHONDONTWRITEBYTECODE"] = "1"
    return out


def thread_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A worker environment with every threading variable (``THREAD_VARS``) removed, then ``extra`` set:
    "default env" means the libraries' own defaults, whatever the caller's shell had exported."""
    return worker_env(extra, unset=THREAD_VARS)


def load_line() -> str:
    """``load 1/5/15 min: a b c on N cores`` (os.getloadavg), for notes on how busy the machine was."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    a, b, c = os.getloadavg()
    return f"load average (1/5/15 min) {a:.2f} / {b:.2f} / {c:.2f} on {cores} cores"


def run_worker(script: str | Path, args: list[str], timeout: float = 300,
               env: dict[str, str] | None = None) -> dict:
    """Run ``python script --worker args...`` in a fresh process; return the JSON it printed last.

    ``env``: the worker's whole environment (see :func:`worker_env` / :func:`thread_env`); default:
    this process's environment."""
    cmd = [sys.executable, str(script), "--worker", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env=env if env is not None else worker_env())
    if proc.returncode != 0:
        raise RuntimeError(f"worker {' '.join(cmd[1:])} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"worker {' '.join(cmd[1:])} printed no result:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def emit(result: dict) -> None:
    """What a worker prints as its result (the last JSON line of its stdout)."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def median_of(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None
