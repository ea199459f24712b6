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
