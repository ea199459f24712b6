"""Latency and throughput of a compiled model, in the manner of OpenVINO's benchmark_app."""
from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from irtool.errors import InputError
from irtool.runtime.plugin import CompiledModel
from irtool.runtime.profiling import ProfilingInfo


@dataclass
class BenchmarkResult:
    first_inference_ms: float
    count: int
    duration_ms: float
    latency_median_ms: float
    latency_average_ms: float
    latency_min_ms: float
    latency_max_ms: float
    throughput_fps: float
    batch: int

    def to_dict(self) -> dict:
        return asdict(self)


def benchmark(compiled: CompiledModel, inputs: Mapping[str, np.ndarray], *, niter: int | None = None,
              seconds: float | None = None, progress=None) -> tuple[BenchmarkResult, list[ProfilingInfo]]:
    """Run one request in a loop (latency mode) for ``niter`` iterations or ``seconds``.

    Returns the timings and the performance counters averaged over the timed iterations.
    ``progress(done_fraction)`` is called now and then, for a progress bar.
    """
    if niter is None and seconds is None:
        seconds = 5.0
    if niter is not None and niter < 1:
        raise InputError(f"-niter {niter}: give a number of iterations of at least 1")
    if seconds is not None and not seconds > 0:
        raise InputError(f"-t {seconds:g}: give a duration in seconds above 0")
    request = compiled.create_infer_request()
    t0 = time.perf_counter()
    request.infer(inputs)
    first = time.perf_counter() - t0
    latencies: list[float] = []
    totals: dict[str, list[float]] = {}
    start = time.perf_counter()
    # at least one timed iteration, however short the time given: the statistics need one
    while not latencies or ((niter is None or len(latencies) < niter)
                            and (seconds is None or time.perf_counter() - start < seconds)):
        t = time.perf_counter()
        request.infer(inputs)
        latencies.append(time.perf_counter() - t)
        for rec in request.get_profiling_info():
            acc = totals.setdefault(rec.node_name, [0.0, 0.0])
            acc[0] += rec.real_time
            acc[1] += rec.cpu_time
        if progress:
            progress(len(latencies) / niter if niter else (time.perf_counter() - start) / seconds)
    duration = time.perf_counter() - start
    batch = max((v.shape[0] for v in inputs.values() if np.ndim(v)), default=1)
    ms = [v * 1000 for v in latencies]
    result = BenchmarkResult(first * 1000, len(ms), duration * 1000, statistics.median(ms), statistics.fmean(ms),
                             min(ms), max(ms), batch * len(ms) / duration, batch)
    counters = [ProfilingInfo(r.node_name, r.node_type, r.exec_type, totals[r.node_name][0] / len(ms),
                              totals[r.node_name][1] / len(ms), r.status) for r in request.get_profiling_info()]
    return result, counters
