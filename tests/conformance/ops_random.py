"""Conformance cases: random numbers (RandomUniform, Multinomial), bit for bit (rel=0) for the seeds
given: both generators are OpenVINO CPU's, measured."""
from __future__ import annotations

import numpy as np
from openvino import opset8, opset13

from tests.conformance._build import RNG, C, case, refused

SEEDS = ((150, 10), (0, 7), (2 ** 40 + 3, 2 ** 33 + 1))
TYPES = {"f32": np.float32, "f16": np.float16, "f64": np.float64, "i32": np.int32, "i64": np.int64}


def _uniform(shape, lo, hi, et, seeds, alignment, bounds_as_inputs):
    """A RandomUniform case: constant shape; the bounds constants, or inputs (the plugin converts
    i64 ones at run time, wrapping, where constants saturate)."""
    dt = TYPES[et]
    g, o = seeds
    if bounds_as_inputs:
        return (lambda a, b: opset8.random_uniform(C(shape), a, b, et, g, o, alignment)), [np.array(lo, dt),
                                                                                            np.array(hi, dt)]
    return (lambda: opset8.random_uniform(C(shape), C(lo, dt), C(hi, dt), et, g, o, alignment)), []


# --------------------------------------------------------------------------------------- RandomUniform
BOUNDS = {"f32": [(0.0, 1.0), (-3.5, 7.25), (1e-3, 1e6)], "f16": [(0.0, 1.0), (-100.0, 3000.0)],
          "f64": [(-1.0, 3.0)],
          "i32": [(0, 10), (-50, 2 ** 31 - 7), (-2 ** 31, 2 ** 31 - 1)],
          "i64": [(-5, 1000), (-2 ** 33 + 5, 2 ** 33 + 100)]}
for alignment in ("tensorflow", "pytorch"):
    for et, bounds in BOUNDS.items():
        for lo, hi in bounds:
            for s, seeds in enumerate(SEEDS):
                for as_inputs in (False, True):
                    shape = [3, 5, 7] if s != 1 else [40, 51]  # 2040 elements: the plugin splits them over threads
                    build, inputs = _uniform(shape, lo, hi, et, seeds, alignment, as_inputs)
                    label = f"{alignment}-{et}-{lo:g}..{hi:g}-seeds{s}-{'inputs' if as_inputs else 'consts'}"
                    case("RandomUniform", "opset8", label, build, *inputs, rel=0)
case("RandomUniform", "opset8", "tensorflow-f32-shape-input", lambda s: opset8.random_uniform(
    s, C(-1.0, np.float32), C(2.0, np.float32), "f32", 7, 3), np.array([4, 3, 2], np.int64), rel=0)
case("RandomUniform", "opset8", "pytorch-f32-1500", lambda: opset8.random_uniform(
    C([1500]), C(0.0, np.float32), C(5.0, np.float32), "f32", 99, 1, "pytorch"), rel=0)  # past one MT state
case("RandomUniform", "opset8", "tensorflow-f32-one", lambda: opset8.random_uniform(
    C([1]), C(0.0, np.float32), C(1.0, np.float32), "f32", 5, 6), rel=0)  # (a scalar shape: OpenVINO's is garbage)
# i64 constant bounds that saturate to the same i32 value: the plugin's validation refuses them
refused("RandomUniform", "opset8", "i64-bounds-equal-as-i32", lambda: opset8.random_uniform(
    C([4]), C(2 ** 32 + 7), C(2 ** 32 + 1000), "i64", 1, 2))


# ----------------------------------------------------------------------------------------- Multinomial
def _probs(b, k, log):
    p = RNG.random((b, k)).astype(np.float32)
    return np.log(p / p.sum(1, keepdims=True)).astype(np.float32) if log else p


for replacement in (True, False):
    for log in (False, True):
        for et in ("i32", "i64"):
            for s, (g, o) in enumerate(SEEDS + ((123456789, 0),)):
                for b, k, n in ((1, 5, 4), (3, 7, 20), (2, 50, 200)):
                    n = n if replacement else min(n, k)
                    label = f"repl{int(replacement)}-log{int(log)}-{et}-seeds{s}-{b}x{k}-n{n}"
                    case("Multinomial", "opset13", label, lambda p, n=n, r=replacement, lg=log, t=et, g=g, o=o: (
                        opset13.multinomial(p, C([n]), t, r, lg, g, o)), _probs(b, k, log), rel=0)
case("Multinomial", "opset13", "zero-probabilities", lambda p: opset13.multinomial(
    p, C([30]), "i32", True, False, 4, 5), np.array([[0.0, 0.5, 0.0, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0, 2.0]],
                                                   np.float32), rel=0)
case("Multinomial", "opset13", "i32-num-samples", lambda p: opset13.multinomial(
    p, C([6], np.int32), "i64", False, False, 8, 9), _probs(2, 9, False), rel=0)
case("Multinomial", "opset13", "f16-probs", lambda p: opset13.multinomial(p, C([25]), "i32", True, False, 3, 4),
     _probs(2, 6, False).astype(np.float16), rel=0)
