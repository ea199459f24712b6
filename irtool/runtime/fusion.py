"""FP32 epilogue fusion at load time: ``Convolution/GroupConvolution/MatMul -> [Add(constant)] ->
[ReLU|Clamp]`` (at least one of the two) becomes one layer that adds the bias and clamps in place on the product it just made.

The arithmetic is the same float operations in the same order as the three layers, so results are
bit-identical; what goes is two Python dispatches and two full passes over memory per layer (in
small CNNs the bias Add and the activation cost about as much as the convolution's overhead).
Fused layers keep the weighted op's name; the Add and the activation are reported NOT_RUN.
"""
from __future__ import annotations

import numpy as np

from irtool.ir.graph import Layer, Model, Output, Port
from irtool.passes.patterns import activation_after, constant_addend, single_user

FUSED = "irtool-fused"  # the opset of fused FP32 layers (internal, never written to a file)
WEIGHTED = ("Convolution", "GroupConvolution", "MatMul")


def fuse_epilogues(model: Model) -> Model:
    """Every weighted op with a constant addend (and an activation) after it, fused; a copy.

    A 2-D Convolution also takes in the residual Add of a ResNet block, ``conv [-> Add(bias)] ->
    Add(other tensor of the same shape) [-> ReLU|Clamp]``: the fused layer gets the other tensor as a
    fourth input (the bias a third, -0.0 where there was none: x + -0.0 == x) and clamps after adding it.
    """
    m = model.copy()
    const: dict = {}
    for op in [l for l in m.topological_order() if l.type in WEIGHTED and l.version == "opset1"]:
        found = _bias_after(m, op, const)
        add, bias = found if found is not None else (op, None)
        last, clamp, residual = add, None, None
        found = _residual_after(m, op, add)
        if found is not None:
            last, residual = found
            if bias is None:
                bias = np.full((1, op.outputs[0].dims[1], 1, 1), -0.0, np.float32)
        activation = activation_after(m, last)
        if activation is not None:
            last, lo, hi = activation
            clamp = f"{lo!r}, {hi!r}"
        if last is not op:
            _replace(m, op, last, bias, clamp, residual)
    m.remove_dead()
    return m


def _residual_after(m: Model, op: Layer, last: Layer) -> tuple[Layer, Output] | None:
    """The Add after ``last`` (op or its bias Add) that adds another tensor of the same shape."""
    if op.type != "Convolution" or len(op.outputs[0].dims) != 4 or op.outputs[0].precision != "FP32":
        return None
    user = single_user(m, Output(last, last.outputs[0]))
    if user is None or user.layer.type != "Add" or user.layer.attrs.get("auto_broadcast", "numpy") != "numpy":
        return None
    add = user.layer
    other = m.producer(add, 1 - user.index)
    if other.port.dims != last.outputs[0].dims or other.port.precision != "FP32" or other.layer.type == "Const":
        return None
    return add, other


def _bias_after(m: Model, op: Layer, const: dict) -> tuple[Layer, np.ndarray] | None:
    """The Add right after ``op`` and its constant addend, if adding it leaves the shape unchanged."""
    dims = op.outputs[0].dims
    if not dims or any(d < 0 for d in dims):
        return None
    found = constant_addend(m, op, const)
    if found is None or found[0].attrs.get("auto_broadcast", "numpy") != "numpy":
        return None
    add, _, bias = found
    try:
        if np.broadcast_shapes(bias.shape, tuple(dims)) != tuple(dims):
            return None
    except ValueError:
        return None
    if bias.dtype != np.float32 or op.outputs[0].precision != "FP32":
        return None
    return add, bias


def _replace(m: Model, op: Layer, last: Layer, bias: np.ndarray | None, clamp: str | None,
             residual: Output | None = None) -> None:
    attrs = dict(op.attrs) | ({"clamp": clamp} if clamp else {})
    inputs = [*m.input_values(op)] + ([m.add_constant(bias, f"{op.name}/fused_bias")] if bias is not None else [])
    inputs += [residual] if residual is not None else []
    name = op.name
    op.name = f"{name}/unfused"
    new = m.add_layer(op.type, name, inputs=inputs, version=FUSED, attrs=attrs,
                      outputs=[Port(0, "FP32", list(last.outputs[0].dims), list(last.outputs[0].names))])
    m.replace_all_uses(Output(last, last.outputs[0]), Output(new, new.outputs[0]))
