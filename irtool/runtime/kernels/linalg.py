"""Linear algebra beyond MatMul: Einsum, Inverse, Eye.

numpy's einsum and LU-based inverse are the kernel and the reference; Einsum keeps its operands'
element type (numpy would widen integer sums only on request).
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.kernels.elementwise import _numpy_type
from irtool.runtime.registry import kernel


@kernel("Einsum")
def einsum(*inputs, equation: str):
    """``numpy.einsum(equation, *inputs)`` (ellipses, repeated labels and implicit outputs as numpy)."""
    dtype = inputs[0].dtype
    return np.asarray(np.einsum(equation.replace(" ", ""), *inputs, optimize=len(inputs) > 2)).astype(dtype)


@kernel("Inverse")
def inverse(x, *, adjoint: bool = False):
    """The inverse of every matrix in the last two axes (in float64, then the input's type); with
    ``adjoint``, its transpose."""
    inv = np.linalg.inv(x.astype(np.float64))
    return np.ascontiguousarray(np.swapaxes(inv, -1, -2) if adjoint else inv).astype(x.dtype)


@kernel("Eye")
def eye(num_rows, num_columns, diagonal_index, batch_shape=None, *, output_type: str):
    """Ones on the diagonal shifted by ``diagonal_index`` (up for positive), repeated over ``batch_shape``."""
    rows, cols, k = (int(np.asarray(v).reshape(-1)[0]) for v in (num_rows, num_columns, diagonal_index))
    out = np.eye(rows, cols, k, dtype=_numpy_type(output_type))
    if batch_shape is not None:
        out = np.broadcast_to(out, tuple(int(v) for v in np.asarray(batch_shape).reshape(-1)) + out.shape).copy()
    return out
