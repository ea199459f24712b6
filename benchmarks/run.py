"""Benchmark driver: ``make bench`` / ``.venv/bin/python benchmarks/run.py [NAME ...] [-n N]``.

Runs ``main(report)`` of every ``benchmarks/bench_*.py`` (or those named: ``ir_io`` or
``bench_ir_io``), prints a header naming the machine and a table per benchmark, and writes everything
to ``bench-out/results.json``. A new benchmark is just a new ``bench_*.py`` with a ``main(report)``
that calls ``report.table(...)`` / ``report.metric(...)``. irtool is always compared with OpenVINO
measured in the same run, as a ratio irtool/OpenVINO (below 1: irtool is faster / smaller).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import importlib.metadata as _md
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = REPO / "bench-out"
console = Console()


class Report:
    """What a benchmark hands back: tables (shown and saved), metrics and notes (saved)."""

    def __init__(self, name: str, out_dir: Path, repeat: int):
        self.name = name
        self.out_dir = out_dir  # bench-out/, git-ignored: caches and scratch files go under here
        self.repeat = repeat  # how many times to repeat each measurement (take the median)
        self.tables: list[dict] = []
        self.metrics: dict[str, Any] = {}
        self.notes: list[str] = []

    def table(self, title: str, columns: list[str | tuple[str, str | Callable | None]],
              rows: list[list[Any]], caption: str | None = None) -> None:
        """Show and record a table. A column is ``name`` or ``(name, fmt)`` where ``fmt`` is a format
        string (``"{:.3f}"``) or a callable applied to non-None cells; a cell may also be a
        ``(value, fmt)`` pair, for tables whose rows have different units. Raw values go to the JSON."""
        cols = [(c, None) if isinstance(c, str) else c for c in columns]
        t = Table(title=f"[bold]{self.name}[/]: {title}", caption=caption, caption_justify="left")
        for i, (name, _) in enumerate(cols):
            t.add_column(name, justify="left" if i == 0 else "right")
        for row in rows:
            t.add_row(*(_fmt(*v) if isinstance(v, tuple) else _fmt(v, f) for v, (_, f) in zip(row, cols)))
        console.print(t)
        raw = [[v[0] if isinstance(v, tuple) else v for v in row] for row in rows]
        self.tables.append({"title": title, "columns": [c for c, _ in cols], "rows": raw, "caption": caption})

    def metric(self, key: str, value: Any) -> None:
        """A named machine-readable figure (``read_ratio``, ``peak_rss_bytes``...)."""
        self.metrics[key] = value

    def note(self, text: str) -> None:
        console.print(f"  {text}")
        self.notes.append(text)

    def log(self, text: str) -> None:
        """Progress, shown but not saved."""
        console.print(f"  [dim]{text}[/]")

    def as_dict(self) -> dict:
        return {"tables": self.tables, "metrics": self.metrics, "notes": self.notes}


def _fmt(value: Any, fmt: str | Callable | None) -> str:
    if value is None:
        return "—"
    if fmt is None:
        return str(value)
    return fmt(value) if callable(fmt) else fmt.format(value)


def _version(dist: str) -> str:
    try:
        return _md.version(dist)
    except _md.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "usable_cores": usable, "ram_bytes": ram,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "numpy": _version("numpy"), "openvino": _version("openvino"), "irtool": _version("irtool"),
            "irtool_commit": commit}


def discover() -> dict[str, Path]:
    return {p.stem[len("bench_"):]: p for p in sorted(HERE.glob("bench_*.py"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="benchmarks to run (default: all bench_*.py)")
    ap.add_argument("-n", "--repeat", type=int, default=3, help="repetitions per measurement (median; default 3)")
    args = ap.parse_args(argv)
    found = discover()
    wanted = [n.removeprefix("bench_").removesuffix(".py") for n in args.names] or list(found)
    unknown = [n for n in wanted if n not in found]
    if unknown:
        console.print(f"[red]no such benchmark: {', '.join(unknown)}[/] (have: {', '.join(found)})")
        return 2

    info = machine_info()
    ram = f"{info['ram_bytes'] / 2**30:.1f} GiB" if info["ram_bytes"] else "?"
    console.rule("[bold]irtool benchmarks")
    console.print(f"machine: {info['cpu']}, {info['usable_cores']} cores usable ({info['logical_cores']} logical), "
                  f"{ram} RAM, {info['os']}")
    console.print(f"software: Python {info['python']}, numpy {info['numpy']}, openvino {info['openvino']}, "
                  f"irtool {info['irtool']}" + (f" ({info['irtool_commit']})" if info["irtool_commit"] else ""))
    console.print(f"repeat: {args.repeat} (median); ratios are irtool/OpenVINO in this run: < 1 means irtool "
                  "is faster / uses less")

    OUT.mkdir(exist_ok=True)
    sys.path.insert(0, str(HERE))
    results: dict[str, Any] = {"machine": info, "started": _dt.datetime.now().isoformat(timespec="seconds"),
                               "repeat": args.repeat, "benchmarks": {}}
    failed = []
    for name in wanted:
        console.rule(f"[bold]{name}")
        report = Report(name, OUT, args.repeat)
        t0 = time.perf_counter()
        try:
            importlib.import_module(f"bench_{name}").main(report)
            status, error = "ok", None
        except Exception:  # one failing benchmark must not hide the others
            error = traceback.format_exc()
            console.print(error, style="red", markup=False, highlight=False)
            status, failed = "failed", failed + [name]
        entry = {"status": status, "seconds": round(time.perf_counter() - t0, 2), **report.as_dict()}
        if error:
            entry["error"] = error
        results["benchmarks"][name] = entry
        console.print(f"  [dim]{name}: {status} in {entry['seconds']:.1f} s[/]")

    path = OUT / "results.json"
    path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    console.rule()
    console.print(f"results: {path.relative_to(REPO)}" + (f"  [red]failed: {', '.join(failed)}[/]" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
