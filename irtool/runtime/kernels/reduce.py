"""Reductions and normalizations: Reduce*, SoftMax, LogSoftmax, MVN, NormalizeL2, BatchNormInference,
CumSum, TopK.

numpy is the fast path for these (vectorized passes, float32 accumulation as OpenVINO's CPU plugin
does), so each kernel is its own reference. Axes inputs may be negative; they count from the end.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from irtool.runtime.kernels._math import exp32
from irtool.runtime.registry import kernel, specializer
from irtool.runtime.threads import SERIAL_BELOW


def _axes(axes, rank: int) -> tuple[int, ...]:
    vals = np.asarray(axes).reshape(-1) if axes is not None else np.arange(rank)
    return tuple(sorted({int(a) + rank if int(a) < 0 else int(a) for a in vals}))


def _keep_type(result, like: np.ndarray) -> np.ndarray:
    result = np.asarray(result)
    return result if result.dtype == like.dtype else result.astype(like.dtype)


# ------------------------------------------------------------------------------------------ Reduce*
def _reduction(fn):
    def run(x, axes, *, keep_dims: bool = False):
        x = np.asarray(x)
        ax = _axes(axes, x.ndim)
        if not ax:  # no axes: the input unchanged
            return x.copy()
        with np.errstate(over="ignore", invalid="ignore"):
            return _keep_type(fn(x, ax, keep_dims), x)
    return run


_KERNELS: dict = {}


def _mean(x, ax, keep):
    if x.dtype.kind in "iu":  # integer mean: the exact sum divided by the count, truncated toward zero
        total = np.sum(x, axis=ax, keepdims=keep, dtype=np.int64)
        n = max(1, int(np.prod([x.shape[a] for a in ax])))
        return np.sign(total) * (np.abs(total) // n)
    trailing = tuple(range(x.ndim - len(ax), x.ndim))
    if tuple(sorted(ax)) == trailing and x.flags.c_contiguous:  # global pooling: rows of a 2-D view
        lead = x.shape[: x.ndim - len(ax)]
        means = x.reshape(int(np.prod(lead)) if lead else 1, -1).mean(axis=1)
        return means.reshape(lead + (1,) * len(ax) if keep else lead)
    return np.mean(x, axis=ax, keepdims=keep)


for _op, _fn in {
    "ReduceSum": lambda x, ax, k: np.sum(x, axis=ax, keepdims=k),
    "ReduceMean": _mean,
    "ReduceMax": lambda x, ax, k: np.max(x, axis=ax, keepdims=k),
    "ReduceMin": lambda x, ax, k: np.min(x, axis=ax, keepdims=k),
    "ReduceProd": lambda x, ax, k: np.prod(x, axis=ax, keepdims=k),
    "ReduceL1": lambda x, ax, k: np.sum(np.abs(x), axis=ax, keepdims=k),
    "ReduceL2": lambda x, ax, k: np.sqrt(np.sum(np.square(x), axis=ax, keepdims=k)),
    "ReduceLogicalAnd": lambda x, ax, k: np.all(x, axis=ax, keepdims=k),
    "ReduceLogicalOr": lambda x, ax, k: np.any(x, axis=ax, keepdims=k),
}.items():
    _KERNELS[_op] = kernel(_op)(_reduction(_fn))


_PW_BLOCK = 128  # numpy's PW_BLOCKSIZE: rows up to this long are summed by one unrolled block


@numba.njit(cache=True)
def _row_means(x, out):  # pragma: no cover (jit)
    """out[r] = x[r].mean() for float32 rows of 1..128 values, rounded exactly as numpy's mean: 0 plus
    the pairwise sum (eight running sums combined as a tree, then the tail), divided by the count."""
    R, n = x.shape
    for r in range(R):
        a = x[r]
        if n < 8:
            res = np.float32(0.0)
            for i in range(n):
                res += a[i]
        else:
            r0, r1, r2, r3, r4, r5, r6, r7 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
            i = 8
            while i < n - n % 8:
                r0 += a[i]
                r1 += a[i + 1]
                r2 += a[i + 2]
                r3 += a[i + 3]
                r4 += a[i + 4]
                r5 += a[i + 5]
                r6 += a[i + 6]
                r7 += a[i + 7]
                i += 8
            res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            while i < n:
                res += a[i]
                i += 1
        out[r] = (np.float32(0.0) + res) / np.float32(n)


@numba.njit(cache=True)
def _middle_means(x, out):  # pragma: no cover (jit)
    """out[a, b] = x[a, :, b].mean() for float32 x [A, R, B], B > 1, rounded exactly as numpy's mean
    over a middle axis: the rows added in order into the first (vectorized along b), then the sum
    divided by the count in float64 and rounded to float32."""
    A, R, B = x.shape
    for a in range(A):
        acc, src = out[a], x[a]
        for b in range(B):
            acc[b] = src[0, b]
        for r in range(1, R):
            for b in range(B):
                acc[b] += src[r, b]
        for b in range(B):
            acc[b] = np.float32(np.float64(acc[b]) / R)


@specializer(_KERNELS["ReduceMean"])
def _prepare_mean(consts, keep_dims: bool = False):
    """Constant axes on contiguous float32, the axes worked out once per rank: trailing ones (global
    average pooling) through ``_row_means``, a block of middle ones (a transformer's mean over its
    sequence) through ``_middle_means``; other inputs take the kernel."""
    generic = _KERNELS["ReduceMean"]
    if consts[1] is None:
        return None
    axes = np.asarray(consts[1]).reshape(-1)
    plan: dict[int, tuple[int, int] | None] = {}  # rank -> (first axis, past the last) of a block, or None

    def block(rank: int) -> tuple[int, int] | None:
        if rank not in plan:
            ax = _axes(axes, rank) if len(axes) and all(-rank <= int(a) < rank for a in axes) else ()
            plan[rank] = (ax[0], ax[-1] + 1) if ax and ax == tuple(range(ax[0], ax[-1] + 1)) else None
        return plan[rank]

    def run(x, a):
        span = block(x.ndim) if type(x) is np.ndarray and x.dtype == np.float32 and x.flags.c_contiguous else None
        if span is None or x.size == 0:
            return generic(x, a, keep_dims=keep_dims)
        lo, hi = span
        lead, mid, tail = x.shape[:lo], x.shape[lo:hi], x.shape[hi:]
        out_shape = lead + (1,) * len(mid) + tail if keep_dims else lead + tail
        if not tail:
            rows = x.reshape(math.prod(lead), -1)
            if rows.shape[1] <= _PW_BLOCK:
                means = np.empty(rows.shape[0], np.float32)
                _row_means(rows, means)
            else:
                means = rows.mean(axis=1)
            return means.reshape(out_shape)
        if math.prod(tail) > 1:
            means = np.empty((math.prod(lead), math.prod(tail)), np.float32)
            _middle_means(x.reshape(math.prod(lead), math.prod(mid), -1), means)
            return means.reshape(out_shape)
        return generic(x, a, keep_dims=keep_dims)
    return run


# ------------------------------------------------------------------------------------------ softmax
def softmax_ref(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return _keep_type(e / np.sum(e, axis=axis, keepdims=True), x)


def _softmax_rows_body(x, out):  # pragma: no cover (jit)
    """Softmax of every row of a contiguous [R, C] float32 array: the row's max subtracted, then one
    flat pass of exp32 over the whole array (vectorized: libm's expf per element cost ~5 ns), then
    each row scaled by 1 / its sum (summed in float64)."""
    R, C = x.shape
    for r in numba.prange(R):
        m = x[r, 0]
        for c in range(1, C):
            m = max(m, x[r, c])
        for c in range(C):
            out[r, c] = x[r, c] - m
    flat = out.reshape(out.size)
    for i in numba.prange(flat.size):
        flat[i] = exp32(flat[i])
    for r in numba.prange(R):
        total = 0.0
        for c in range(C):
            total += out[r, c]
        inv = np.float32(1.0 / total)
        for c in range(C):
            out[r, c] *= inv


_softmax_rows = numba.njit(parallel=True, cache=True, fastmath={"contract"})(_softmax_rows_body)
# small tensors (a detector's class scores, an attention row block): no parallel region
_softmax_rows_serial = numba.njit(cache=True, fastmath={"contract"})(_softmax_rows_body)


@kernel("SoftMax", versions=("opset1", "opset8"), impl="jit")
def softmax(x, *, axis: int = 1):
    axis = axis + x.ndim if axis < 0 else axis
    if x.dtype != np.float32 or axis != x.ndim - 1 or x.size == 0:
        return softmax_ref(x, axis)
    rows = np.ascontiguousarray(x).reshape(-1, x.shape[-1])  # the last axis: one contiguous row each
    out = np.empty_like(rows)
    (_softmax_rows_serial if rows.size < SERIAL_BELOW else _softmax_rows)(rows, out)
    return out.reshape(x.shape)


@kernel("LogSoftmax", versions=("opset5",))
def log_softmax(x, *, axis: int = 1):
    axis = axis + x.ndim if axis < 0 else axis
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return _keep_type(shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True)), x)


# ------------------------------------------------------------------------------------------ normalization
def _mvn_rows_body(x, normalize, eps, inside, out):  # pragma: no cover (jit)
    """MVN over each row of a contiguous [R, C] float32 array; sums in float64."""
    R, C = x.shape
    for r in numba.prange(R):
        total = 0.0
        for c in range(C):
            total += x[r, c]
        mean = np.float32(total / C)
        var = 0.0
        for c in range(C):
            d = np.float32(x[r, c] - mean)
            out[r, c] = d
            var += np.float64(d) * d
        if normalize:
            v = np.float32(var / C)
            den = np.sqrt(v + np.float32(eps)) if inside else np.sqrt(v) + np.float32(eps)
            for c in range(C):
                out[r, c] = out[r, c] / den


# error_model="numpy": a zero denominator (eps 0 over a constant row, NaN inputs) gives inf/NaN as
# OpenVINO does, not a ZeroDivisionError
_mvn_rows = numba.njit(parallel=True, cache=True, error_model="numpy")(_mvn_rows_body)
# Layers small enough to run serial (layer norms of a few thousand values): no parallel region, and
# fastmath lets the float64 sums run several at a time instead of one add-latency per value (not
# "nnan"/"ninf": NaN weights or inputs must come out NaN, as in OpenVINO).
_mvn_rows_serial = numba.njit(cache=True, error_model="numpy",
                              fastmath={"reassoc", "contract", "nsz", "arcp", "afn"})(_mvn_rows_body)


def _mvn(x, axes, normalize_variance, eps, inside_sqrt):
    trailing = tuple(range(x.ndim - len(axes), x.ndim))
    if x.dtype == np.float32 and tuple(sorted(axes)) == trailing and x.size:
        cols = int(np.prod([x.shape[a] for a in axes]))  # trailing axes: contiguous rows, one pass each
        rows = np.ascontiguousarray(x).reshape(-1, cols)
        out = np.empty_like(rows)
        _mvn_rows(rows, normalize_variance, float(eps), inside_sqrt, out)
        return out.reshape(x.shape)
    return mvn_reference(x, axes, normalize_variance, eps, inside_sqrt)


def mvn_reference(x, axes, normalize_variance, eps, inside_sqrt):
    centred = x - np.mean(x, axis=axes, keepdims=True)
    if not normalize_variance:
        return _keep_type(centred, x)
    var = np.mean(np.square(centred), axis=axes, keepdims=True)
    eps = np.float32(eps)
    return _keep_type(centred / (np.sqrt(var + eps) if inside_sqrt else np.sqrt(var) + eps), x)


@kernel("MVN", versions=("opset1", "opset2"))
def mvn_v1(x, *, across_channels: bool = False, normalize_variance: bool = True, eps: float = 1e-9,
           reduction_axes: list[int] | None = None):
    if reduction_axes:
        axes = _axes(reduction_axes, x.ndim)
    else:
        axes = tuple(range(1 if across_channels else 2, x.ndim))
    return _mvn(x, axes, normalize_variance, eps, inside_sqrt=True)


@kernel("MVN", versions=("opset6",))
def mvn_v6(x, axes, *, normalize_variance: bool = True, eps: float = 1e-9, eps_mode: str = "inside_sqrt"):
    return _mvn(x, _axes(axes, x.ndim), normalize_variance, eps, eps_mode.lower() == "inside_sqrt")


@specializer(mvn_v6)
def _prepare_mvn_v6(consts, normalize_variance: bool = True, eps: float = 1e-9, eps_mode: str = "inside_sqrt"):
    """Layer norm (constant trailing axes, contiguous float32 under threads.SERIAL_BELOW values): the
    serial row kernel with the axes worked out once; other inputs take the kernel."""
    from irtool.runtime.threads import SERIAL_BELOW

    if consts[1] is None:
        return None
    axes = np.asarray(consts[1]).reshape(-1)
    trailing = {r: _axes(axes, r) == tuple(range(r - len(axes), r)) for r in range(len(axes), 9)}
    inside, eps64 = eps_mode.lower() == "inside_sqrt", float(eps)

    def run(x, a):
        if (type(x) is np.ndarray and x.dtype == np.float32 and x.flags.c_contiguous and trailing.get(x.ndim)
                and 0 < x.size < SERIAL_BELOW):
            rows = x.reshape(-1, math.prod(x.shape[x.ndim - len(axes):]))
            out = np.empty_like(rows)
            _mvn_rows_serial(rows, normalize_variance, eps64, inside, out)
            return out.reshape(x.shape)
        return mvn_v6(x, a, normalize_variance=normalize_variance, eps=eps, eps_mode=eps_mode)
    return run


@kernel("NormalizeL2", versions=("opset1",))
def normalize_l2(x, axes, *, eps: float, eps_mode: str = "add"):
    ax = _axes(axes, x.ndim)
    sq = np.sum(np.square(x), axis=ax, keepdims=True) if ax else np.square(x)
    eps = np.float32(eps)
    sq = sq + eps if eps_mode.lower() == "add" else np.maximum(sq, eps)
    return _keep_type(x / np.sqrt(sq), x)


def _batch_norm(x, gamma, beta, mean, var, epsilon):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    scale = (gamma / np.sqrt(var + np.float32(epsilon))).reshape(shape)
    return _keep_type((x - mean.reshape(shape)) * scale + beta.reshape(shape), x)


@kernel("BatchNormInference", versions=("opset1",))
def batch_norm_v1(gamma, beta, x, mean, variance, *, epsilon: float):
    return _batch_norm(x, gamma, beta, mean, variance, epsilon)


@kernel("BatchNormInference", versions=("opset5",))
def batch_norm_v5(x, gamma, beta, mean, variance, *, epsilon: float):
    return _batch_norm(x, gamma, beta, mean, variance, epsilon)


# ------------------------------------------------------------------------------------------ CumSum
@kernel("CumSum", versions=("opset3",))
def cumsum(x, axis=None, *, exclusive: bool = False, reverse: bool = False):
    a = int(np.asarray(axis).reshape(-1)[0]) if axis is not None else 0
    a = a + x.ndim if a < 0 else a
    y = np.flip(x, a) if reverse else x
    out = np.cumsum(y, axis=a, dtype=x.dtype)
    if exclusive:
        first = np.zeros_like(np.take(out, [0], axis=a))
        out = np.concatenate([first, np.take(out, np.arange(out.shape[a] - 1), axis=a)], axis=a)
    return np.ascontiguousarray(np.flip(out, a) if reverse else out)


# ------------------------------------------------------------------------------------------ TopK
def _topk(x, k, axis, mode, sort, index_element_type):
    axis = axis + x.ndim if axis < 0 else axis
    k = min(int(np.asarray(k).reshape(-1)[0]), x.shape[axis])
    key = -x if mode.lower() == "max" else x
    if key.dtype.kind == "u" and mode.lower() == "max":
        key = -x.astype(np.int64)
    order = np.argsort(key, axis=axis, kind="stable")  # ties: the lower index first (stable or not)
    idx = np.take(order, np.arange(k), axis=axis)
    if sort.lower() == "index":
        idx = np.sort(idx, axis=axis)
    values = np.take_along_axis(x, idx, axis=axis)
    it = np.int32 if index_element_type.lower() in ("i32", "int32") else np.int64
    return values, idx.astype(it)


@kernel("TopK", versions=("opset1", "opset3"))
def topk_v1(x, k, *, axis: int, mode: str, sort: str, index_element_type: str = "i32"):
    return _topk(x, k, axis, mode, sort, index_element_type)


@kernel("TopK", versions=("opset11",))
def topk_v11(x, k, *, axis: int, mode: str, sort: str, index_element_type: str = "i32", stable: bool = False):
    return _topk(x, k, axis, mode, sort, index_element_type)  # always stable: what stable=true asks
