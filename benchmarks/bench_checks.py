"""The load-time check pass (issue 15): what ``irtool.ir.checks.check_model`` adds to ``compile_model``
on each sample, as a percentage of compile_model without it (the issue's budget: under 5%).

In one process, warm (numba's kernels compiled and cached, the op table loaded, one compile of each
sample done first): per sample, rounds of compile_model with the check pass and without it
(``plugin.check_model`` replaced by a no-op), interleaved so both see the same machine state, and
check_model alone on a freshly read model (its per-op caches warm, as after the first model). The
medians of ``report.repeat`` x 15 rounds.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BUDGET = 5.0  # percent


def _median_time(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(samples: list[Path], rounds: int) -> list[dict]:
    import irtool
    from irtool.ir.checks import check_model
    from irtool.runtime import plugin

    rows = []
    real = plugin.check_model
    for xml in samples:
        irtool.compile_model(irtool.read_model(xml))  # warm: kernels, caches
        with_checks, without, alone, from_path = [], [], [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            irtool.compile_model(xml)  # as the CLI and most callers do: read + check + plan
            from_path.append(time.perf_counter() - t0)
            model = irtool.read_model(xml)
            t0 = time.perf_counter()
            check_model(model)
            alone.append(time.perf_counter() - t0)
            model = irtool.read_model(xml)
            t0 = time.perf_counter()
            irtool.compile_model(model)
            with_checks.append(time.perf_counter() - t0)
            plugin.check_model = lambda m: None
            try:
                model = irtool.read_model(xml)
                t0 = time.perf_counter()
                irtool.compile_model(model)
                without.append(time.perf_counter() - t0)
            finally:
                plugin.check_model = real
        w, wo, a, p = (statistics.median(v) for v in (with_checks, without, alone, from_path))
        rows.append({"sample": xml.stem, "compile_ms": w * 1e3, "compile_unchecked_ms": wo * 1e3,
                     "check_ms": a * 1e3, "check_pct": 100 * a / wo, "difference_pct": 100 * (w - wo) / wo,
                     "compile_path_ms": p * 1e3, "check_path_pct": 100 * a / (p - a)})
    return rows


def main(report) -> None:
    samples = sorted((REPO / "samples").glob("*.xml"))
    rows = measure(samples, 15 * report.repeat)
    report.table("check pass vs compile_model (warm, medians)",
                 ["sample", ("compile(path) ms", "{:.2f}"), ("check / compile(path) %", "{:.1f}"),
                  ("compile(model) ms", "{:.2f}"), ("unchecked ms", "{:.2f}"), ("check ms", "{:.3f}"),
                  ("check / unchecked(model) %", "{:.1f}"), ("with - without %", "{:.1f}")],
                 [[r["sample"], r["compile_path_ms"], r["check_path_pct"], r["compile_ms"], r["compile_unchecked_ms"],
                   r["check_ms"], r["check_pct"], r["difference_pct"]] for r in rows],
                 caption=f"budget: under {BUDGET}% of compile_model(path) without the checks (read + plan, what "
                         "`irtool run` pays); of a compile_model(Model) given an already read model too. The "
                         "difference of two noisy timings is shown for reference")
    for key, label in (("check_path_pct", "compile_model(path)"), ("check_pct", "compile_model(Model)")):
        worst = max(r[key] for r in rows)
        report.metric(f"{key}_max", worst)
        report.metric(key, {r["sample"]: r[key] for r in rows})
        report.note(f"check pass: at most {worst:.1f}% of {label} (budget {BUDGET}%)"
                    + ("" if worst < BUDGET else "  OVER BUDGET"))


if __name__ == "__main__":
    for r in measure(sorted((REPO / "samples").glob("*.xml")), 15):
        print(f"{r['sample']:24s} path {r['compile_path_ms']:7.2f} ms {r['check_path_pct']:5.1f}%  "
              f"compile {r['compile_ms']:7.2f} ms  unchecked {r['compile_unchecked_ms']:7.2f} ms  "
              f"check {r['check_ms']:6.3f} ms  {r['check_pct']:5.1f}%  (diff {r['difference_pct']:+.1f}%)")
