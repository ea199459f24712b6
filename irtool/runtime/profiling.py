"""Performance counters: one record per layer, as OpenVINO's ``ov::ProfilingInfo``."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

EXECUTED = "EXECUTED"
NOT_RUN = "NOT_RUN"
OPTIMIZED_OUT = "OPTIMIZED_OUT"

_PRECISION = {np.dtype(np.float32): "FP32", np.dtype(np.float16): "FP16", np.dtype(np.float64): "FP64",
              np.dtype(np.int8): "I8", np.dtype(np.uint8): "I8", np.dtype(np.int32): "I32",
              np.dtype(np.int64): "I64", np.dtype(np.bool_): "BOOL", np.dtype(np.int16): "I16",
              np.dtype(np.uint16): "U16", np.dtype(np.uint32): "U32", np.dtype(np.uint64): "U64"}


@dataclass
class ProfilingInfo:
    """Counters of one layer for the last inference (times in microseconds)."""

    node_name: str
    node_type: str
    exec_type: str
    real_time: float
    cpu_time: float
    status: str

    def to_dict(self) -> dict:
        return asdict(self)


# numpy has no bfloat16: a layer computing in bf16 names this stand-in as its type (kernels/bf16_amx.py)
BF16_DTYPE = np.dtype([("bfloat16", np.uint16)])


def precision_of(dtype: np.dtype) -> str:
    """The suffix OpenVINO puts on exec types: ``I8`` for u8/i8 inputs, ``FP32``..."""
    dtype = np.dtype(dtype)
    if dtype == BF16_DTYPE:
        return "BF16"
    return "STRING" if dtype.kind in "OSU" else _PRECISION.get(dtype, "FP32")


def exec_type(impl: str, isa: str, dtype: np.dtype) -> str:
    """``ref`` -> ``ref_any_FP32``; ``jit`` -> ``jit_avx2_FP32``; others keep their name: ``gemm_blas_FP32``."""
    if impl == "ref":
        impl = "ref_any"
    elif impl == "jit":
        impl = f"jit_{isa}"
    return f"{impl}_{precision_of(dtype)}"
