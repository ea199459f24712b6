"""Activations: ReLU, PReLU, Clamp, Sigmoid, Tanh, Elu, Gelu, Swish, HSwish, HSigmoid, HardSigmoid, Mish,
SoftPlus...

All are one numpy expression in float32 (numpy is the fast path here; OpenVINO fuses them into
the producer's epilogue, a fusion irtool's INT8 path does for the ops that matter), but Gelu's erf
form: a jitted pass with a vectorizable erf (libm's, called per element, cost 9 ns a value).
"""
from __future__ import annotations

import numba
import numpy as np

from irtool.runtime.kernels._cpu_int import at_run_time, in_f32
from irtool.runtime.kernels._math import erf32
from irtool.runtime.kernels.elementwise import erf
from irtool.runtime.registry import kernel


def _f(x: np.ndarray, value) -> np.ndarray:
    """A constant in ``x``'s dtype, so that float32 stays float32."""
    return np.asarray(value, dtype=x.dtype)


@kernel("ReLU")
def relu(x):
    # fmax, not maximum: NaN -> 0, as OpenVINO's vmaxps-based ReLU gives
    return np.fmax(x, _f(x, 0))


@kernel("PReLU")
def prelu(x, slope):
    # A 1-D slope of C values applies along the channel axis (1), as OpenVINO broadcasts it, even
    # where the last axis has C values too (measured: x 2x3x4x3, slope 3 is per channel)
    if slope.ndim == 1 and x.ndim >= 2 and slope.size == x.shape[1]:
        slope = slope.reshape((1, -1) + (1,) * (x.ndim - 2))
    return np.where(x < 0, x * slope, x).astype(x.dtype, copy=False)


@kernel("Clamp")
def clamp(x, *, min: float, max: float):
    if x.dtype.kind in "iu":  # integer clamp rounds the bounds inward
        return np.clip(x, np.ceil(min), np.floor(max)).astype(x.dtype)
    return np.fmin(np.fmax(x, _f(x, min)), _f(x, max))  # NaN -> min, as in OpenVINO


@kernel("Sigmoid")
def sigmoid(x):
    with np.errstate(over="ignore"):
        return (_f(x, 1) / (_f(x, 1) + np.exp(-x))).astype(x.dtype, copy=False)


@kernel("Tanh")
def tanh(x):
    return np.tanh(x)


@kernel("Elu")
def elu(x, *, alpha: float):
    with np.errstate(over="ignore"):
        return np.where(x > 0, x, _f(x, alpha) * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


def gelu_erf_reference(x):
    """``0.5 x (1 + erf(x / sqrt 2))`` with libm's erf."""
    return (_f(x, 0.5) * x * (_f(x, 1) + erf(x * _f(x, 1 / np.sqrt(2))))).astype(x.dtype, copy=False)


# error_model="numpy": a float division without Python's zero check, which kept the loop scalar
@numba.njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def _gelu_erf_into(x, out):  # pragma: no cover (jit)
    for i in range(x.size):
        v = x[i]
        out[i] = np.float32(0.5) * v * (np.float32(1) + erf32(v * np.float32(0.70710678118654752)))


@kernel("Gelu", versions=("opset2",))
def gelu_erf(x):
    """float32: one vectorized pass with ``erf32`` (a few ulp of libm's erf; 8k values 72 -> 3 us);
    other types: the reference."""
    if x.dtype != np.float32:
        return gelu_erf_reference(x)
    x = np.require(x, requirements="C")  # (not ascontiguousarray: it makes a scalar 1-D)
    out = np.empty_like(x)
    _gelu_erf_into(x.reshape(-1), out.reshape(-1))
    return out


@kernel("Gelu", versions=("opset7",))
def gelu(x, *, approximation_mode: str = "ERF"):
    if approximation_mode.lower() == "tanh":
        inner = _f(x, np.sqrt(2 / np.pi)) * (x + _f(x, 0.044715) * x ** 3)
        return (_f(x, 0.5) * x * (_f(x, 1) + np.tanh(inner))).astype(x.dtype, copy=False)
    return gelu_erf(x)


@kernel("Swish")
def swish(x, beta=None):
    b = _f(x, 1) if beta is None else beta.astype(x.dtype)
    return (x * sigmoid(x * b)).astype(x.dtype, copy=False)


@kernel("HSwish")
def hswish(x):
    return (x * np.clip(x + _f(x, 3), _f(x, 0), _f(x, 6)) / _f(x, 6)).astype(x.dtype, copy=False)


@kernel("HSigmoid")
def hsigmoid(x):
    # fmax/fmin, not clip: NaN -> 0, as OpenVINO's CPU plugin gives (its HSwish keeps NaN)
    return (np.fmin(np.fmax(x + _f(x, 3), _f(x, 0)), _f(x, 6)) / _f(x, 6)).astype(x.dtype, copy=False)


@kernel("HardSigmoid")
def hard_sigmoid(x, alpha, beta):
    """``max(0, min(1, alpha x + beta))``, alpha and beta scalar inputs (PaddleOCR's models use it)."""
    a, b = np.asarray(alpha, x.dtype).reshape(()), np.asarray(beta, x.dtype).reshape(())
    return np.fmin(np.fmax(a * x + b, _f(x, 0)), _f(x, 1)).astype(x.dtype, copy=False)


@kernel("SoftPlus")
def softplus(x):
    # log(1 + e^x) without overflow: for large x it is x itself
    with np.errstate(over="ignore"):
        return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20)))).astype(x.dtype, copy=False)


@kernel("Mish")
def mish(x):
    return (x * np.tanh(softplus(x))).astype(x.dtype, copy=False)


@kernel("SoftSign")
def softsign(x):
    return (x / (_f(x, 1) + np.abs(x))).astype(x.dtype, copy=False)


@kernel("Selu")
def selu(x, alpha, lambda_):
    a, lam = alpha.astype(x.dtype), lambda_.astype(x.dtype)
    return (lam * np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))).astype(x.dtype, copy=False)


# integer tensors at run time, as OpenVINO's CPU plugin: computed in f32, rounded to nearest even
# (sigmoid(0) = 0.5 is 0; ReLU(16777217) is 16777216)
for _fn in (relu, prelu, sigmoid, tanh, elu, hswish, hsigmoid):
    at_run_time(_fn, in_f32(_fn))


def _clamp_ints(x, *, min: float, max: float):
    """Clamp of integers at run time: the bounds as f32, then i32/i64 round them inward (ceil min, floor
    max) but u8/i8 truncate them (2.5 -> 2, -1.5 -> -1), as OpenVINO's CPU plugin (measured)."""
    lo, hi = np.float32(min), np.float32(max)
    lo, hi = (np.trunc(lo), np.trunc(hi)) if x.dtype.itemsize < 4 else (np.ceil(lo), np.floor(hi))
    return np.clip(x, np.float64(lo), np.float64(hi)).astype(x.dtype)


at_run_time(clamp, _clamp_ints)
