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


# erf on [-4, 4] (beyond, +-1 in float32) as an odd polynomial over an even one (Eigen's
# generic_fast_erf_float coefficients): a few ulp, no call, vectorizable
_E4 = np.float32(4)
_A = tuple(np.float32(v) for v in (-1.60960333262415e-02, -2.95459980854025e-03, -7.34990630326855e-04,
                                   -5.69250639462346e-05, -2.10102402082508e-06, 2.77068142495902e-08,
                                   -2.72614225801306e-10))
_B = tuple(np.float32(v) for v in (-1.42647390514189e-02, -7.37332916720468e-03, -1.68282697438203e-03,
                                   -2.13374055278905e-04, -1.45660718464996e-05))
_A1, _A3, _A5, _A7, _A9, _A11, _A13 = _A
_B0, _B2, _B4, _B6, _B8 = _B


@numba.njit(inline="always")
def erf32(x):  # pragma: no cover (jit)
    """erf(x) for a float32 x (NaN stays NaN). Its callers compile with error_model="numpy": with
    Python's, the division checks for zero and the loop stays scalar (22 against 3 us for 8k values)."""
    x = min(max(x, -_E4), _E4)
    x2 = x * x
    p = ((((((_A13 * x2 + _A11) * x2 + _A9) * x2 + _A7) * x2 + _A5) * x2 + _A3) * x2 + _A1) * x
    q = (((_B8 * x2 + _B6) * x2 + _B4) * x2 + _B2) * x2 + _B0
    return min(max(p / q, np.float32(-1)), np.float32(1))  # never past +-1 (1 + erf stays >= 0)
