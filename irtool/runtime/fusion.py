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
from irtool.passes.patterns import activation_after, constant_addend

FUSED = "irtool-fused"  # the opset of fused FP32 layers (internal, never written to a file)
WEIGHTED = ("Convolution", "GroupConvolution", "MatMul")


def fuse_epilogues(model: Model) -> Model:
    """Every weighted op with a constant addend (and an activation) after it, fused; a copy."""
    m = model.copy()
    const: dict = {}
    for op in [l for l in m.topological_order() if l.type in WEIGHTED and l.version == "opset1"]:
        found = _bias_after(m, op, const)
        add, bias = found if found is not None else (op, None)
        last, clamp = add, None
        activation = activation_after(m, add)
        if activation is not None:
            last, lo, hi = activation
            clamp = f"{lo!r}, {hi!r}"
        if last is not op:
            _replace(m, op, last, bias, clamp)
    m.remove_dead()
    return m


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


def _replace(m: Model, op: Layer, last: Layer, bias: np.ndarray | None, clamp: str | None) -> None:
    attrs = dict(op.attrs) | ({"clamp": clamp} if clamp else {})
    inputs = [*m.input_values(op)] + ([m.add_constant(bias, f"{op.name}/fused_bias")] if bias is not None else [])
    name = op.name
    op.name = f"{name}/unfused"
    new = m.add_layer(op.type, name, inputs=inputs, version=FUSED, attrs=attrs,
                      outputs=[Port(0, "FP32", list(last.outputs[0].dims), list(last.outputs[0].names))])
    m.replace_all_uses(Output(last, last.outputs[0]), Output(new, new.outputs[0]))
