"""Data movement: Reshape, Squeeze/Unsqueeze, Transpose, Concat, Split, slicing, Gather, Broadcast,
Tile, Pad, Range, ShapeOf, DepthToSpace/SpaceToDepth, ShuffleChannels, OneHot (Scatter*: in ``scatter``).

No arithmetic happens here, so numpy views and copies are both the kernel and the reference. Reshape,
Transpose, Concat, Unsqueeze, StridedSlice and ShapeOf, which run between the layers of many models
(the last three in the ShapeOf -> PriorBox subgraphs of a model reshaped at load time, which the
plugin then cannot fold), convert their constant inputs and attributes once at load time (their
specializers): the per-inference work is then numpy's alone.
"""
from __future__ import annotations

import numpy as np

from irtool.ir.element_types import element_type
from irtool.runtime.registry import kernel, specializer


def _ints(a) -> list[int]:
    return [int(v) for v in np.asarray(a).reshape(-1)]


def _axes(axes, rank: int) -> list[int]:
    return [a + rank if a < 0 else a for a in _ints(axes)]


def _empty_target(target) -> list[int]:
    """An empty input's target shape with its -1 resolved as OpenVINO does (numpy cannot infer it):
    0 when the other dims multiply to a non-zero count, else 1 (measured: [0, 6] -> [0, -1] is [0, 1])."""
    if -1 not in target:
        return list(target)
    rest = int(np.prod([d for d in target if d != -1]))
    return [(0 if rest else 1) if d == -1 else d for d in target]


@kernel("Reshape")
def reshape(x, shape, *, special_zero: bool):
    target = _ints(shape)
    if special_zero:  # 0 copies the input's dim at that position
        target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
    return x.reshape(target if x.size else _empty_target(target))


@specializer(reshape)
def _prepare_reshape(consts, *, special_zero: bool):
    """A constant target shape, converted once; dims 0 of ``special_zero`` copied from each input."""
    if consts[1] is None:
        return None
    target = tuple(_ints(consts[1]))
    copied = [i for i, d in enumerate(target) if d == 0] if special_zero else []
    if not copied:
        return lambda x, shape: x.reshape(target if x.size else _empty_target(target))

    def run(x, shape):
        dims = list(target)
        for i in copied:
            dims[i] = x.shape[i]
        return x.reshape(dims if x.size else _empty_target(dims))
    return run


@kernel("Squeeze")
def squeeze(x, axes=None):
    if axes is None:
        return x.reshape([d for d in x.shape if d != 1])
    drop = {a for a in _axes(axes, x.ndim) if x.shape[a] == 1}
    return x.reshape([d for i, d in enumerate(x.shape) if i not in drop])


@kernel("Unsqueeze")
def unsqueeze(x, axes):
    rank = x.ndim + np.asarray(axes).size
    shape = list(x.shape)
    for a in sorted(_axes(axes, rank)):
        shape.insert(a, 1)
    return x.reshape(shape)


@specializer(unsqueeze)
def _prepare_unsqueeze(consts):
    """Constant axes: the output shape worked out once per input shape."""
    if consts[1] is None:
        return None
    axes, shapes = consts[1], {}

    def run(x, _axes):
        shape = shapes.get(x.shape)
        if shape is None:
            shape = shapes[x.shape] = unsqueeze(x, axes).shape
        return x.reshape(shape)
    return run


@kernel("Transpose")
def transpose(x, order):
    perm = _axes(order, x.ndim) or list(range(x.ndim))[::-1]  # empty order reverses the axes
    return np.ascontiguousarray(x.transpose(perm))


@specializer(transpose)
def _prepare_transpose(consts):
    """A constant order: the permutation worked out once per input rank."""
    if consts[1] is None:
        return None
    order, perms = consts[1], {}

    def run(x, _order):
        perm = perms.get(x.ndim)
        if perm is None:
            perm = perms[x.ndim] = tuple(_axes(order, x.ndim) or range(x.ndim)[::-1])
        return np.ascontiguousarray(x.transpose(perm))
    return run


@kernel("Concat")
def concat(*xs, axis: int):
    return np.concatenate(xs, axis=axis)


@specializer(concat)
def _prepare_concat(consts, *, axis: int):
    """numpy's concatenate alone: no keyword arguments to bind per call."""
    return lambda *xs: np.concatenate(xs, axis=axis)


def _pieces(parts: list) -> tuple | np.ndarray:
    """A layer of one output takes its value itself, not a 1-tuple (num_splits=1 came out [1, ...])."""
    return parts[0] if len(parts) == 1 else tuple(parts)


@kernel("Split")
def split(x, axis, *, num_splits: int):
    return _pieces(np.split(x, num_splits, axis=_axes(axis, x.ndim)[0]))


@kernel("VariadicSplit")
def variadic_split(x, axis, split_lengths):
    ax = _axes(axis, x.ndim)[0]
    lengths = _ints(split_lengths)
    if -1 in lengths:
        lengths[lengths.index(-1)] = x.shape[ax] - sum(v for v in lengths if v != -1)
    return _pieces(np.split(x, np.cumsum(lengths)[:-1], axis=ax))


def _strided_index(begin, end, strides, begin_mask, end_mask, new_axis_mask, shrink_axis_mask,
                   ellipsis_mask) -> tuple:
    """StridedSlice as a numpy index."""
    b, e = _ints(begin), _ints(end)
    s = _ints(strides) if strides is not None else [1] * len(b)

    def bit(mask, i):
        return bool(mask and i < len(mask) and mask[i])

    index: list = []
    for i in range(len(b)):
        if bit(ellipsis_mask, i):
            index.append(Ellipsis)
        elif bit(new_axis_mask, i):
            index.append(None)
        elif bit(shrink_axis_mask, i):
            index.append(b[i])
        else:
            index.append(slice(None if bit(begin_mask, i) else b[i], None if bit(end_mask, i) else e[i], s[i]))
    return tuple(index)


@kernel("StridedSlice")
def strided_slice(x, begin, end, strides=None, *, begin_mask: list[int], end_mask: list[int],
                  new_axis_mask: list[int] | None = None, shrink_axis_mask: list[int] | None = None,
                  ellipsis_mask: list[int] | None = None):
    index = _strided_index(begin, end, strides, begin_mask, end_mask, new_axis_mask, shrink_axis_mask,
                           ellipsis_mask)
    return np.ascontiguousarray(x[index])


@specializer(strided_slice)
def _prepare_strided_slice(consts, *, begin_mask: list[int], end_mask: list[int],
                           new_axis_mask: list[int] | None = None, shrink_axis_mask: list[int] | None = None,
                           ellipsis_mask: list[int] | None = None):
    """Constant begin, end and strides: the numpy index built once."""
    if any(c is None for c in consts[1:]):
        return None
    index = _strided_index(*consts[1:3], consts[3] if len(consts) > 3 else None, begin_mask, end_mask,
                           new_axis_mask, shrink_axis_mask, ellipsis_mask)
    return lambda x, *_: np.ascontiguousarray(x[index])


@kernel("Slice")
def slice_(x, start, stop, step, axes=None):
    axes_ = _axes(axes, x.ndim) if axes is not None else list(range(np.asarray(start).size))
    index = [slice(None)] * x.ndim
    for a, b, e, s in zip(axes_, _ints(start), _ints(stop), _ints(step)):
        # numpy clamps out-of-range bounds the same way OpenVINO does (INT64_MAX means "to the end")
        index[a] = slice(b, e, s)
    return np.ascontiguousarray(x[tuple(index)])


@kernel("Gather")
def gather(x, indices, axis, *, batch_dims: int = 0):
    ax = _axes(axis, x.ndim)[0]
    idx = np.asarray(indices).astype(np.int64)
    idx = np.where(idx < 0, idx + x.shape[ax], idx)  # opset8 counts negative indices from the end
    b = batch_dims + idx.ndim if batch_dims < 0 else batch_dims
    if b == 0:
        return np.take(x, idx, axis=ax)
    batch = x.shape[:b]
    xs = x.reshape((-1,) + x.shape[b:])
    ids = np.broadcast_to(idx, batch + idx.shape[b:]).reshape((-1,) + idx.shape[b:])
    out = np.stack([np.take(xs[i], ids[i], axis=ax - b) for i in range(xs.shape[0])])
    return out.reshape(batch + out.shape[1:])


@kernel("GatherElements")
def gather_elements(x, indices, *, axis: int):
    idx = np.asarray(indices).astype(np.int64)
    ax = axis + x.ndim if axis < 0 else axis
    return np.take_along_axis(x, np.where(idx < 0, idx + x.shape[ax], idx), axis=ax)


@kernel("GatherND", versions=("opset8",))
def gather_nd(x, indices, *, batch_dims: int = 0):
    idx = np.asarray(indices).astype(np.int64)
    batch = x.shape[:batch_dims]
    nb = int(np.prod(batch)) if batch_dims else 1
    xs = x.reshape((nb,) + x.shape[batch_dims:])
    ids = idx.reshape((nb,) + idx.shape[batch_dims:])
    out = np.stack([xs[i][tuple(np.moveaxis(ids[i], -1, 0))] for i in range(nb)])
    return out.reshape(batch + out.shape[1:]) if batch_dims else out[0]


@kernel("GatherND", versions=("opset5",))
def gather_nd_v5(x, indices, *, batch_dims: int = 0):
    """GatherND-5: as GatherND-8, but the batch dims come out flattened into one (their product)."""
    out = gather_nd(x, indices, batch_dims=batch_dims)
    return out.reshape((-1,) + out.shape[batch_dims:]) if batch_dims > 1 else out


@kernel("ShapeOf")
def shape_of(x, *, output_type: str = "i64"):
    return np.array(x.shape, dtype=np.int32 if output_type == "i32" else np.int64)


@specializer(shape_of)
def _prepare_shape_of(consts, *, output_type: str = "i64"):
    dtype = np.int32 if output_type == "i32" else np.int64
    return lambda x: np.array(x.shape, dtype=dtype)


@kernel("Broadcast")
def broadcast(x, target_shape, axes_mapping=None, *, mode: str = "numpy"):
    target = _ints(target_shape)
    mode = mode.lower()
    if mode in ("explicit", "none"):  # opset1 spells explicit "none"
        shape = [1] * len(target)
        for src, dst in enumerate(_ints(axes_mapping)):
            shape[dst] = x.shape[src]
        return np.ascontiguousarray(np.broadcast_to(x.reshape(shape), target))
    if mode == "bidirectional":
        return np.ascontiguousarray(x * np.ones(target, dtype=x.dtype))
    return np.ascontiguousarray(np.broadcast_to(x, target))


@kernel("Tile")
def tile(x, repeats):
    return np.tile(x, _ints(repeats))


_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


@kernel("Pad")
def pad(x, pads_begin, pads_end, pad_value=None, *, pad_mode: str = "constant"):
    begin, end = _ints(pads_begin), _ints(pads_end)
    # Negative pads (opset12) crop: slice first, then pad what is positive.
    crop = tuple(slice(max(-b, 0), x.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(zip(begin, end)))
    x = x[crop]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    mode = _PAD_MODES[pad_mode.lower()]
    if mode == "constant":
        value = 0 if pad_value is None else np.asarray(pad_value).reshape(-1)[0]
        return np.pad(x, widths, mode="constant", constant_values=value)
    return np.pad(x, widths, mode=mode)


@kernel("Range", versions=("opset1",))
def range_v1(start, stop, step):
    dtype = np.result_type(start, stop, step)
    return np.arange(start.item(), stop.item(), step.item()).astype(dtype)


@kernel("Range", versions=("opset4",))
def range_v4(start, stop, step, *, output_type: str):
    dtype = element_type(output_type).dtype
    return np.arange(start.item(), stop.item(), step.item()).astype(dtype)


@kernel("DepthToSpace")
def depth_to_space(x, *, block_size: int, mode: str):
    n, c, *sp = x.shape
    bs, k = block_size, len(sp)
    cout = c // bs ** k
    if mode.lower() == "blocks_first":
        y = x.reshape([n] + [bs] * k + [cout] + sp)
        perm = [0, k + 1] + [i for j in range(k) for i in (k + 2 + j, 1 + j)]
    else:
        y = x.reshape([n, cout] + [bs] * k + sp)
        perm = [0, 1] + [i for j in range(k) for i in (k + 2 + j, 2 + j)]
    return np.ascontiguousarray(y.transpose(perm)).reshape([n, cout] + [d * bs for d in sp])


@kernel("SpaceToDepth")
def space_to_depth(x, *, block_size: int, mode: str):
    n, c, *sp = x.shape
    bs, k = block_size, len(sp)
    y = x.reshape([n, c] + [v for d in sp for v in (d // bs, bs)])
    blocks = [3 + 2 * j for j in range(k)]
    spatial = [2 + 2 * j for j in range(k)]
    perm = [0] + (blocks + [1] if mode.lower() == "blocks_first" else [1] + blocks) + spatial
    return np.ascontiguousarray(y.transpose(perm)).reshape([n, c * bs ** k] + [d // bs for d in sp])


@kernel("ShuffleChannels")
def shuffle_channels(x, *, axis: int = 1, group: int = 1):
    ax = axis + x.ndim if axis < 0 else axis
    shape = x.shape
    y = x.reshape(shape[:ax] + (group, shape[ax] // group) + shape[ax + 1:])
    return np.ascontiguousarray(np.swapaxes(y, ax, ax + 1)).reshape(shape)


@kernel("OneHot")
def one_hot(indices, depth, on_value, off_value, *, axis: int, negative_indices_mode: str = "ignore_negative"):
    d = int(np.asarray(depth).reshape(-1)[0])
    idx = np.asarray(indices).astype(np.int64)
    if negative_indices_mode.lower() == "normalize":  # opset16: -depth..-1 count from the end
        idx = np.where(idx < 0, idx + d, idx)
    ax = axis + idx.ndim + 1 if axis < 0 else axis
    hot = np.expand_dims(idx, ax) == np.arange(d).reshape([d if i == ax else 1 for i in range(idx.ndim + 1)])
    return np.where(hot, on_value, off_value).astype(np.asarray(on_value).dtype)
