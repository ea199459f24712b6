"""Shape rules of MatMul, the reductions, TopK and the ops whose output shape is an input's value
(NonZero, OneHot, Range, RandomUniform, Bucketize)."""
from __future__ import annotations

from irtool.ir.shapes import (attr_type, Refusal, T, attr_bool, attr_int, axis, dynamic, int_values, merge_types,
                              numpy_broadcast, rule, same, shape_value)


@rule("MatMul")
def _matmul(layer, ins):
    a, b = ins[0].shape, ins[1].shape
    et = merge_types(layer, ins[:2])
    if a is None or b is None:
        return same(None, et)
    if not a or not b:
        raise Refusal("MatMul takes no scalar inputs")
    a1, b1 = len(a) == 1, len(b) == 1
    a = (1, *a) if a1 else a
    b = (*b, 1) if b1 else b
    if not a1 and attr_bool(layer, "transpose_a", False):
        a = (*a[:-2], a[-1], a[-2])
    if not b1 and attr_bool(layer, "transpose_b", False):
        b = (*b[:-2], b[-1], b[-2])
    if a[-1] >= 0 and b[-2] >= 0 and a[-1] != b[-2]:
        raise Refusal(f"the inner dims differ: {a[-1]} (input 0) and {b[-2]} (input 1)")
    batch = numpy_broadcast(a[:-2], b[:-2]) if len(a) > 2 or len(b) > 2 else ()
    out = [*batch, a[-2], b[-1]]
    if b1:
        out.pop()
    if a1:
        out.pop(-1 if b1 else -2)
    return same(tuple(out), et)


REDUCTIONS = "ReduceSum ReduceMean ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceLogicalAnd ReduceLogicalOr"


@rule(*REDUCTIONS.split())
def _reduce(layer, ins):
    data = ins[0].shape
    keep = attr_bool(layer, "keep_dims", False)
    if data is None:
        return same(None, ins[0].et)
    values = int_values(ins[1])
    if values is None:
        return same(dynamic(len(data)) if keep else None, ins[0].et)
    if not data:  # a scalar: axes may be 0 or -1 (OpenVINO treats it as rank 1)
        return same((), ins[0].et)
    axes = {axis(a, len(data)) for a in values}
    if keep:
        return same(tuple(1 if i in axes else d for i, d in enumerate(data)), ins[0].et)
    return same(tuple(d for i, d in enumerate(data) if i not in axes), ins[0].et)


@rule("TopK")
def _topk(layer, ins):
    data = ins[0].shape
    index_et = attr_type(layer, "index_element_type", "i32")
    if data is None:
        return [T(None, ins[0].et), T(None, index_et)]
    ax = axis(attr_int(layer, "axis", -1), len(data))
    k = int_values(ins[1])
    if k is not None and (len(k) != 1 or k[0] < 0):
        raise Refusal(f"k {k} must be one non-negative value")
    shape = tuple((k[0] if k is not None else -1) if i == ax else d for i, d in enumerate(data))
    return [T(shape, ins[0].et), T(shape, index_et)]


@rule("NonZero")
def _non_zero(layer, ins):
    data = ins[0].shape
    et = attr_type(layer, "output_type", "i64")
    return same(None if data is None else (len(data), -1), et)


@rule("OneHot")
def _one_hot(layer, ins):
    indices = ins[0].shape
    if indices is None:
        return same(None, ins[2].et)
    depth = int_values(ins[1])
    if depth is not None and (len(depth) != 1 or depth[0] < 0):
        raise Refusal(f"depth {depth} must be one non-negative value")
    rank = len(indices) + 1
    ax = axis(attr_int(layer, "axis", -1), rank)
    out = list(indices)
    out.insert(ax, depth[0] if depth is not None else -1)
    return same(tuple(out), merge_types(layer, ins[2:4], "on and off values"))


@rule("Range")
def _range(layer, ins):
    et = attr_type(layer, "output_type", None) or merge_types(layer, ins)
    values = [int_values(t) for t in ins[:3]]
    if any(v is None or len(v) != 1 for v in values) or et is None or et[0] not in "iu":
        return same((-1,), et)  # (float ranges: not checked)
    start, stop, step = (v[0] for v in values)
    if step == 0:
        raise Refusal("step is 0")
    return same((max(0, -((start - stop) // step)),), et)


@rule("RandomUniform")
def _random_uniform(layer, ins):
    shape = shape_value(ins[0])
    et = attr_type(layer, "output_type", None)
    if shape is None:
        n = ins[0].shape
        return same(dynamic(n[0]) if n is not None and len(n) == 1 and n[0] >= 0 else None, et)
    if any(d < 0 for d in shape):
        raise Refusal(f"shape {list(shape)} has a negative dim")
    return same(shape, et)


@rule("Bucketize")
def _bucketize(layer, ins):
    return same(ins[0].shape, attr_type(layer, "output_type", "i64"))
