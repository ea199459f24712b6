"""Writing into a copy of a tensor: ScatterUpdate, ScatterNDUpdate (with its opset15 reductions),
ScatterElementsUpdate (with its opset12 reductions) and SliceScatter.

Python loops over the index tensors (small: a few indices per model, mostly in shape subgraphs),
numpy for the copies: the kernel is its own reference.
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.kernels.shape import _axes, _ints
from irtool.runtime.registry import kernel


@kernel("ScatterUpdate")
def scatter_update(x, indices, updates, axis):
    ax = _axes(axis, x.ndim)[0]
    out = x.copy()
    idx = np.asarray(indices).astype(np.int64)
    upd = updates.reshape(x.shape[:ax] + (idx.size,) + x.shape[ax + 1:])
    index = [slice(None)] * x.ndim
    for k, i in enumerate(idx.reshape(-1)):
        index[ax] = i
        src = [slice(None)] * x.ndim
        src[ax] = k
        out[tuple(index)] = upd[tuple(src)]
    return out


@kernel("ScatterNDUpdate")
def scatter_nd_update(x, indices, updates, *, reduction: str = "none"):
    """``out[indices[i]] = updates[i]`` (an element or a slice per index row, negative indices from the
    end; of repeated rows the last wins). opset15's ``reduction`` combines every update into what is
    there, in index order, as OpenVINO's CPU plugin does (measured against 2026.4): ``sub`` is the
    element minus each update; integers wrap in their own type; booleans are u8 inside the plugin (a
    sum of 256 Trues wraps to False, ``sub`` is a u8 difference), the result nonzero -> True; f16 is
    combined in f32 and rounded once; min/max keep the element when a comparison with NaN fails
    (``std::max(a, b)``: a NaN element stays, a NaN update is passed over)."""
    idx = np.asarray(indices).astype(np.int64)
    k = idx.shape[-1]
    flat_idx = idx.reshape(-1, k)
    flat_upd = updates.reshape((flat_idx.shape[0],) + x.shape[k:])
    mode = reduction.lower()
    if mode == "none":
        out = x.copy()
        for i in range(flat_idx.shape[0]):
            out[tuple(flat_idx[i])] = flat_upd[i]
        return out
    if mode not in _ND_REDUCE:
        raise ValueError(f"reduction '{reduction}' is not one of none, {', '.join(_ND_REDUCE)}")
    work = np.uint8 if x.dtype == np.bool_ else np.float32 if x.dtype == np.float16 else x.dtype
    acc, upd = x.astype(work), flat_upd.astype(work)
    if mode in ("min", "max") and acc.dtype.kind == "f":
        # a NaN update never replaces the element (the comparison fails): as the identity, it is a no-op
        upd = np.where(np.isnan(upd), np.inf if mode == "min" else -np.inf, upd).astype(work)
    ufunc = _ND_REDUCE[mode]
    with np.errstate(all="ignore"):
        if k:
            ufunc.at(acc, tuple(flat_idx.T), upd)  # unbuffered: repeated rows combine, in order
        else:  # each update is the whole tensor
            for u in upd:
                ufunc(acc, u, out=acc)
    return acc != 0 if x.dtype == np.bool_ else acc.astype(x.dtype, copy=False)


_ND_REDUCE = {"sum": np.add, "sub": np.subtract, "prod": np.multiply, "min": np.minimum, "max": np.maximum}

_REDUCE = {"sum": np.add, "prod": np.multiply, "min": np.minimum, "max": np.maximum, "mean": np.add}


@kernel("ScatterElementsUpdate", versions=("opset3",))
def scatter_elements_update_v3(x, indices, updates, axis):
    return scatter_elements_update(x, indices, updates, axis)


@kernel("ScatterElementsUpdate", versions=("opset12",))
def scatter_elements_update(x, indices, updates, axis, *, reduction: str = "none", use_init_val: bool = True):
    """``out[..., indices[i, j, ...], ...] = updates[i, j, ...]`` along ``axis`` (negative indices
    count from the end); with a reduction, every update meeting an element is combined into it, with
    the element's own value first unless ``use_init_val`` is false (mean: over all of them)."""
    ax = _axes(axis, x.ndim)[0]
    idx = np.asarray(indices).astype(np.int64)
    idx = np.where(idx < 0, idx + x.shape[ax], idx)
    grid = list(np.indices(idx.shape, sparse=True))
    grid[ax] = idx
    target = tuple(np.broadcast_to(g, idx.shape) for g in grid)
    out = x.copy()
    mode = reduction.lower()
    if mode == "none":
        out[target] = updates
        return out
    ufunc = _REDUCE[mode]
    upd = updates.astype(np.float64) if mode == "mean" else updates
    hit = np.zeros(x.shape, bool)
    hit[target] = True
    if not use_init_val:  # the elements an update meets start from the reduction's identity
        info = np.finfo(x.dtype) if x.dtype.kind == "f" else np.iinfo(x.dtype) if x.dtype.kind in "iu" else None
        identity = {"sum": 0, "mean": 0, "prod": 1,
                    "min": info.max if info is not None else True, "max": info.min if info is not None else False}[mode]
        out[hit] = identity
    acc = out.astype(np.float64) if mode == "mean" else out
    ufunc.at(acc, target, upd)
    if mode == "mean":
        counts = np.zeros(x.shape, np.int64)
        np.add.at(counts, target, 1)
        counts = counts + (1 if use_init_val else 0)
        mean = acc / np.maximum(counts, 1)
        if x.dtype.kind in "iu":
            mean = np.trunc(mean)  # C++'s integer division
        out = np.where(hit, mean, x).astype(x.dtype)
        return out
    return acc


@kernel("SliceScatter")
def slice_scatter(x, updates, start, stop, step, axes=None):
    """A copy of ``x`` with the slice that Slice(start, stop, step, axes) would take replaced by ``updates``."""
    axes_ = _axes(axes, x.ndim) if axes is not None else list(range(np.asarray(start).size))
    index = [slice(None)] * x.ndim
    for a, b, e, s in zip(axes_, _ints(start), _ints(stop), _ints(step)):
        index[a] = slice(b, e, s)
    out = x.copy()
    out[tuple(index)] = updates
    return out
