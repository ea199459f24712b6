"""Small graph patterns the load-time passes and quantization share: an op's only reader, the
constant addend (bias) right after it, the activation (ReLU/Clamp) right after that."""
from __future__ import annotations

import numpy as np

from irtool.ir.graph import Input, Layer, Model, Output
from irtool.passes.fold import fold, is_constant


def single_user(model: Model, out: Output) -> Input | None:
    """The one input ``out`` feeds, or None when it feeds none or several."""
    users = model.consumers(out)
    return users[0] if len(users) == 1 else None


def constant_addend(model: Model, op: Layer, const: dict | None = None) -> tuple[Layer, int, np.ndarray] | None:
    """``op -> Add(constant)`` with the Add as op's only reader: (the Add, the position of its constant
    input, the constant's value)."""
    user = single_user(model, Output(op, op.outputs[0]))
    if user is None or user.layer.type != "Add":
        return None
    index = 1 - user.index
    other = model.producer(user.layer, index)
    if not is_constant(model, other, const):
        return None
    return user.layer, index, fold(model, other)


def activation_after(model: Model, layer: Layer) -> tuple[Layer, float, float] | None:
    """``layer -> ReLU|Clamp`` with the activation as its only reader: (the activation, low, high)."""
    user = single_user(model, Output(layer, layer.outputs[0]))
    if user is None or user.layer.type not in ("ReLU", "Clamp"):
        return None
    act = user.layer
    return (act, 0.0, np.inf) if act.type == "ReLU" else (act, act.attr_float("min"), act.attr_float("max"))
