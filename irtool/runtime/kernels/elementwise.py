"""Elementwise ops: arithmetic, comparisons, logic, bitwise, Select, unary math (ErfInv too),
IsNaN/IsInf/IsFinite, Identity, Convert, ConvertPromoteTypes.

numpy is already the fast path for these (one vectorized pass, no Python per element), so the
kernel and its reference are the same function. The kernels are exact (what constant folding
computes); integer tensors at run time take OpenVINO's CPU plugin's f32 round trips and saturation
instead (``_cpu_int``), and Convert its out-of-range rules.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from irtool.errors import UnsupportedError
from irtool.ir.element_types import element_type
from irtool.runtime.kernels._broadcast import align
from irtool.runtime.kernels._cpu_int import at_run_time, f32, in_f32, math_store, saturating
from irtool.runtime.registry import kernel, specializer


def _same_type(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    """numpy promotes (f32 * f64 scalar...); OpenVINO keeps the input's element type."""
    return result if result.dtype == like.dtype else result.astype(like.dtype)


def _binary(fn):
    def run(a, b, *, auto_broadcast: str = "numpy"):
        a, b = np.asarray(a), np.asarray(b)
        x, y = align(a, b, auto_broadcast)
        return _same_type(np.asarray(fn(x, y)), a)
    return run


def _wrapping(fn, subtract: bool = False):
    """At run time on integers: i32 arithmetic wraps, u8/i8 saturates."""
    def run(a, b, *, auto_broadcast: str = "numpy"):
        x, y = align(np.asarray(a), np.asarray(b), auto_broadcast)
        if subtract and x.dtype.kind == "i" and x.dtype.itemsize < 4:
            y = np.maximum(y, -np.iinfo(x.dtype).max)  # i8 a - b runs as a + (-b), -b saturated: -(-128) = 127
        return saturating(fn, x, y)
    return run


def _via_f32(fn):
    """At run time on integers: computed in f32 (m_pythondiv ignored: Divide truncates), stored back."""
    def run(a, b, *, auto_broadcast: str = "numpy", m_pythondiv: bool = True):
        x, y = align(np.asarray(a), np.asarray(b), auto_broadcast)
        return in_f32(fn)(x, y)
    return run


def _square_difference(a, b):
    return (a - b) * (a - b)


for _op, _fn, _cpu in [("Add", np.add, _wrapping(np.add)), ("Subtract", np.subtract, _wrapping(np.subtract, True)),
                       ("Multiply", np.multiply, _wrapping(np.multiply)), ("Maximum", np.maximum, None),
                       ("Minimum", np.minimum, None),
                       ("SquaredDifference", _square_difference, _wrapping(_square_difference))]:
    _k = kernel(_op)(_binary(_fn))
    if _cpu is not None:
        at_run_time(_k, _cpu)


def _remainder(rounding):
    """At run time, floats too: ``x - rounding(x / y) * y`` in f32 (no FMA), not an exact fmod: far
    from it once x / y is large (798172.3 mod -43.725887 = -0.0625, not 43.69), as OpenVINO's CPU plugin."""
    def remainder(x, y):
        return x - rounding(x / y) * y

    in_ints = _via_f32(remainder)

    def run(a, b, *, auto_broadcast: str = "numpy"):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind in "iu":
            return in_ints(a, b, auto_broadcast=auto_broadcast)
        x, y = align(f32(a), f32(b), auto_broadcast)
        with np.errstate(all="ignore"):
            return remainder(x, y).astype(a.dtype, copy=False)
    return run


at_run_time(kernel("FloorMod")(_binary(np.mod)), _remainder(np.floor), always=True)
at_run_time(kernel("Mod")(_binary(np.fmod)), _remainder(np.trunc), always=True)


@kernel("Divide")
def divide(a, b, *, auto_broadcast: str = "numpy", m_pythondiv: bool = True):
    x, y = align(a, b, auto_broadcast)
    if a.dtype.kind in "iu":
        if m_pythondiv:  # floor division, as Python's //
            return _same_type(np.floor_divide(x, y), a)
        return _same_type(np.trunc(np.true_divide(x, y)).astype(a.dtype), a)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _same_type(np.true_divide(x, y), a)


at_run_time(divide, _via_f32(lambda x, y: np.trunc(x / y)))  # (x / 0: INT_MIN, as OpenVINO's CPU plugin)


@kernel("Power")
def power(a, b, *, auto_broadcast: str = "numpy"):
    x, y = align(a, b, auto_broadcast)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _same_type(np.power(x, y), a)


at_run_time(power, _via_f32(np.power))  # (negative exponents too: 2 ** -1 = 0, 0 ** -1 = INT_MIN)


def _compare(fn, as_f32: bool = False):
    def run(a, b, *, auto_broadcast: str = "numpy"):
        x, y = align(a, b, auto_broadcast)
        if as_f32 and x.dtype.kind in "iu":  # compared as f32 at run time: 16777217 == 16777216
            x, y = f32(x), f32(y)
        return np.asarray(fn(x, y))
    return run


# OpenVINO's CPU plugin at run time: Greater and GreaterEqual are true where either side is NaN (an
# unordered "not less-or-equal" / "not less" compare), the others false (but NotEqual, true)
_AT_RUN_TIME = {"Greater": lambda x, y: ~np.less_equal(x, y), "GreaterEqual": lambda x, y: ~np.less(x, y)}
for _op, _fn in {"Equal": np.equal, "NotEqual": np.not_equal, "Less": np.less, "LessEqual": np.less_equal,
                 "Greater": np.greater, "GreaterEqual": np.greater_equal, "LogicalAnd": np.logical_and,
                 "LogicalOr": np.logical_or, "LogicalXor": np.logical_xor}.items():
    _k = kernel(_op)(_compare(_fn))
    if not _op.startswith("Logical"):
        at_run_time(_k, _compare(_AT_RUN_TIME.get(_op, _fn), as_f32=True), always=_op in _AT_RUN_TIME)


@kernel("LogicalNot")
def logical_not(x):
    return np.logical_not(x)


# ------------------------------------------------------------------------------------------- bitwise
def _bitwise(fn):
    def run(a, b, *, auto_broadcast: str = "numpy"):
        x, y = align(np.asarray(a), np.asarray(b), auto_broadcast)
        return _same_type(np.asarray(fn(x, y)), np.asarray(a))
    return run


for _op, _fn in {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or, "BitwiseXor": np.bitwise_xor,
                 "BitwiseLeftShift": np.left_shift, "BitwiseRightShift": np.right_shift}.items():
    kernel(_op)(_bitwise(_fn))


@kernel("BitwiseNot")
def bitwise_not(x):
    return np.logical_not(x) if x.dtype == np.bool_ else np.invert(x)


@kernel("Select")
def select(cond, then, other, *, auto_broadcast: str = "numpy"):
    return _same_type(np.where(cond, then, other), np.asarray(then))


# ------------------------------------------------------------------------------------------- unary
@numba.njit(cache=True, nogil=True)
def _erf_into(x, out):  # pragma: no cover (jit)
    for i in range(x.size):
        out[i] = math.erf(x[i])


def erf(x: np.ndarray) -> np.ndarray:
    """Elementwise erf (numpy has none; math.erf through numba, exact to the last bit of libm), in the
    input's type (f16 and integers computed in f32). A jitted loop, compiled on first use and cached:
    a ``numba.vectorize`` with signatures compiled at import, 0.85 s of every process's start-up."""
    x = np.asarray(x)
    work = x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)
    work = np.require(work, requirements="C")  # (not ascontiguousarray: it makes a scalar 1-D)
    out = np.empty(work.shape, work.dtype)
    _erf_into(work.reshape(-1), out.reshape(-1))
    return out if out.dtype == x.dtype else out.astype(x.dtype)


# ErfInv as OpenVINO's CPU plugin computes it (measured: within 5e-7 of it, against 2e-2 for an exact
# erfinv near |x| = 0.9966): Giles' single-precision polynomials in w = -log(1 - x*x), with that log a
# degree-8 Taylor series of log(m) about 1 on the mantissa m in [0.5, 1) (4e-4 off near m = 0.5)
_GILES_SMALL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_LARGE = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                -0.0076224613, -0.00943887047, 1.00167406, 2.83297682)
_LOG_TAYLOR = tuple((-1) ** (k + 1) / k for k in range(8, 0, -1))  # log(1 + t) = t - t^2/2 + ... - t^8/8


def _horner(coefficients, t: np.ndarray) -> np.ndarray:
    acc = np.zeros_like(t)
    for c in coefficients:
        acc = acc * t + np.float32(c)
    return acc


@kernel("ErfInv", versions=("opset17",))
def erf_inv(x):
    """The inverse of erf, in f32 (f16 computed in f32): +-inf at +-1, NaN past them and for NaN/inf."""
    x = np.asarray(x)
    v = x.astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        u = np.float32(1) - v * v
        m, e = np.frexp(np.where(u > 0, u, np.float32(1)))
        t = m - np.float32(1)
        w = -(_horner(_LOG_TAYLOR, t) * t + e.astype(np.float32) * np.float32(np.log(2)))
        small = _horner(_GILES_SMALL, w - np.float32(2.5))
        large = _horner(_GILES_LARGE, np.sqrt(np.maximum(w, 0)) - np.float32(3))
        out = np.where(w < 5, small, large) * v
        out = np.where(np.abs(v) == 1, np.copysign(np.float32(np.inf), v), out)
        out = np.where(~(np.abs(v) <= 1), np.float32(np.nan), out)
    return out.astype(x.dtype if x.dtype.kind == "f" else np.float32)


def _unary(fn):
    def run(x):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return _same_type(np.asarray(fn(x)), x)
    return run


# at run time on integers: the JIT eltwise ops and the reference "Math" ones (trigonometric and
# hyperbolic) compute in f32 and store differently (an inf: INT_MIN against the type's end)
_MATH = {"Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"}
for _op, _fn in {"Abs": np.abs, "Sign": np.sign, "Floor": np.floor, "Ceiling": np.ceil,
                 "Sqrt": np.sqrt, "Exp": np.exp, "Log": np.log, "Sin": np.sin, "Cos": np.cos, "Tan": np.tan,
                 "Asin": np.arcsin, "Acos": np.arccos, "Atan": np.arctan, "Sinh": np.sinh, "Cosh": np.cosh,
                 "Asinh": np.arcsinh, "Acosh": np.arccosh, "Atanh": np.arctanh, "Erf": erf}.items():
    _k = kernel(_op)(_unary(_fn))
    if _op == "Abs":
        at_run_time(_k, lambda x: saturating(np.abs, x))  # i32 wraps (|INT_MIN| = INT_MIN), i8 saturates
    elif _op != "Sign":
        at_run_time(_k, in_f32(_unary(_fn), math_store) if _op in _MATH else in_f32(_unary(_fn)))


@kernel("Negative")
def negative(x, *, layer=None):
    return _same_type(np.negative(x), x)


def _prepare_negative(consts, *, layer=None):
    if layer is not None and layer.inputs and layer.inputs[0].element_type.dtype is not None \
            and layer.inputs[0].element_type.dtype.kind == "u":  # as OpenVINO's CPU plugin, at compile time
        raise UnsupportedError(f"layer '{layer.name}' (Negative): an unsigned input "
                               f"({layer.inputs[0].precision}) has no negative")
    return lambda x: saturating(np.negative, x) if x.dtype.kind in "iu" else negative(x)


specializer(negative)(_prepare_negative)


@kernel("IsNaN")
def is_nan(x):
    return np.isnan(x)


@kernel("IsInf")
def is_inf(x, *, detect_negative: bool = True, detect_positive: bool = True):
    return (np.isneginf(x) if detect_negative else np.zeros(x.shape, bool)) | \
        (np.isposinf(x) if detect_positive else np.zeros(x.shape, bool))


@kernel("IsFinite")
def is_finite(x):
    return np.isfinite(x)


@kernel("Identity")
def identity(x):
    return x.copy()  # a new tensor, as OpenVINO's: a later in-place kernel must not write the input


@kernel("Round")
def round_(x, *, mode: str = "half_to_even"):
    if mode.lower() == "half_to_even":
        return np.round(x)
    return _same_type(np.sign(x) * np.floor(np.abs(x) + 0.5), x)  # half away from zero


at_run_time(round_, in_f32(round_))  # (integers through f32: 16777217 -> 16777216)


# ------------------------------------------------------------------------------------------- types
def convert_to(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """OpenVINO's Convert: float -> integer truncates toward zero, then wraps (C casts)."""
    if x.dtype.kind == "f" and dtype.kind in "iu":
        return np.trunc(x).astype(np.int64).astype(dtype)
    if dtype == np.bool_:
        return x != 0
    return x.astype(dtype)


def cpu_convert_to(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Convert as OpenVINO's CPU plugin runs it (measured): float -> integer truncates toward zero into
    i32, NaN and anything outside i32 becoming INT_MIN, then wraps to the type (3e9 -> u8 0, u64
    18446744071562067968: the plugin's i64 is i32 inside), f16's +-inf taken as +-65504 for a 32/64-bit
    type; -> boolean: NaN is false, and so is an i32's INT_MIN."""
    if dtype == np.bool_:
        if x.dtype.kind == "f":
            return (x != 0) & ~np.isnan(x)
        if x.dtype.kind in "iu" and x.dtype.itemsize >= 4:
            return (x != 0) & (x != -2**31)
        return x != 0
    if x.dtype.kind == "f" and dtype.kind in "iu":
        t = np.trunc(x.astype(np.float64))
        if x.dtype == np.float16 and dtype.itemsize >= 4:
            t = np.clip(t, -65504.0, 65504.0)
        return np.where((t >= -2.0**31) & (t < 2.0**31), t, -2.0**31).astype(np.int64).astype(dtype)
    return convert_to(x, dtype)


def _numpy_type(name: str) -> np.dtype:
    et = element_type(name)
    # bf16/f8 and friends compute as f32 here (the value set is what the weights decode to)
    return et.dtype if et.dtype is not None else np.dtype(np.float32)


@kernel("Convert")
def convert(x, *, destination_type: str):
    return convert_to(np.asarray(x), _numpy_type(destination_type))


at_run_time(convert, lambda x, *, destination_type: cpu_convert_to(np.asarray(x), _numpy_type(destination_type)),
            always=True)


@kernel("ConvertPromoteTypes")
def convert_promote_types(a, b, *, layer):
    """Both inputs in their common type. The promotion rules (PyTorch's, with its scalar rule and the
    u64 target) were applied when the IR was made: the output ports state the type, so it is read there."""
    return tuple(convert_to(np.asarray(x), _numpy_type(port.precision or "f32")) for x, port in zip((a, b), layer.outputs))


@kernel("ConvertLike")
def convert_like(x, like):
    return convert_to(np.asarray(x), like.dtype)


at_run_time(convert_like, lambda x, like: cpu_convert_to(np.asarray(x), like.dtype), always=True)
