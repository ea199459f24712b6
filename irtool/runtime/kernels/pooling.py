"""Pooling: MaxPool (opset1, opset8/14 with indices), AvgPool (opset1/14/16), AdaptiveAvg/MaxPool (opset8).

2-D (and 1-D, run as 2-D with H=1) f32 pooling goes through one numba kernel, ``_pool2d``, that
does both max and average; ``pool_ref`` is its short numpy reference and the path for 3-D and other
element types. MaxPool values, the common case, have their own: ``_max_kernel`` compiles a copy per
window, stride and dilation (the taps unroll, the output columns vectorize; f32 and INT8 codes), and
the MaxPool layers work out their geometry and pick that copy once per input shape (load-time
specialization); it computes the values ``_pool2d`` does, bit for bit.

OpenVINO semantics kept here:
- output size: ``floor`` / ``ceil`` of ``(in + pads - dilated_kernel) / stride + 1``; ``ceil_torch``
  (opset14) also drops a last window that would start in the end padding. A window running past the
  padded input is clipped.
- ``auto_pad`` same_upper/same_lower recompute the pads from the input shape (the extra pad goes to
  the end for same_upper, to the beginning for same_lower); valid means no pads; notset = explicit.
- MaxPool ignores padded elements (a window of padding only gives the lowest value, index 0); the
  first maximum in window order wins; indices are flat over the whole tensor, then taken modulo the
  size of the dims from ``axis`` on (axis=2: index within the channel).
- AvgPool divides by the number of input elements in the window with ``exclude-pad``; without it by
  the whole kernel when there is any padding, and by the clipped window when there is none. The
  count is a product of per-axis ``min(end, in) - max(start, 0)``, unclamped as in OpenVINO: a window
  of padding gives 0/0 = NaN, one starting past the input a negative count (-0.0).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numba
import numpy as np

from irtool.runtime.registry import keyword_defaults, kernel, specializer
from irtool.runtime.threads import SERIAL_BELOW

_I64 = np.int64


# ------------------------------------------------------------------------------------------ geometry
def _geometry(spatial, kernel_, strides, dilations, pads_begin, pads_end, auto_pad, rounding_type):
    """Pads and output spatial sizes as OpenVINO's shape inference computes them."""
    n = len(spatial)
    strides = list(strides) or [1] * n
    dilations = list(dilations) or [1] * n
    auto_pad = (auto_pad or "explicit").lower()
    rounding_type = (rounding_type or "floor").lower()
    pb, pe = list(pads_begin) or [0] * n, list(pads_end) or [0] * n
    if auto_pad in ("same_upper", "same_lower"):
        for i, size in enumerate(spatial):
            kd = (kernel_[i] - 1) * dilations[i] + 1
            total = max(0, (-(-size // strides[i]) - 1) * strides[i] + kd - size)
            lo, hi = total // 2, total - total // 2
            pb[i], pe[i] = (lo, hi) if auto_pad == "same_upper" else (hi, lo)
    elif auto_pad == "valid":
        pb, pe = [0] * n, [0] * n
    out = []
    for i, size in enumerate(spatial):
        kd = (kernel_[i] - 1) * dilations[i] + 1
        num = size + pb[i] + pe[i] - kd
        if rounding_type == "floor":
            o = num // strides[i] + 1
        else:
            o = -(-num // strides[i]) + 1
            if rounding_type == "ceil_torch" and (o - 1) * strides[i] >= size + pb[i]:
                o -= 1
        if o <= 0:
            raise ValueError(f"pooling window {kernel_} does not fit the input {list(spatial)}")
        out.append(o)
    return strides, dilations, pb, pe, out


def _divisors(spatial, kernel_, strides, pb, pe, out, exclude_pad, dilations=()):
    """Per-axis divisors of AvgPool (their outer product divides each window sum). A dilated axis
    (opset16) counts its taps that fall inside the input."""
    padded = any(pb) or any(pe)
    divs = []
    for size, k, s, b, o, d in zip(spatial, kernel_, strides, pb, out, list(dilations) or [1] * len(spatial)):
        if not exclude_pad and padded:
            divs.append(np.full(o, k, np.float32))
            continue
        start = np.arange(o, dtype=_I64) * s - b
        if d > 1:
            taps = start[:, None] + np.arange(k) * d
            divs.append(((taps >= 0) & (taps < size)).sum(1).astype(np.float32))
            continue
        divs.append((np.minimum(start + k, size) - np.maximum(start, 0)).astype(np.float32))
    return divs


# ------------------------------------------------------------------------------------------ numba
def _pool2d_kernel(parallel: bool):
    """The generic 2-D pooling kernel, over channels in parallel or on the calling thread. Two closures
    (``channels`` differs): numba's cache keys a function by its code and closure alone, so a serial
    copy made from the parallel one's ``py_func`` would load the parallel one's cached code."""
    channels = numba.prange if parallel else range

    def pool2d(x, kh, kw, sh, sw, dh, dw, ph, pw, is_max, div_h, div_w, out, idx):  # pragma: no cover
        nc, H, W = x.shape
        OH, OW = out.shape[1], out.shape[2]
        # the kernel rows/cols of each output row/col that fall inside the input (no divisions in the loops)
        rows = np.empty((OH, 2), np.int64)
        cols = np.empty((OW, 2), np.int64)
        for o in range(OH):
            h0 = o * sh - ph
            rows[o, 0] = 0 if h0 >= 0 else (-h0 + dh - 1) // dh
            rows[o, 1] = min(kh, (H - h0 + dh - 1) // dh) if H > h0 else 0
        for o in range(OW):
            w0 = o * sw - pw
            cols[o, 0] = 0 if w0 >= 0 else (-w0 + dw - 1) // dw
            cols[o, 1] = min(kw, (W - w0 + dw - 1) // dw) if W > w0 else 0
        for c in channels(nc):
            xc = x[c]
            for oh in range(OH):
                h0 = oh * sh - ph
                for ow in range(OW):
                    w0 = ow * sw - pw
                    if is_max:
                        best = np.float32(-3.4028234663852886e38)  # lowest(); padding never wins
                        bi = 0
                        for i in range(rows[oh, 0], rows[oh, 1]):
                            h = h0 + i * dh
                            for j in range(cols[ow, 0], cols[ow, 1]):
                                v = xc[h, w0 + j * dw]
                                if v > best:
                                    best = v
                                    bi = h * W + w0 + j * dw
                        out[c, oh, ow] = best
                        idx[c, oh, ow] = bi
                    else:
                        acc = np.float32(0.0)
                        for i in range(rows[oh, 0], rows[oh, 1]):
                            h = h0 + i * dh
                            for j in range(cols[ow, 0], cols[ow, 1]):
                                acc += xc[h, w0 + j * dw]
                        d = div_h[oh] * div_w[ow]
                        out[c, oh, ow] = acc / d if d != 0 else np.float32(np.nan)  # OpenVINO: 0/0

    return numba.njit(parallel=parallel, cache=True)(pool2d)


# serial for small layers: a parallel region costs more than their pooling itself
_pool2d_jit, _pool2d_serial = _pool2d_kernel(True), _pool2d_kernel(False)

_MAX_TAPS = 64  # MaxPool windows up to this many taps get a compiled copy of their own (_max_kernel)


@numba.njit(cache=True)
def _max_window(xc, h0, w0, kh, kw, dh, dw, lowest):  # pragma: no cover (jit)
    """The max of the window of channel ``xc`` [H, W] starting at (h0, w0), over its taps inside
    ``xc``, as ``_pool2d`` takes it: taps in window order, each kept only when strictly greater."""
    H, W = xc.shape
    best = lowest
    for i in range(kh):
        h = h0 + i * dh
        if 0 <= h < H:
            for j in range(kw):
                w = w0 + j * dw
                if 0 <= w < W:
                    v = xc[h, w]
                    if v > best:
                        best = v
    return best


@functools.cache
def _max_kernel(kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, borders: bool, parallel: bool):
    """MaxPool values of [C, H, W] with this window, stride and dilation compiled in, so that the taps
    unroll and the output columns vectorize: ``run(x, ph, pw, lowest, out)``. As in ``_pool2d``, the
    taps run in window order, each kept only when strictly greater than the best so far, which
    starts at ``lowest``: NaN never wins, padding neither, and of -0.0 and 0.0 the first. With
    ``borders``, windows that reach into the padding take ``_max_window`` (without, every window must
    lie inside: the row loops then have constant bounds, which measured 1.5x faster on small planes).
    f32 or INT8 codes."""
    channels = numba.prange if parallel else range

    def max_pool(x, ph, pw, lowest, out):  # pragma: no cover (jit)
        nc, H, W = x.shape
        OH, OW = out.shape[1], out.shape[2]
        # the outputs whose windows lie inside x: rows [oh0, oh1), columns [ow0, ow1)
        oh0 = min(OH, (ph + sh - 1) // sh)
        last = H - 1 - (kh - 1) * dh + ph  # the last window start (padded coordinates) inside x
        oh1 = max(oh0, min(OH, last // sh + 1)) if last >= 0 else oh0
        ow0 = min(OW, (pw + sw - 1) // sw)
        last = W - 1 - (kw - 1) * dw + pw
        ow1 = max(ow0, min(OW, last // sw + 1)) if last >= 0 else ow0
        for c in channels(nc):
            for oh in range(OH):
                h0 = oh * sh - ph
                if borders:
                    lo, hi = (ow0, ow1) if oh0 <= oh < oh1 else (0, 0)
                else:
                    lo, hi = 0, OW
                for ow in range(lo, hi):  # windows inside x: no bounds to check
                    w0 = ow * sw - pw
                    best = lowest
                    for i in range(kh):
                        for j in range(kw):
                            # unsigned indices (these are >= 0): numba then adds no wraparound select,
                            # and the loads stay strided ones the loop vectorizer takes
                            v = x[c, np.uint64(h0 + i * dh), np.uint64(w0 + j * dw)]
                            best = v if v > best else best  # a select (vmaxps): the loop vectorizes
                    out[c, oh, ow] = best
                for k in range(lo + OW - hi if borders else 0):  # windows reaching into the padding
                    ow = k if k < lo else hi + k - lo
                    out[c, oh, ow] = _max_window(x[c], h0, ow * sw - pw, kh, kw, dh, dw, lowest)

    return numba.njit(parallel=parallel, cache=True)(max_pool)


_LOWEST = {np.dtype(np.float32): np.float32(np.finfo(np.float32).min), np.dtype(np.uint8): np.uint8(0),
           np.dtype(np.int8): np.int8(-128)}


def max_pool_plan(shape: tuple[int, ...], dtype: np.dtype, kernel_, strides, dilations, pb,
                  out_sp) -> Callable | None:
    """MaxPool values of 1-D/2-D [N, C, (H,) W] inputs of this shape and type through
    ``_max_kernel``: ``pool(x) -> values``, or None where that kernel does not apply (other ranks or
    types, windows over _MAX_TAPS taps). What depends on the shape alone is worked out here, once.
    (Indices, which models rarely read, come from ``_pool2d``.)"""
    if len(shape) not in (3, 4) or dtype not in _LOWEST or math.prod(kernel_) > _MAX_TAPS:
        return None
    if len(shape) == 3:  # 1-D as 2-D with H=1
        kernel_, strides, dilations, out_sp = ([1, *v] for v in (kernel_, strides, dilations, out_sp))
        pb = [0, *pb]
    plane = (shape[0] * shape[1], *(shape[2:] if len(shape) == 4 else (1, shape[2])))
    res = (plane[0], *out_sp)
    final = shape[:2] + tuple(out_sp[-(len(shape) - 2):])
    borders = any(pb) or any((o - 1) * s + (k - 1) * d >= n
                             for o, s, k, d, n in zip(out_sp, strides, kernel_, dilations, plane[1:]))
    run = _max_kernel(*kernel_, *strides, *dilations, borders, math.prod(shape) >= SERIAL_BELOW)
    ph, pw, lowest = pb[0], pb[1], _LOWEST[dtype]

    def pool(x):
        out = np.empty(res, dtype)
        run(np.ascontiguousarray(x).reshape(plane), ph, pw, lowest, out)
        return out.reshape(final)
    return pool


def max_pool_jit(x, kernel_, strides, dilations, pb, out_sp):
    """``max_pool_plan`` for ``x``, run on it: the values; None where it does not apply."""
    pool = max_pool_plan(x.shape, x.dtype, kernel_, strides, dilations, pb, out_sp)
    return None if pool is None else pool(x)


def pool_jit(x, kernel_, strides, dilations, pb, pe, out_sp, is_max, divs=None):
    """2-D/1-D f32 pooling through ``_pool2d_jit``: (values, flat spatial argmax within each channel)."""
    if x.ndim == 3:  # 1-D as 2-D with H=1
        v, i = pool_jit(x[:, :, None, :], [1, *kernel_], [1, *strides], [1, *dilations], [0, *pb], [0, *pe],
                        [1, *out_sp], is_max, None if divs is None else [np.ones(1, np.float32), *divs])
        return v[:, :, 0], (None if i is None else i[:, :, 0])
    n, c, h, w = x.shape
    xs = np.ascontiguousarray(x).reshape(n * c, h, w)
    out = np.empty((n * c, *out_sp), np.float32)
    idx = np.empty((n * c, *out_sp) if is_max else (1, 1, 1), _I64)
    dh_, dw_ = (divs if divs is not None else [np.ones(out_sp[0], np.float32), np.ones(out_sp[1], np.float32)])
    run = _pool2d_serial if xs.size < SERIAL_BELOW else _pool2d_jit
    run(xs, kernel_[0], kernel_[1], strides[0], strides[1], dilations[0], dilations[1], pb[0], pb[1], is_max, dh_, dw_,
        out, idx)
    return out.reshape(n, c, *out_sp), (idx.reshape(n, c, *out_sp) if is_max else None)


# ------------------------------------------------------------------------------------------ numpy
def pool_ref(x, kernel_, strides, dilations, pb, pe, out_sp, is_max, divs=None):
    """numpy pooling of any rank and type: (values, flat spatial argmax within each channel)."""
    nsp = x.ndim - 2
    spatial = x.shape[2:]
    kd = [(k - 1) * d + 1 for k, d in zip(kernel_, dilations)]
    need = [(o - 1) * s + k - b - n for o, s, k, b, n in zip(out_sp, strides, kd, pb, spatial)]
    lowest = np.finfo(x.dtype).min if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    fill = lowest if is_max else 0
    xp = np.pad(x, [(0, 0)] * 2 + [(b, max(e, 0)) for b, e in zip(pb, need)], constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(xp, kd, axis=tuple(range(2, 2 + nsp)))  # N, C, *starts, *window
    starts = tuple(slice(0, o * s, s) for o, s in zip(out_sp, strides))
    taps = tuple(slice(None, None, d) for d in dilations)
    win = win[(slice(None), slice(None), *starts, *taps)].reshape(*x.shape[:2], *out_sp, -1)
    if not is_max:
        total = win.astype(np.float32).sum(-1)
        div = divs[0]
        for d in divs[1:]:
            div = np.multiply.outer(div, d)
        with np.errstate(invalid="ignore", divide="ignore"):
            res = (total / div).astype(np.float32)  # 0/0 (no input in the window) is NaN, as in OpenVINO
        return (res if x.dtype.kind == "f" else np.round(res)).astype(x.dtype), None
    arg = win.argmax(-1)
    vals = np.take_along_axis(win, arg[..., None], -1)[..., 0]
    offs = np.unravel_index(arg, kernel_)
    flat = np.zeros(arg.shape, _I64)
    grids = np.meshgrid(*[np.arange(o) for o in out_sp], indexing="ij")
    for i in range(nsp):
        coord = grids[i] * strides[i] - pb[i] + offs[i] * dilations[i]
        flat = flat * spatial[i] + coord
    none = ~(vals > lowest)  # OpenVINO starts at lowest() and takes strictly greater values only
    return np.where(none, lowest, vals).astype(x.dtype), np.where(none, 0, flat)


def _pool(x, kernel_, strides, dilations, pb, pe, out_sp, is_max, divs=None):
    if x.dtype == np.float32 and x.ndim in (3, 4):
        return pool_jit(x, kernel_, strides, dilations, pb, pe, out_sp, is_max, divs)
    if is_max and x.dtype in (np.uint8, np.int8) and x.ndim in (3, 4):
        # INT8 codes through the f32 kernel: every code is exact in f32, and max commutes with the cast;
        # a window of padding only keeps the type's lowest value, as the reference does
        v, i = pool_jit(x.astype(np.float32), kernel_, strides, dilations, pb, pe, out_sp, is_max)
        lowest = np.iinfo(x.dtype).min
        return np.where(v == np.finfo(np.float32).min, lowest, v).astype(x.dtype), i
    return pool_ref(x, kernel_, strides, dilations, pb, pe, out_sp, is_max, divs)


def _index_type(name: str):
    return np.int32 if name.lower() in ("i32", "int32") else np.int64


def _indices(x, local, axis, index_element_type):
    """Channel-local argmax -> OpenVINO's flat index, modulo the dims from ``axis`` on."""
    axis = axis + x.ndim if axis < 0 else axis
    n, c = x.shape[:2]
    chan = int(np.prod(x.shape[2:]))
    base = (np.arange(n * c, dtype=_I64) * chan).reshape(n, c, *([1] * (x.ndim - 2)))
    flat = local + base
    if axis > 0:
        flat %= int(np.prod(x.shape[axis:]))
    return flat.astype(_index_type(index_element_type))


# ------------------------------------------------------------------------------------------ kernels
def _max_pool(kernel, strides, dilations, pads_begin, pads_end, rounding_type, auto_pad):
    """``pool(x, indices) -> (values, flat spatial argmax within each channel or None)``, with what
    depends on the input's shape and type (geometry, compiled kernel) worked out once for each."""
    plans: dict[tuple, Callable] = {}

    def plan_for(shape, dtype, indices):
        st, dil, pb, pe, out = _geometry(shape[2:], kernel, strides, dilations, pads_begin, pads_end, auto_pad,
                                         rounding_type)
        fast = None if indices else max_pool_plan(shape, dtype, kernel, st, dil, pb, out)
        if fast is not None:
            return lambda x: (fast(x), None)

        def pool(x):
            values, local = _pool(x, kernel, st, dil, pb, pe, out, True)
            return values, (local if indices else None)
        return pool

    def pool(x, indices: bool):
        key = (x.shape, x.dtype, indices)
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = plan_for(x.shape, x.dtype, indices)
        return plan(x)
    return pool


def _max_pool_v1(kernel, strides, pads_begin, pads_end, rounding_type, auto_pad):
    pool = _max_pool(kernel, strides, (), pads_begin, pads_end, rounding_type, auto_pad)
    return lambda x: pool(x, False)[0]


def _max_pool_v8(kernel, strides, dilations, pads_begin, pads_end, rounding_type, auto_pad, index_element_type, axis,
                 outputs_used):
    pool = _max_pool(kernel, strides, dilations, pads_begin, pads_end, rounding_type, auto_pad)
    indices = outputs_used[1]  # nobody reads the indices: values alone

    def run(x):
        values, local = pool(x, indices)
        return values, (_indices(x, local, axis, index_element_type) if indices else None)
    return run


@kernel("MaxPool", versions=("opset1",), impl="jit")
def max_pool_v1(x, *, kernel: list[int], strides: list[int], pads_begin: list[int] = (), pads_end: list[int] = (),
                rounding_type: str = "floor", auto_pad: str = "explicit"):
    return _max_pool_v1(kernel, strides, pads_begin, pads_end, rounding_type, auto_pad)(x)


@kernel("MaxPool", versions=("opset8", "opset14"), impl="jit")
def max_pool_v8(x, *, kernel: list[int], strides: list[int], dilations: list[int] = (), pads_begin: list[int] = (),
                pads_end: list[int] = (), rounding_type: str = "floor", auto_pad: str = "explicit",
                index_element_type: str = "i64", axis: int = 0, outputs_used: tuple[bool, ...] = (True, True)):
    return _max_pool_v8(kernel, strides, dilations, pads_begin, pads_end, rounding_type, auto_pad, index_element_type,
                        axis, outputs_used)(x)


@specializer(max_pool_v1)
def _prepare_max_pool_v1(consts, **attrs):
    """The attributes bound once, the geometry once per input shape."""
    return _max_pool_v1(**(keyword_defaults(max_pool_v1) | attrs))


@specializer(max_pool_v8)
def _prepare_max_pool_v8(consts, **attrs):
    """The attributes bound once, the geometry once per input shape."""
    return _max_pool_v8(**(keyword_defaults(max_pool_v8) | attrs))


@kernel("AvgPool", versions=("opset1", "opset14", "opset16"), impl="jit")
def avg_pool(x, *, kernel: list[int], strides: list[int], pads_begin: list[int] = (), pads_end: list[int] = (),
             exclude_pad: bool = False, rounding_type: str = "floor", auto_pad: str = "explicit",
             dilations: list[int] = ()):
    st, dil, pb, pe, out = _geometry(x.shape[2:], kernel, strides, dilations, pads_begin, pads_end, auto_pad,
                                     rounding_type)
    divs = _divisors(x.shape[2:], kernel, st, pb, pe, out, exclude_pad, dil)
    return _pool(x, kernel, st, dil, pb, pe, out, False, divs)[0]


def _bins(size: int, out: int):
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)  # floor(i*size/out), ceil((i+1)*size/out)


def _adaptive(x, out_sp, reduce):
    """Apply ``reduce(block) -> (N, C)`` to each adaptive bin (few bins: a loop over them)."""
    spatial = x.shape[2:]
    bins = [_bins(s, int(o)) for s, o in zip(spatial, out_sp)]
    results = {}
    for pos in np.ndindex(*[int(o) for o in out_sp]):
        sl = tuple(slice(b[0][p], b[1][p]) for b, p in zip(bins, pos))
        results[pos] = reduce(x[(slice(None), slice(None), *sl)], [b[0][p] for b, p in zip(bins, pos)])
    return results


@kernel("AdaptiveAvgPool", versions=("opset8",))
def adaptive_avg_pool(x, output_shape):
    out_sp = [int(v) for v in np.asarray(output_shape).reshape(-1)]
    res = np.empty((*x.shape[:2], *out_sp), x.dtype)

    def mean(block, _starts):
        return block.reshape(*block.shape[:2], -1).astype(np.float32).mean(-1)

    for pos, v in _adaptive(x, out_sp, mean).items():
        res[(..., *pos)] = v
    return res


@kernel("AdaptiveMaxPool", versions=("opset8",))
def adaptive_max_pool(x, output_shape, *, index_element_type: str = "i64"):
    out_sp = [int(v) for v in np.asarray(output_shape).reshape(-1)]
    vals = np.empty((*x.shape[:2], *out_sp), x.dtype)
    idx = np.empty((*x.shape[:2], *out_sp), _I64)
    spatial = x.shape[2:]

    def reduce(block, starts):
        flat = block.reshape(*block.shape[:2], -1)
        arg = flat.argmax(-1)
        local = np.unravel_index(arg, block.shape[2:])
        index = np.zeros(arg.shape, _I64)
        for size, start, coord in zip(spatial, starts, local):
            index = index * size + start + coord
        return np.take_along_axis(flat, arg[..., None], -1)[..., 0], index

    for pos, (v, i) in _adaptive(x, out_sp, reduce).items():
        vals[(..., *pos)], idx[(..., *pos)] = v, i
    return vals, idx.astype(_index_type(index_element_type))
