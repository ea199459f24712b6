"""Activations: ReLU, PReLU, Clamp, Sigmoid, Tanh, Elu, Gelu, Swish, HSwish, HSigmoid, Mish, SoftPlus...

All are one numpy expression in float32 (numpy is the fast path here; OpenVINO fuses them into
the producer's epilogue, a fusion irtool's INT8 path does for the ops that matter).
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.kernels.elementwise import erf
from irtool.runtime.registry import kernel


def _f(x: np.ndarray, value) -> np.ndarray:
    """A constant in ``x``'s dtype, so that float32 stays float32."""
    return np.asarray(value, dtype=x.dtype)


@kernel("ReLU")
def relu(x):
    return np.maximum(x, _f(x, 0))


@kernel("PReLU")
def prelu(x, slope):
    # A 1-D slope of C values applies along the channel axis (1), as OpenVINO broadcasts it.
    if slope.ndim == 1 and x.ndim >= 2 and slope.size == x.shape[1] and slope.size != x.shape[-1]:
        slope = slope.reshape((1, -1) + (1,) * (x.ndim - 2))
    return np.where(x < 0, x * slope, x).astype(x.dtype, copy=False)


@kernel("Clamp")
def clamp(x, *, min: float, max: float):
    if x.dtype.kind in "iu":  # integer clamp rounds the bounds inward
        return np.clip(x, np.ceil(min), np.floor(max)).astype(x.dtype)
    return np.clip(x, _f(x, min), _f(x, max))


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


@kernel("Gelu", versions=("opset2",))
def gelu_erf(x):
    return (_f(x, 0.5) * x * (_f(x, 1) + erf(x * _f(x, 1 / np.sqrt(2))))).astype(x.dtype, copy=False)


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
    return (np.clip(x + _f(x, 3), _f(x, 0), _f(x, 6)) / _f(x, 6)).astype(x.dtype, copy=False)


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
