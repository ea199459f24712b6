"""Shape rules of the ops that move elements around: Reshape, Squeeze, Unsqueeze, Transpose, Concat,
Split, VariadicSplit, Gather(Elements/ND), StridedSlice, Slice, Broadcast, Tile, Pad, ShapeOf.

Where the result is a small integer tensor made of known values (a shape computed from ShapeOf of a
static shape), its value is kept: Reshape or Broadcast further on may need it.
"""
from __future__ import annotations

import math

import numpy as np

from irtool.ir.shapes import (attr_type, MAX_VALUE, Refusal, T, attr_bool, attr_int, attr_ints, attr_str, axis, dynamic, fmt,
                              int_values, length_of, merge_dim, merge_types, numpy_broadcast, rule, same,
                              shape_value)


def _valued(shape, et, value) -> list[T]:
    if value is not None and value.size <= MAX_VALUE:
        return [T(shape, et, value)]
    return [T(shape, et)]


@rule("ShapeOf")
def _shape_of(layer, ins):
    shape = ins[0].shape
    et = "i64" if layer.version == "opset1" else attr_type(layer, "output_type", "i64")
    if shape is None:
        return same((-1,), et)
    value = np.array(shape, dtype=np.int64) if all(d >= 0 for d in shape) else None
    return _valued((len(shape),), et, value)


@rule("Reshape")
def _reshape(layer, ins):
    data = ins[0].shape
    target = shape_value(ins[1])
    if target is None:
        count = length_of(ins[1])
        return same(None if count is None else dynamic(count), ins[0].et)
    special_zero = attr_bool(layer, "special_zero", False)
    out = []
    for i, d in enumerate(target):
        if d == 0 and special_zero:
            if data is None:
                out.append(-1)
            elif i >= len(data):
                raise Refusal(f"target shape {list(target)}: 0 at {i} copies dim {i} of a rank-{len(data)} input")
            else:
                out.append(data[i])
        elif d < -1:
            raise Refusal(f"target shape {list(target)} has a negative dim {d}")
        else:
            out.append(d)
    if target.count(-1) > 1:
        raise Refusal(f"target shape {list(target)} has more than one -1")
    if data is not None and all(d >= 0 for d in data):
        total = math.prod(data)
        if -1 in target:
            rest = math.prod(d for j, d in enumerate(out) if target[j] != -1)
            if rest == 0:
                out[target.index(-1)] = -1 if total else 1  # (OpenVINO: [0, 6] -> [0, 3, -1] is [0, 3, 1])
            elif total % rest:
                raise Refusal(f"{fmt(data)} ({total} elements) cannot be reshaped to {list(target)}")
            else:
                out[target.index(-1)] = total // rest
        elif all(d >= 0 for d in out) and math.prod(out) != total:
            raise Refusal(f"{fmt(data)} ({total} elements) cannot be reshaped to {fmt(tuple(out))}")
    shape = tuple(out)
    value = ins[0].value if ins[0].const is None else None  # (propagated shape values only)
    if value is not None and all(d >= 0 for d in shape):
        return _valued(shape, ins[0].et, value.reshape(shape))
    return same(shape, ins[0].et)


def _axes(t: T, rank: int) -> list[int] | None:
    values = int_values(t)
    return None if values is None else [axis(a, rank) for a in values]


@rule("Squeeze")
def _squeeze(layer, ins):
    data = ins[0].shape
    if data is None:
        return same(None, ins[0].et)
    axes = None
    if len(ins) > 1:
        axes = _axes(ins[1], len(data)) if data else int_values(ins[1])
        if axes is None:
            return same(None, ins[0].et)
    if not axes:  # every dim of 1
        if any(d < 0 for d in data):
            return same(None, ins[0].et)
        shape = tuple(d for d in data if d != 1)
    else:
        skip = layer.version != "opset1" and attr_bool(layer, "allow_axis_skip", False)
        drop = set()
        for a in axes:
            if data[a] == 1:
                drop.add(a)
            elif data[a] < 0:
                if skip:
                    return same(None, ins[0].et)
                drop.add(a)
        shape = tuple(d for i, d in enumerate(data) if i not in drop)
    value = ins[0].value if ins[0].const is None else None
    if value is not None:
        return _valued(shape, ins[0].et, value.reshape(shape))
    return same(shape, ins[0].et)


@rule("Unsqueeze")
def _unsqueeze(layer, ins):
    data = ins[0].shape
    values = int_values(ins[1])
    if data is None or values is None:
        return same(None, ins[0].et)
    rank = len(data) + len(values)
    axes = sorted(axis(a, rank) for a in values)
    if len(set(axes)) != len(axes):
        return same(None, ins[0].et)  # repeated axes (not checked)
    out = list(data)
    for a in axes:
        out.insert(a, 1)
    shape = tuple(out)
    value = ins[0].value if ins[0].const is None else None
    if value is not None:
        return _valued(shape, ins[0].et, value.reshape(shape))
    return same(shape, ins[0].et)


@rule("Transpose")
def _transpose(layer, ins):
    data = ins[0].shape
    order = int_values(ins[1])
    if data is None or order is None:
        return same(None if data is None else (dynamic(len(data)) if order is None else None), ins[0].et)
    if not order:
        return same(tuple(reversed(data)), ins[0].et)
    if sorted(order) != list(range(len(data))):
        raise Refusal(f"order {order} is not a permutation of the {len(data)} axes")
    return same(tuple(data[i] for i in order), ins[0].et)


@rule("Concat")
def _concat(layer, ins):
    et = merge_types(layer, ins)
    shapes = [t.shape for t in ins]
    known = [s for s in shapes if s is not None]
    if not known:
        return same(None, et)
    rank = len(known[0])
    if any(len(s) != rank for s in known):
        raise Refusal(f"the inputs have different ranks ({', '.join(fmt(s) for s in known)})")
    if rank == 0:
        raise Refusal("scalars cannot be concatenated")
    ax = axis(attr_int(layer, "axis", 0), rank)
    out = list(known[0])
    for s in known[1:]:
        for i in range(rank):
            if i != ax:
                out[i] = merge_dim(out[i], s[i], f"dim {i} of the inputs")
    if len(known) < len(shapes) or any(s[ax] < 0 for s in known):
        out[ax] = -1
    else:
        out[ax] = sum(s[ax] for s in known)
    shape = tuple(out)
    # a shape put together from known pieces (one of them computed: ShapeOf...)
    if rank == 1 and any(t.const is None and t.value is not None for t in ins) \
            and all(t.value is not None for t in ins):
        return _valued(shape, et, np.concatenate([t.value.reshape(-1) for t in ins]))
    return same(shape, et)


@rule("Split")
def _split(layer, ins):
    data = ins[0].shape
    n = attr_int(layer, "num_splits", 1)
    if n <= 0:
        raise Refusal(f"num_splits {n} must be positive")
    if len(layer.outputs) != n:
        raise Refusal(f"num_splits is {n}, the layer has {len(layer.outputs)} outputs")
    values = int_values(ins[1])
    if data is None or values is None:
        return [T(None if data is None else dynamic(len(data)), ins[0].et) for _ in range(n)]
    if len(values) != 1:
        raise Refusal(f"the axis input holds {len(values)} values, not one")
    ax = axis(values[0], len(data))
    d = data[ax]
    if d >= 0 and d % n:
        raise Refusal(f"dim {ax} ({d}) is not divisible by num_splits {n}")
    shape = tuple(-1 if (i == ax and d < 0) else (d // n if i == ax else x) for i, x in enumerate(data))
    return [T(shape, ins[0].et) for _ in range(n)]


@rule("VariadicSplit")
def _variadic_split(layer, ins):
    data = ins[0].shape
    ax_values, lengths = int_values(ins[1]), int_values(ins[2])
    n = len(layer.outputs)
    if data is None or ax_values is None or lengths is None:
        return [T(None if data is None else dynamic(len(data)), ins[0].et) for _ in range(n)]
    if len(ax_values) != 1:
        raise Refusal(f"the axis input holds {len(ax_values)} values, not one")
    if len(lengths) != n:
        raise Refusal(f"split_lengths has {len(lengths)} values, the layer has {n} outputs")
    ax = axis(ax_values[0], len(data))
    if lengths.count(-1) > 1 or any(x < -1 for x in lengths):
        raise Refusal(f"split_lengths {lengths}: at most one -1 and no other negative value")
    d = data[ax]
    if d >= 0:
        rest = sum(x for x in lengths if x != -1)
        if -1 in lengths:
            if rest > d:
                raise Refusal(f"split_lengths {lengths} add up to more than dim {ax} ({d})")
            lengths = [d - rest if x == -1 else x for x in lengths]
        elif rest != d:
            raise Refusal(f"split_lengths {lengths} add up to {rest}, dim {ax} is {d}")
    return [T(tuple((x if d >= 0 or x != -1 else -1) if i == ax else y for i, y in enumerate(data)), ins[0].et)
            for x in lengths]


@rule("Gather")
def _gather(layer, ins):
    data, indices = ins[0].shape, ins[1].shape
    ax_values = int_values(ins[2])
    if data is None or indices is None or ax_values is None:
        return same(None, ins[0].et)
    if len(ax_values) != 1:
        raise Refusal(f"the axis input holds {len(ax_values)} values, not one")
    ax = axis(ax_values[0], len(data)) if data else ax_values[0]
    batch = attr_int(layer, "batch_dims", 0) if layer.version != "opset1" else 0
    if batch < 0:
        batch += len(indices)
    if not 0 <= batch <= len(indices) or batch > ax:
        raise Refusal(f"batch_dims {batch} must lie in 0..min(axis {ax}, indices rank {len(indices)})")
    if not data:
        raise Refusal("the data input is a scalar")
    shape = (*data[:ax], *indices[batch:], *data[ax + 1:])
    value = ins[0].value if ins[0].const is None else None
    picks = int_values(ins[1])
    if value is not None and picks is not None and batch == 0 and value.ndim == 1 and data[0] >= 0:
        if all(-data[0] <= p < data[0] for p in picks):
            return _valued(shape, ins[0].et, value[np.array(picks, dtype=np.int64)].reshape(shape))
    return same(shape, ins[0].et)


@rule("GatherElements")
def _gather_elements(layer, ins):
    data, indices = ins[0].shape, ins[1].shape
    if data is not None and indices is not None and len(data) != len(indices):
        raise Refusal(f"data {fmt(data)} and indices {fmt(indices)} have different ranks")
    return same(indices, ins[0].et)


@rule("GatherND")
def _gather_nd(layer, ins):
    data, indices = ins[0].shape, ins[1].shape
    batch = attr_int(layer, "batch_dims", 0)
    if data is None or indices is None or not indices or indices[-1] < 0:
        return same(None, ins[0].et)
    last = indices[-1]
    if batch + last > len(data):
        raise Refusal(f"indices {fmt(indices)} address more dims than data {fmt(data)} has after batch_dims {batch}")
    tail = data[batch + last:]
    if layer.version == "opset5" and batch > 0:
        lead = indices[:batch]
        count = -1 if any(d < 0 for d in lead) else math.prod(lead)
        return same((count, *indices[batch:-1], *tail), ins[0].et)
    return same((*indices[:-1], *tail), ins[0].et)


def _slice_len(dim: int, start: int | None, stop: int | None, step: int) -> int:
    return -1 if dim < 0 else len(range(*slice(start, stop, step).indices(dim)))


def _mask(layer, key: str, n: int) -> list[int]:
    values = list(attr_ints(layer, key, ()))
    return (values + [0] * n)[:n]


@rule("StridedSlice")
def _strided_slice(layer, ins):
    data = ins[0].shape
    begin, end = int_values(ins[1]), int_values(ins[2])
    strides = int_values(ins[3]) if len(ins) > 3 else (None if begin is None else [1] * len(begin))
    if data is None or begin is None or end is None or strides is None:
        return same(None, ins[0].et)
    n = max(len(begin), len(end), len(strides))
    if not len(begin) == len(end) == len(strides):
        raise Refusal(f"begin, end and strides have {len(begin)}, {len(end)} and {len(strides)} values")
    if 0 in strides:
        raise Refusal(f"strides {strides} hold a 0")
    bm, em = _mask(layer, "begin_mask", n), _mask(layer, "end_mask", n)
    new, shrink, ell = (_mask(layer, k, n) for k in ("new_axis_mask", "shrink_axis_mask", "ellipsis_mask"))
    if sum(1 for e in ell if e) > 1 or any(a and b for a, b in zip(new, shrink)) \
            or any(e and (a or b) for e, a, b in zip(ell, new, shrink)):
        return same(None, ins[0].et)  # (rare mask mixes: not checked)
    consumed = sum(1 for i in range(n) if not new[i] and not ell[i])
    if consumed > len(data):
        raise Refusal(f"the slice spec addresses {consumed} dims of a rank-{len(data)} input")
    out, dim = [], 0
    for i in range(n):
        if ell[i]:
            covered = len(data) - consumed
            out.extend(data[dim:dim + covered])
            dim += covered
        elif new[i]:
            out.append(1)
        elif shrink[i]:
            dim += 1
        else:
            out.append(_slice_len(data[dim], None if bm[i] else begin[i], None if em[i] else end[i], strides[i]))
            dim += 1
    out.extend(data[dim:])
    return same(tuple(out), ins[0].et)


@rule("Slice")
def _slice(layer, ins):
    data = ins[0].shape
    start, stop, step = (int_values(t) for t in ins[1:4])
    if data is None:
        return same(None, ins[0].et)
    if start is None or stop is None or step is None:
        return same(dynamic(len(data)), ins[0].et)
    if not len(start) == len(stop) == len(step):
        raise Refusal(f"start, stop and step have {len(start)}, {len(stop)} and {len(step)} values")
    if 0 in step:
        raise Refusal(f"step {step} holds a 0")
    if len(ins) > 4:
        axes = int_values(ins[4])
        if axes is None:
            return same(dynamic(len(data)), ins[0].et)
        axes = [axis(a, len(data)) for a in axes]
        if len(axes) != len(start):
            raise Refusal(f"{len(axes)} axes for {len(start)} start values")
        if len(set(axes)) != len(axes):
            raise Refusal(f"axes {axes} repeat an axis")
    else:
        axes = list(range(len(start)))
        if len(axes) > len(data):
            raise Refusal(f"{len(axes)} start values for a rank-{len(data)} input")
    out = list(data)
    for a, b, e, s in zip(axes, start, stop, step):
        out[a] = _slice_len(data[a], b, e, s)
    return same(tuple(out), ins[0].et)


@rule("Broadcast")
def _broadcast(layer, ins):
    data = ins[0].shape
    mode = attr_str(layer, "mode", "numpy")
    target = shape_value(ins[1])
    if target is None:
        count = length_of(ins[1])
        if count is None or mode not in ("numpy", "explicit"):
            return same(None, ins[0].et)
        return same(dynamic(count), ins[0].et)
    if any(d < 0 for d in target):
        raise Refusal(f"target shape {list(target)} has a negative dim")
    if mode == "bidirectional":
        return same(numpy_broadcast(data, target), ins[0].et)
    if mode == "numpy" and data is not None:
        if len(data) > len(target):
            raise Refusal(f"{fmt(data)} has a higher rank than the target shape {list(target)}")
        for d, t in zip(reversed(data), reversed(target)):
            if d >= 0 and d != 1 and d != t:
                raise Refusal(f"{fmt(data)} does not broadcast to {list(target)}")
    if mode not in ("numpy", "explicit"):
        return same(None, ins[0].et)
    return same(target, ins[0].et)


@rule("Tile")
def _tile(layer, ins):
    data = ins[0].shape
    repeats = int_values(ins[1])
    if data is None or repeats is None:
        return same(None, ins[0].et)
    if any(r < 0 for r in repeats):
        return same(None, ins[0].et)
    n = max(len(data), len(repeats))
    data = (1,) * (n - len(data)) + tuple(data)
    repeats = [1] * (n - len(repeats)) + repeats
    return same(tuple(-1 if d < 0 else d * r for d, r in zip(data, repeats)), ins[0].et)


@rule("Pad")
def _pad(layer, ins):
    data = ins[0].shape
    begin, end = int_values(ins[1]), int_values(ins[2])
    if len(ins) > 3:
        merge_types(layer, [ins[0], ins[3]], "data and pad value")
    if data is None:
        return same(None, ins[0].et)
    if begin is None or end is None:
        return same(dynamic(len(data)), ins[0].et)
    if len(begin) != len(data) or len(end) != len(data):
        raise Refusal(f"pads_begin/pads_end have {len(begin)}/{len(end)} values for a rank-{len(data)} input")
    out = []
    for d, b, e in zip(data, begin, end):
        out.append(-1 if d < 0 or d + b + e < 0 else d + b + e)
    return same(tuple(out), ins[0].et)


__all__ = ["merge_dim"]
