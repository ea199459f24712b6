"""A seeded slice of ``make fuzz`` (tools/fuzz.py, issue 15): mutants of every sample IR through read,
validate, compile, infer (and quantize/the CLI for a slice) in worker processes: no foreign exception,
crash, hang or CLI traceback."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import fuzz  # noqa: E402

N = 300
SEED = 20260


def test_a_seeded_slice_of_mutants_has_no_escape(tmp_path):
    summary = fuzz.campaign(N, SEED, tmp_path / "fuzz-out", workers=2, timeout=120, quantize_every=25,
                            cli_every=30, memory_gb=6.0)
    counts = summary["counts"]
    assert sum(counts.values()) == N
    escapes = [b for b in summary["bad"] if b["outcome"] in fuzz.BAD]
    assert not escapes, "\n".join(f"{b['outcome']} #{b['index']} {b['sample']} {b['done']} at {b['stage']}: "
                                  f"{b['detail'][-300:]}" for b in escapes)
    assert counts["clean"] > 0 and counts["ok"] > 0  # the mutants reach both ends


def test_a_mutant_is_the_same_on_every_run():
    samples = sorted((ROOT / "samples").glob("*.xml"))
    ops = ["Add", "ReLU", "Gather"]
    assert fuzz.mutate(1, 7, samples, ops) == fuzz.mutate(1, 7, samples, ops)
