"""Conformance cases: sub-graph ops (TensorIterator, Loop, If), their bodies built with OpenVINO's API."""
from __future__ import annotations

import numpy as np
import openvino as ov
from openvino import opset1, opset5, opset8

from tests.conformance._build import C, case, f32, ints


def _body(results, params):
    return ov.Model([opset8.result(r) for r in results], params)


# ------------------------------------------------------------------------------------ TensorIterator
def _ti_rnn(x, h, *, axis=1, start=0, stride=1, end=-1, part=1, out=None):
    """``h = tanh(x_t + h)`` over parts of ``x``: the last ``h`` and every ``h`` concatenated (``out``: the
    concatenation's start, stride, end; default the input's)."""
    dims = list(x.get_partial_shape().to_shape())
    dims[axis] = part
    xi, hi = opset8.parameter(dims, np.float32), opset8.parameter(dims, np.float32)
    body = _body([opset8.tanh(opset8.add(xi, hi))], [xi, hi])
    ti = opset1.tensor_iterator()
    ti.set_body(body)
    result = body.get_results()[0].output(0)
    ti.set_sliced_input(xi, x.output(0), start, stride, part, end, axis)
    ti.set_merged_input(hi, h.output(0), result)
    ti.get_iter_value(result, -1)
    out_start, out_stride, out_end = out or (start, stride, end)
    ti.get_concatenated_slices(result, out_start, out_stride, part, out_end, axis)
    return ti


case("TensorIterator", "opset1", "add-tanh", _ti_rnn, f32(2, 4, 3), f32(2, 1, 3))
case("TensorIterator", "opset1", "reverse", lambda x, h: _ti_rnn(x, h, start=-1, stride=-1, end=0),
     f32(2, 4, 3), f32(2, 1, 3))
case("TensorIterator", "opset1", "reverse-in-forward-out", lambda x, h: _ti_rnn(
    x, h, start=-1, stride=-1, end=0, out=(0, 1, -1)), f32(2, 4, 3), f32(2, 1, 3))
case("TensorIterator", "opset1", "axis0", lambda x, h: _ti_rnn(x, h, axis=0), f32(5, 3), f32(1, 3))
case("TensorIterator", "opset1", "part2", lambda x, h: _ti_rnn(x, h, stride=2, part=2), f32(1, 6, 2), f32(1, 2, 2))
case("TensorIterator", "opset1", "part2-reverse", lambda x, h: _ti_rnn(x, h, start=-1, stride=-2, part=2, end=0),
     f32(1, 6, 2), f32(1, 2, 2))
# the CPU plugin counts iterations from start/end but takes the parts from the start of the axis (the
# concatenation, 3 long, counts 3 over all of it)
case("TensorIterator", "opset1", "start1", lambda x, h: _ti_rnn(x, h, start=1, out=(0, 1, -1)),
     f32(2, 4, 3), f32(2, 1, 3))
case("TensorIterator", "opset1", "end-2", lambda x, h: _ti_rnn(x, h, end=-2, out=(0, 1, -1)),
     f32(2, 4, 3), f32(2, 1, 3))
case("TensorIterator", "opset1", "forward-in-reverse-out", lambda x, h: _ti_rnn(x, h, out=(-1, -1, 0)),
     f32(2, 4, 3), f32(2, 1, 3))


def _ti_invariant(x, w):
    """An invariant input beside a sliced one; no back edge: the last output is the last part's."""
    xi, wi = opset8.parameter([1, 3], np.float32), opset8.parameter([1, 3], np.float32)
    body = _body([opset8.multiply(xi, wi), opset8.relu(xi)], [xi, wi])
    ti = opset1.tensor_iterator()
    ti.set_body(body)
    ti.set_sliced_input(xi, x.output(0), 0, 1, 1, -1, 0)
    ti.set_invariant_input(wi, w.output(0))
    ti.get_concatenated_slices(body.get_results()[0].output(0), 0, 1, 1, -1, 0)
    ti.get_iter_value(body.get_results()[1].output(0), -1)
    return ti


case("TensorIterator", "opset1", "invariant", _ti_invariant, f32(4, 3), f32(1, 3))


def _ti_cumsum(x, acc):
    xi, ai = opset8.parameter([1, 2], np.int32), opset8.parameter([1, 2], np.int32)
    body = _body([opset8.add(xi, ai)], [xi, ai])
    ti = opset1.tensor_iterator()
    ti.set_body(body)
    out = body.get_results()[0].output(0)
    ti.set_sliced_input(xi, x.output(0), 0, 1, 1, -1, 0)
    ti.set_merged_input(ai, acc.output(0), out)
    ti.get_iter_value(out, -1)
    ti.get_concatenated_slices(out, 0, 1, 1, -1, 0)
    return ti


case("TensorIterator", "opset1", "i32-cumsum", _ti_cumsum, ints(-9, 9, 5, 2), ints(-9, 9, 1, 2))


# ---------------------------------------------------------------------------------------------- Loop
def _loop(trip, cond, x, *, limit=None, counter_type=np.int64, counter_shape=(), doubled=True):
    """``x = x + iteration`` (and ``x * 2``, unless not ``doubled``): while ``iteration < limit`` if given,
    at most ``trip`` times."""
    it = opset8.parameter(list(counter_shape), counter_type)
    xb = opset8.parameter(list(x.get_partial_shape().to_shape()), np.float32)
    y = opset8.add(xb, opset8.convert(it, "f32"))
    go = opset8.less(it, C(np.full(counter_shape, limit), counter_type)) if limit is not None else C(True, np.bool_)
    body = _body([go, y, opset8.multiply(xb, C(2, np.float32))], [it, xb])
    loop = opset5.loop(trip, cond)
    loop.set_function(body)
    loop.set_special_body_ports([0, 0])
    out = body.get_results()[1].output(0)
    loop.set_merged_input(xb, x.output(0), out)
    loop.get_iter_value(out, -1)
    if doubled:  # (no back edge: with no iteration, OpenVINO leaves it uninitialized)
        loop.get_iter_value(body.get_results()[2].output(0), -1)
    loop.get_concatenated_slices(out, 0, 1, 1, -1, 0)
    return loop


case("Loop", "opset5", "trip-count", lambda x: _loop(C(4), C(True, np.bool_), x), f32(1, 3))
case("Loop", "opset5", "condition", lambda x: _loop(C(-1), C(True, np.bool_), x, limit=3), f32(1, 3))
case("Loop", "opset5", "trip-count-before-condition", lambda x: _loop(C(2), C(True, np.bool_), x, limit=3),
     f32(1, 3))
case("Loop", "opset5", "i32-counter", lambda x: _loop(C(5, np.int32), C(True, np.bool_), x, limit=2,
                                                      counter_type=np.int32, counter_shape=(1,)), f32(1, 3))
case("Loop", "opset5", "trip-count-input", lambda n, x: _loop(n, C(True, np.bool_), x), np.array(3, np.int64),
     f32(1, 2))
for go in (True, False):  # false: no iteration; the last value is the initial one, the concatenation empty
    case("Loop", "opset5", f"condition-input-{str(go).lower()}", lambda c, x: _loop(C(5), c, x, limit=3, doubled=False),
         np.array(go), f32(1, 3))


def _loop_sliced(x, s):
    """A sliced input (one row per iteration), the counter unused, no condition output of note."""
    xb, sb = opset8.parameter([1, 3], np.float32), opset8.parameter([1, 3], np.float32)
    body = _body([C(True, np.bool_), opset8.add(opset8.multiply(xb, C(0.5, np.float32)), sb)], [xb, sb])
    loop = opset5.loop(C(4), C(True, np.bool_))
    loop.set_function(body)
    loop.set_special_body_ports([-1, 0])
    out = body.get_results()[1].output(0)
    loop.set_merged_input(xb, x.output(0), out)
    loop.set_sliced_input(sb, s.output(0), 0, 1, 1, -1, 0)
    loop.get_iter_value(out, -1)
    loop.get_concatenated_slices(out, 0, 1, 1, -1, 0)
    return loop


case("Loop", "opset5", "sliced", _loop_sliced, f32(1, 3), f32(4, 3))


def _loop_nested_if(x):
    """An If in a Loop body: even iterations add 1, odd ones double."""
    it = opset8.parameter([], np.int64)
    xb = opset8.parameter([1, 3], np.float32)
    even = opset8.equal(opset8.floor_mod(it, C(2)), C(0))
    ta, ea = opset8.parameter([1, 3], np.float32), opset8.parameter([1, 3], np.float32)
    then_body = _body([opset8.add(ta, C(1, np.float32))], [ta])
    else_body = _body([opset8.multiply(ea, C(2, np.float32))], [ea])
    branch = opset8.if_op(even.output(0))
    branch.set_then_body(then_body)
    branch.set_else_body(else_body)
    branch.set_input(xb.output(0), ta, ea)
    y = branch.set_output(then_body.get_results()[0], else_body.get_results()[0])
    body = _body([C(True, np.bool_), y], [it, xb])
    loop = opset5.loop(C(5), C(True, np.bool_))
    loop.set_function(body)
    loop.set_special_body_ports([0, 0])
    out = body.get_results()[1].output(0)
    loop.set_merged_input(xb, x.output(0), out)
    loop.get_iter_value(out, -1)
    loop.get_concatenated_slices(out, 0, 1, 1, -1, 0)
    return loop


case("Loop", "opset5", "nested-if", _loop_nested_if, f32(1, 3))


# ------------------------------------------------------------------------------------------------ If
def _if(c, a, b):
    """then: ``a * a`` and ``a + b``; else: ``-b`` and ``a - b``; a third output from one input per branch."""
    ta, tb, ea, eb = (opset8.parameter([2, 3], np.float32) for _ in range(4))
    tonly, eonly = opset8.parameter([2, 3], np.float32), opset8.parameter([2, 3], np.float32)
    then_body = _body([opset8.multiply(ta, ta), opset8.add(ta, tb), opset8.relu(tonly)], [ta, tb, tonly])
    else_body = _body([opset8.negative(eb), opset8.subtract(ea, eb), opset8.sigmoid(eonly)], [ea, eb, eonly])
    branch = opset8.if_op(c)
    branch.set_then_body(then_body)
    branch.set_else_body(else_body)
    branch.set_input(a.output(0), ta, ea)
    branch.set_input(b.output(0), tb, eb)
    branch.set_input(a.output(0), tonly, None)
    branch.set_input(b.output(0), None, eonly)
    for i in range(3):
        branch.set_output(then_body.get_results()[i], else_body.get_results()[i])
    return branch


for go in (True, False):
    case("If", "opset8", f"scalar-{str(go).lower()}", _if, np.array(go), f32(2, 3), f32(2, 3))
    case("If", "opset8", f"one-element-{str(go).lower()}", _if, np.array([go]), f32(2, 3), f32(2, 3))


def _if_shapes(c, a):
    """Branches giving different shapes: the output's shape is known at run time only."""
    ta, ea = opset8.parameter([2, 3], np.float32), opset8.parameter([2, 3], np.float32)
    then_body = _body([opset8.reduce_sum(ta, C([0]), False)], [ta])
    else_body = _body([opset8.reshape(ea, C([-1]), False)], [ea])
    branch = opset8.if_op(c)
    branch.set_then_body(then_body)
    branch.set_else_body(else_body)
    branch.set_input(a.output(0), ta, ea)
    branch.set_output(then_body.get_results()[0], else_body.get_results()[0])
    return branch


for go in (True, False):
    case("If", "opset8", f"branch-shapes-{str(go).lower()}", _if_shapes, np.array(go), f32(2, 3))
