"""How conformance cases are declared: one-op models built with OpenVINO's opset API, one case per attribute setting,
shape kind and element type worth telling apart. Each data input is a Parameter (nothing folds);
constant inputs (axes, shapes, indices) are Consts, as converters write them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from openvino import opset1

RNG = np.random.default_rng(0)


def f32(*shape, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def ints(low, high, *shape, dtype=np.int32) -> np.ndarray:
    return RNG.integers(low, high, shape).astype(dtype)


def C(values, dtype=np.int64):
    return opset1.constant(np.array(values, dtype))


@dataclass
class Case:
    """``build(*parameters)`` -> the op's node; ``inputs``: one array per Parameter. ``refused``: a
    setting OpenVINO's CPU plugin refuses to compile, which irtool must refuse too, in one line."""

    op: str
    version: str
    label: str
    build: Callable
    inputs: list[np.ndarray]
    rel: float = 1e-4
    element_types: list[str] = field(default_factory=list)
    refused: bool = False

    @property
    def id(self) -> str:
        return f"{self.op}-{self.version}-{self.label}"


CASES: list[Case] = []


def case(op: str, version: str, label: str, build: Callable, *inputs: np.ndarray, rel: float = 1e-4,
         refused: bool = False) -> None:
    """Declare one case; ``refused=True``: OpenVINO's CPU plugin does not run it (nor does irtool)."""
    CASES.append(Case(op, version, label, build, list(inputs), rel,
                      sorted({_type_name(np.asarray(i).dtype) for i in inputs}), refused))


def _type_name(dtype: np.dtype) -> str:
    return "string" if dtype.kind in "US" else str(dtype)  # (str and bytes arrays: '<U5', '|S3'...)


def refused(op: str, version: str, label: str, build: Callable, *inputs: np.ndarray) -> None:
    """A case OpenVINO's CPU plugin refuses at compile time: irtool must refuse it with one clear error."""
    case(op, version, label, build, *inputs, refused=True)


