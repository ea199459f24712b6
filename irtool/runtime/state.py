"""Variables of a stateful model (ReadValue/Assign), kept per infer request as OpenVINO keeps them.

A variable starts out *reset*: its state reads as zeros (dynamic dims 0), and a ReadValue of it gives
its initial value: the ReadValue's input (opset3; opset6 with an input), zeros otherwise. An Assign's
value becomes the state once the inference that computed it has finished (every ReadValue of that
inference reads the state it started with); ``set_state`` makes a state of the user's; ``reset``
starts over. Measured on OpenVINO 2026.4's CPU plugin.

The plugin passes a request's :class:`States` to its ReadValue and Assign steps in a slot of their
own (:data:`SLOT`), so one compiled model serves any number of requests, each with its own variables.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from irtool.errors import InputError
from irtool.ir import attrs as A
from irtool.ir.element_types import element_type
from irtool.ir.graph import Layer

STATEFUL = ("ReadValue", "Assign")
SLOT = ("state", "variables")  # the key of the states' slot among the plugin's (layer id, port id) keys


@dataclass(frozen=True)
class Variable:
    """A variable as its ReadValue declares it: id, element type and shape (-1 for a dynamic dim)."""

    id: str
    dtype: np.dtype
    shape: tuple[int, ...]

    def zeros(self) -> np.ndarray:
        return np.zeros(tuple(max(d, 0) for d in self.shape), self.dtype)

    def accepts(self, value: np.ndarray) -> bool:
        return value.dtype == self.dtype and len(value.shape) == len(self.shape) and all(
            d < 0 or d == v for d, v in zip(self.shape, value.shape))


def variables_of(layers: Iterable[Layer]) -> list[Variable]:
    """The variables the ReadValue layers declare, in the order first met (opset6 states type and shape
    in its attributes, opset3 through its output port)."""
    found: dict[str, Variable] = {}
    for layer in layers:
        if layer.type != "ReadValue" or layer.attrs.get("variable_id") in found:
            continue
        port = layer.outputs[0]
        etype = layer.attrs.get("variable_type")
        dtype = element_type(etype).dtype if etype not in (None, "dynamic", "undefined") else None
        shape = layer.attrs.get("variable_shape")
        dims = A.parse_shape(shape) if shape not in (None, "...") else port.dims
        vid = layer.attrs["variable_id"]
        found[vid] = Variable(vid, np.dtype(dtype or port.element_type.dtype or np.float32), tuple(dims))
    return list(found.values())


class VariableState:
    """One variable of a request, as ``InferRequest.query_state()`` gives it (OpenVINO's VariableState)."""

    def __init__(self, states: States, variable: Variable):
        self._states = states
        self._variable = variable

    @property
    def name(self) -> str:
        return self._variable.id

    def get_name(self) -> str:
        return self.name

    @property
    def state(self) -> np.ndarray:
        """The current state (a copy): zeros while reset."""
        value = self._states.values.get(self.name)
        return self._variable.zeros() if value is None else value.copy()

    @state.setter
    def state(self, value) -> None:
        arr = np.asarray(value)
        if not self._variable.accepts(arr):
            want = "[" + ",".join("?" if d < 0 else str(d) for d in self._variable.shape) + "]"
            raise InputError(f"state '{self.name}' takes {self._variable.dtype} {want}, got {arr.dtype} "
                             f"{list(arr.shape)}")
        self._states.values[self.name] = _frozen(arr)

    def get_state(self) -> np.ndarray:
        return self.state

    def set_state(self, value) -> None:
        self.state = value

    def reset(self) -> None:
        self._states.values.pop(self.name, None)

    def __repr__(self) -> str:
        return f"VariableState({self.name!r})"


class States:
    """The variables of one infer request: committed values (absent: reset) and this inference's writes."""

    def __init__(self, variables: list[Variable]):
        self.variables = variables
        self.values: dict[str, np.ndarray] = {}
        self._written: dict[str, np.ndarray] = {}

    # --- what the kernels call
    def read(self, variable_id: str, initial) -> np.ndarray:
        """The state at the start of this inference, or ``initial()`` while the variable is reset."""
        value = self.values.get(variable_id)
        return initial() if value is None else value

    def write(self, variable_id: str, value: np.ndarray) -> None:
        self._written[variable_id] = value

    # --- what the infer request calls
    def begin(self) -> States:
        self._written.clear()
        return self

    def commit(self) -> None:
        """The inference finished: its Assigns' values become the states (copies: a value may be a
        buffer the next inference rewrites, or the caller's input)."""
        for vid, value in self._written.items():
            self.values[vid] = _frozen(value)
        self._written.clear()

    def snapshot(self) -> dict[str, np.ndarray]:
        return dict(self.values)

    def restore(self, snapshot: dict[str, np.ndarray]) -> None:
        self.values = dict(snapshot)

    def query(self) -> list[VariableState]:
        return [VariableState(self, v) for v in self.variables]

    def reset(self) -> None:
        self.values.clear()


def _frozen(value: np.ndarray) -> np.ndarray:
    """A state array, read-only: a ReadValue hands it on as is, and no one may change it in place."""
    value = np.array(value)  # an own copy
    value.flags.writeable = False
    return value
