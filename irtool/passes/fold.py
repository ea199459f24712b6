"""Evaluate a constant subgraph (``Const -> Convert -> Reshape ...``) to a numpy array."""
from __future__ import annotations

import numpy as np

from irtool.ir.graph import Model, Output


def is_constant(model: Model, out: Output, _memo: dict | None = None) -> bool:
    """True when ``out`` depends on no Parameter (and on no stateful op)."""
    memo = {} if _memo is None else _memo
    lid = out.layer.id
    if lid not in memo:
        layer = out.layer
        if layer.type == "Const":
            memo[lid] = True
        elif layer.type in ("Parameter", "ReadValue", "Assign") or not layer.inputs:
            memo[lid] = False
        else:
            memo[lid] = all(is_constant(model, src, memo) for src in model.input_values(layer))
    return memo[lid]


def fold(model: Model, out: Output) -> np.ndarray:
    """The value of a constant output, computed with the plugin's kernels."""
    from irtool.runtime.registry import find_kernel

    cache: dict[tuple[int, int], np.ndarray] = {}

    def value(o: Output) -> np.ndarray:
        key = (o.layer.id, o.port.id)
        if key not in cache:
            layer = o.layer
            if layer.type == "Const":
                cache[key] = np.asarray(layer.constant.value)
            else:
                kern = find_kernel(layer)
                result = kern.fn(*(value(s) for s in model.input_values(layer)), **kern.bind(layer))
                results = [result] if len(layer.outputs) == 1 else list(result)
                for port, r in zip(layer.outputs, results):
                    cache[(layer.id, port.id)] = np.asarray(r)
        return cache[key]

    return value(out)


def fold_static_shapes(model: Model) -> Model:
    """Every ShapeOf of a tensor whose shape the IR states in full => a Const of that shape (the plugin
    applies this when no input is reshaped), then the layers that feed nothing any more removed: a
    branch that only measures a tensor (an SSD's PriorBox reading a feature map's size) no longer
    keeps alive what makes that tensor's values (the INT8 path's Dequantize of it). The input model is
    not modified; without such a ShapeOf it is returned as it is."""
    static = [l for l in model if l.type == "ShapeOf" and _static(model.producer(l, 0).port.dims)]
    if not static:
        return model
    m = model.copy()
    for layer in [m.layers[l.id] for l in static]:
        dtype = np.int32 if layer.attrs.get("output_type", "i64") == "i32" else np.int64
        const = m.add_constant(np.array(m.producer(layer, 0).port.dims, dtype), f"{layer.name}/static")
        m.replace_all_uses(Output(layer, layer.outputs[0]), const)
    m.remove_dead()
    return m


def _static(dims: list[int]) -> bool:
    return bool(dims) and all(d >= 0 for d in dims)
