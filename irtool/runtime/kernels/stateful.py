"""Stateful ops: ReadValue (opset3, opset6) and Assign (opset3, opset6), as OpenVINO's CPU plugin runs them.

Their state lives in the infer request (:mod:`irtool.runtime.state`); the plugin hands it to them as
their last input. A ReadValue gives the variable's state, or while it is reset its initial value: its
input (ReadValue-3 always has one; ReadValue-6 may), else zeros of the variable's type and shape
(dynamic dims 0, as OpenVINO's CPU plugin gives them). An Assign's value becomes the state when the
inference ends; it passes its input through.
"""
from __future__ import annotations

from irtool.runtime.registry import kernel
from irtool.runtime.state import variables_of


@kernel("ReadValue", versions=("opset3", "opset6"), foldable=False)
def read_value(*args, variable_id: str, layer):
    *initial, states = args
    if initial:
        return states.read(variable_id, lambda: initial[0])
    return states.read(variable_id, variables_of([layer])[0].zeros)


@kernel("Assign", versions=("opset3", "opset6"), foldable=False)
def assign(value, states, *, variable_id: str):
    states.write(variable_id, value)
    return value
