"""Inlined float32 math for the kernels: an ``exp`` that LLVM vectorizes.

numba lowers ``np.exp`` on a float32 scalar to a call of libm's ``expf``, which no loop vectorizes
(about 5 ns an element). ``exp32`` is Cephes' ``expf`` in plain arithmetic instead: range reduction
by ln 2 in two parts, a degree-6 polynomial, and the power of two built in the exponent bits; within
2 ulp of ``expf`` over the normal range.
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic


@intrinsic
def _as_float32(typingctx, bits):
    """The float32 whose bit pattern is the int32 ``bits`` (an LLVM bitcast: free, vectorizable)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())
    return sig, codegen


_HI, _LO = np.float32(88.37626), np.float32(-87.33654)  # the range where 2**n stays a normal float
_LOG2E, _C1, _C2 = np.float32(1.44269504088896341), np.float32(0.693359375), np.float32(-2.12194440e-4)
_P0, _P1, _P2 = np.float32(1.9875691500e-4), np.float32(1.3981999507e-3), np.float32(8.3334519073e-3)
_P3, _P4, _P5 = np.float32(4.1665795894e-2), np.float32(1.6666665459e-1), np.float32(5.0000001201e-1)


@numba.njit(inline="always")
def exp32(x):  # pragma: no cover (jit)
    """exp(x) for a float32 x, clamped to [-87.34, 88.38] first: below, the smallest normal float
    (not 0 or a subnormal), above, exp(88.38) ~ 2.5e38 (not up to 3.4e38, then inf); NaN stays NaN."""
    x = min(max(x, _LO), _HI)
    n = np.floor(x * _LOG2E + np.float32(0.5))
    r = x - n * _C1 - n * _C2
    z = r * r
    p = ((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5
    y = p * z + r + np.float32(1)
    return y * _as_float32(np.int32(n + np.float32(127)) << np.int32(23))
