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


def run_worker(script: str | Path, args: list[str], timeout: float = 300) -> dict:
    """Run ``python script --worker args...`` in a fresh process; return the JSON it printed last."""
    cmd = [sys.executable, str(script), "--worker", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
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
