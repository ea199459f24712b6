"""Elementwise ops on integer tensors as OpenVINO's CPU plugin runs them (measured against 2026.4 on x86).

The plugin's eltwise kernels compute most ops in f32 even for integer tensors: the inputs become f32
(so 16777217 is 16777216), the result is stored back rounded to nearest even, and the store decides
what an out-of-range value becomes. Only a few ops (Add, Subtract, Multiply, Maximum, Minimum,
SquaredDifference, Abs, Negative, Select) keep i32 arithmetic, wrapping as C does; on u8/i8 they
saturate. Constant folding is exact instead (OpenVINO folds constant subgraphs with its reference
arithmetic: pythondiv floors, 16777217 stays), so irtool's kernels stay exact, which the load-time
folding uses, and these forms replace them, through a specializer, only for the layers left to run.

i64 tensors are i32 inside the plugin; that 32-bit wrap is not emulated (an i64 value or result past
i32 differs from OpenVINO), but every f32 round trip is.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from irtool.runtime.registry import specializer

_F32 = np.float32
_I32_MIN, _I32_TOP = -2.0**31, 2147483520.0  # the largest f32 below 2**31


def is_int(x) -> bool:
    return np.asarray(x).dtype.kind in "iu"


def f32(x) -> np.ndarray:
    return np.asarray(x).astype(_F32)


def jit_store(r: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """An f32 result in an integer tensor as the JIT eltwise kernels store it: rounded to nearest even
    (cvtps2dq), NaN and anything outside i32 -> INT_MIN (x86's "integer indefinite"), then saturated
    to an 8/16-bit type (so INT_MIN is its minimum: 0 for u8)."""
    r = np.rint(np.asarray(r, _F32)).astype(np.float64)
    i = np.where((r >= _I32_MIN) & (r < 2.0**31), r, _I32_MIN).astype(np.int64)
    return _saturate(i, dtype)


def math_store(r: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """An f32 result in an integer tensor as the reference "Math" kernels (trigonometric and hyperbolic
    ops, Selu) leave it, through a saturating conversion: an overflow or inf goes to the type's end
    (i32: 2147483520), NaN to the minimum of a signed type and the maximum of an unsigned one."""
    dtype = np.dtype(dtype)
    info = np.iinfo(np.int32 if dtype == np.int64 else dtype)  # (i64 is i32 inside the plugin)
    r = np.rint(np.asarray(r, _F32)).astype(np.float64)
    top = min(float(info.max), _I32_TOP)
    nan = float(info.min if info.min < 0 else info.max)
    return np.where(np.isnan(r), nan, np.clip(r, max(float(info.min), _I32_MIN), top)).astype(np.int64).astype(dtype)


def _saturate(i: np.ndarray, dtype: np.dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.itemsize < 4:
        info = np.iinfo(dtype)
        i = np.clip(i, info.min, info.max)
    return i.astype(dtype)


def saturating(fn: Callable, x: np.ndarray, *ys: np.ndarray) -> np.ndarray:
    """``fn`` in i32/i64 arithmetic as is (C's wrap); on 8/16-bit types computed wide, then saturated."""
    if x.dtype.itemsize >= 4:
        return np.asarray(fn(x, *ys)).astype(x.dtype, copy=False)
    return _saturate(np.asarray(fn(x.astype(np.int32), *(np.asarray(y).astype(np.int32) for y in ys))), x.dtype)


def in_f32(fn: Callable, store: Callable = jit_store) -> Callable:
    """``fn`` (of f32 arrays) on integer tensors: computed in f32, stored back with ``store``."""
    def run(*xs, **kwargs):
        with np.errstate(all="ignore"):
            return store(fn(*(f32(x) for x in xs), **kwargs), np.asarray(xs[0]).dtype)
    return run


def at_run_time(kernel_fn: Callable, on_ints: Callable, always: bool = False) -> None:
    """The layers of ``kernel_fn`` left to run call ``on_ints`` when their first input is an integer
    tensor (``always``: whatever it is); ``kernel_fn`` itself, exact, still folds the constant ones."""
    def prepare(consts, **kwargs):
        if always:
            return lambda *xs: on_ints(*xs, **kwargs)

        def run(*xs):
            return (on_ints if is_int(xs[0]) else kernel_fn)(*xs, **kwargs)
        return run
    specializer(kernel_fn)(prepare)
