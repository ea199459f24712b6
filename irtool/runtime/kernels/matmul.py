"""MatMul (opset1): numpy ``matmul`` semantics plus OpenVINO's embedded transposes.

transpose_a / transpose_b swap the last two axes of inputs of rank >= 2 (1-D inputs ignore them); a
1-D first input is [1, K] and a 1-D second input [K, 1], the added axis squeezed from the result; batch
dims broadcast. Floats go to BLAS (sgemm/dgemm, one call per batch matrix) through ``np.matmul`` -- the
fastest fp32 GEMM this CPU has (see docs/runtime.md), hence ``gemm_blas``; f16 computes in f32.
Integers are exact: int64 accumulation, then the input's type (wrapping as C does).
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.registry import kernel


def _transposed(a: np.ndarray, flag: bool) -> np.ndarray:
    return a.swapaxes(-1, -2) if flag and a.ndim >= 2 else a


def matmul_reference(a, b, *, transpose_a=False, transpose_b=False):
    """The spec step by step: transpose, unsqueeze 1-D, broadcast batch, multiply-and-sum, squeeze."""
    dtype = a.dtype
    acc = np.int64 if dtype.kind in "iub" else np.float64
    a, b = _transposed(a.astype(acc), transpose_a), _transposed(b.astype(acc), transpose_b)
    squeeze_a, squeeze_b = a.ndim == 1, b.ndim == 1
    a = a[None, :] if squeeze_a else a
    b = b[:, None] if squeeze_b else b
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"MatMul: inner dims differ, {list(a.shape)} x {list(b.shape)}")
    y = (a[..., :, :, None] * b[..., None, :, :]).sum(axis=-2)  # [..., M, K, 1] * [..., 1, K, N]
    y = y[..., 0, :] if squeeze_a else y
    y = y[..., 0] if squeeze_b else y
    return np.asarray(y).astype(dtype)


@kernel("MatMul", versions=("opset1",), impl="gemm_blas")
def matmul(a, b, *, transpose_a: bool = False, transpose_b: bool = False):
    a, b = np.asarray(a), np.asarray(b)
    dtype = a.dtype
    a, b = _transposed(a, transpose_a), _transposed(b, transpose_b)
    if dtype.kind in "iub":
        return np.asarray(np.matmul(a.astype(np.int64), b.astype(np.int64))).astype(dtype)
    ct = np.float64 if dtype == np.float64 else np.float32
    y = np.matmul(a.astype(ct, copy=False), b.astype(ct, copy=False))
    return np.asarray(y).astype(dtype, copy=False)
