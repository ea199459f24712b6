"""Sub-graph ops: TensorIterator (opset1), Loop (opset5) and If (opset8), as OpenVINO's CPU plugin runs them.

Each body is compiled once at load time into a nested :class:`~irtool.runtime.plugin.CompiledModel`
(again for input shapes other than those its IR states) and run as a function of its Parameters,
giving its Results in file order. Per iteration the port map's sliced inputs give the body one part
along their axis, back edges carry a Result to a Parameter for the next iteration, and the outputs
are the last iteration's value or every iteration's part concatenated along the axis.

What OpenVINO's CPU plugin does, measured on 2026.4 where it is not the spec's text:

* The iteration count of a TensorIterator comes from each sliced port's ``start``/``end``/``stride``
  (negative ``start``/``end`` count from ``dim + 1``: -1 is the end), but the parts themselves are
  taken from the start of the axis (``stride < 0``: from its end), ``|stride|`` wide: ``start`` 1
  on a dim of 4 makes 3 iterations over parts 0, 1, 2. Ports that disagree on the count are an error.
* A Loop runs while its condition holds and fewer than ``trip_count`` iterations ran (a negative
  trip count: no limit); the body's condition output decides on the next iteration. A sliced input
  with fewer parts than the iterations run is an error. With no iteration at all, a back-edged
  output is the initial value of the Parameter it feeds and a concatenated one is empty.
* An If runs the branch its condition (a one-element tensor) picks, at run time.
"""
from __future__ import annotations

import math

import numpy as np

from irtool.errors import InputError, UnsupportedError
from irtool.ir.graph import Layer, Model, PortMap
from irtool.runtime import threads
from irtool.runtime.registry import kernel, specializer


class _Body:
    """A sub-graph as a function ``run(values) -> results``: ``values`` one per body Parameter in
    file order, the results one per body Result in file order (the plugin's input and output order)."""

    def __init__(self, model: Model):
        self.model = model
        self.params = {l.id: i for i, l in enumerate(model.parameters)}
        self.results = {l.id: i for i, l in enumerate(model.results)}
        self._compiled = self._compile(None)
        self._by_shapes: dict[tuple, object] = {}

    def _compile(self, shapes):
        from irtool.runtime.plugin import compile_model  # (here: the plugin imports the kernels)

        compiled = compile_model(self.model, shapes)
        # the outer model's first inference, untimed, is the warm-up of its bodies too
        compiled._cold = False
        for spec, layer in zip(compiled.inputs, self.model.parameters):
            assert layer.name in spec.names, (spec, layer)
        for spec, layer in zip(compiled.outputs, self.model.results):
            assert layer.name in spec.names, (spec, layer)
        return compiled

    def request(self):
        """A runner for one inference of the outer model (its own requests: no state shared)."""
        default = self._compiled.create_infer_request()
        requests = {}

        def run(values: list[np.ndarray]) -> list[np.ndarray]:
            if _fits(self._compiled.inputs, values):
                req = default
            else:  # other shapes than the body's IR states: a body compiled for them (as OpenVINO reshapes)
                key = tuple(v.shape for v in values)
                req = requests.get(key)
                if req is None:
                    compiled = self._by_shapes.get(key)
                    if compiled is None:
                        compiled = self._by_shapes[key] = self._compile([list(s) for s in key])
                    req = requests[key] = compiled.create_infer_request()
            serial = threads.current() == 1  # what the outer plan set for this step; the body's steps set theirs
            try:
                return req.run(values)
            finally:
                threads.serial(serial)

        return run


def _fits(specs, values) -> bool:
    for spec, v in zip(specs, values):
        if v.shape != spec.shape and (len(v.shape) != len(spec.shape)
                                      or any(d >= 0 and d != a for d, a in zip(spec.shape, v.shape))):
            return False
    return True


def _scalar(value) -> int | bool:
    arr = np.asarray(value).reshape(-1)
    if arr.size != 1:
        raise InputError(f"a trip count or condition has {arr.size} elements, not one")
    return arr[0].item()


# ------------------------------------------------------------------------------ TensorIterator, Loop
def _iterations(rule: PortMap, dim: int, who: str) -> int:
    """How many iterations a sliced port makes over an axis of ``dim`` (OpenVINO CPU's rule)."""
    start = rule.start + (dim + 1 if rule.start < 0 else 0)
    end = rule.end + (dim + 1 if rule.end < 0 else 0)
    step = abs(rule.stride)
    if step == 0:
        raise InputError(f"{who}: stride 0 on axis {rule.axis}")
    src, dst = (end, start) if rule.stride < 0 else (start, end)
    if src < 0 or src >= dst or dst > dim or dst - src < step:
        raise InputError(f"{who}: start {rule.start}, end {rule.end}, stride {rule.stride} do not fit an axis "
                         f"of {dim}")
    return math.ceil((dst - src) / step)


def _part(x: np.ndarray, axis: int, stride: int, i: int) -> np.ndarray:
    """Iteration ``i``'s part of ``x``: ``|stride|`` wide, counted from the start (from the end if
    ``stride < 0``)."""
    step = abs(stride)
    at = i * step if stride > 0 else (x.shape[axis] // step - 1 - i) * step
    index = [slice(None)] * x.ndim
    index[axis] = slice(at, at + step)
    return np.ascontiguousarray(x[tuple(index)])


class _Iterate:
    """A TensorIterator or Loop layer, its body compiled: called with the layer's inputs."""

    def __init__(self, layer: Layer):
        self.layer = layer
        self.name = f"{layer.type} '{layer.name}'"
        self.loop = layer.type == "Loop"
        body_model = layer.bodies.get("body")
        if body_model is None:
            raise UnsupportedError(f"{self.name} has no <body>")
        self.body = _Body(body_model)
        where_in = {p.id: i for i, p in enumerate(layer.inputs)}
        where_out = {p.id: i for i, p in enumerate(layer.outputs)}
        self.initial: list[tuple[int, int]] = []  # (body param, layer input): invariant and merged inputs
        self.sliced: list[tuple[int, int, PortMap]] = []  # (body param, layer input, rule)
        self.counter: tuple[int, np.dtype, tuple[int, ...]] | None = None  # Loop's current_iteration param
        self.condition: int | None = None  # Loop: the body Result that decides on the next iteration
        self.outputs: list[tuple[int, int, PortMap]] = []  # (layer output, body result, rule)
        for rule in layer.port_maps.get("port_map", []):
            if rule.kind == "input":
                param = self.body.params[rule.internal_layer_id]
                if rule.purpose == "current_iteration":
                    port = body_model.layers[rule.internal_layer_id].outputs[0]
                    self.counter = (param, port.element_type.dtype, tuple(max(d, 1) for d in port.dims))
                elif rule.axis is not None:
                    self.sliced.append((param, where_in[rule.external_port_id], rule))
                else:
                    self.initial.append((param, where_in[rule.external_port_id]))
            elif rule.purpose == "execution_condition":
                self.condition = self.body.results[rule.internal_layer_id]
            elif rule.external_port_id >= 0:
                self.outputs.append((where_out[rule.external_port_id], self.body.results[rule.internal_layer_id], rule))
        self.back = [(self.body.results[e.from_layer], self.body.params[e.to_layer]) for e in layer.back_edges or ()]
        self.fed_back = {result: param for result, param in self.back}

    def _count(self, inputs) -> int | None:
        """The iterations a TensorIterator makes (None: a Loop decides as it goes)."""
        if self.loop:
            return None
        counts = {_iterations(rule, inputs[i].shape[_axis(rule, inputs[i].ndim)], self.name)
                  for _, i, rule in self.sliced}
        if not counts:  # then concatenated outputs whose size the IR states count (OpenVINO counts both;
            # the IR's sizes are those before a reshape, the inputs' are those of this inference)
            for out, _, rule in self.outputs:
                dims = self.layer.outputs[out].dims
                if rule.axis is not None and dims and dims[_axis(rule, len(dims))] >= 0:
                    counts.add(_iterations(rule, dims[_axis(rule, len(dims))], self.name))
        if len(counts) > 1:
            raise InputError(f"{self.name}: its ports make different numbers of iterations: {sorted(counts)}")
        return counts.pop() if counts else 1

    def __call__(self, *inputs):
        run = self.body.request()
        values: list[np.ndarray | None] = [None] * len(self.body.params)
        for param, i in self.initial:
            values[param] = inputs[i]
        limit = self._count(inputs)
        go = True
        if self.loop:
            trips, go = _scalar(inputs[0]), bool(_scalar(inputs[1]))
            limit = trips if trips >= 0 else None
        parts: dict[int, list[np.ndarray]] = {out: [] for out, _, rule in self.outputs if rule.axis is not None}
        results: list[np.ndarray] | None = None
        i = 0
        while go and (limit is None or i < limit):
            for param, at, rule in self.sliced:
                x = inputs[at]
                axis = _axis(rule, x.ndim)
                if (i + 1) * abs(rule.stride) > x.shape[axis]:
                    raise InputError(f"{self.name}: iteration {i + 1} needs part {i} of input {at}, which has "
                                     f"{x.shape[axis] // abs(rule.stride)}")
                values[param] = _part(x, axis, rule.stride, i)
            if self.counter is not None:
                param, dtype, shape = self.counter
                values[param] = np.full(shape, i, dtype)
            results = run(values)
            for result, param in self.back:
                values[param] = results[result]
            for out, result, _ in self.outputs:
                if out in parts:
                    parts[out].append(results[result])
            if self.condition is not None:
                go = bool(_scalar(results[self.condition]))
            i += 1
        return self._outputs(values, results, parts)

    def _outputs(self, values, results, parts):
        outs: list[np.ndarray | None] = [None] * len(self.layer.outputs)
        for out, result, rule in self.outputs:
            if out in parts:
                outs[out] = self._concat(out, rule, parts[out])
            elif result in self.fed_back:  # = the last value, and with no iteration the initial one
                outs[out] = values[self.fed_back[result]]
            elif results is not None:
                outs[out] = results[result]
            else:
                outs[out] = self._empty(out, None)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _concat(self, out: int, rule: PortMap, parts: list[np.ndarray]) -> np.ndarray:
        if not parts:
            return self._empty(out, rule.axis)
        axis = _axis(rule, parts[0].ndim)
        return np.concatenate(parts[::-1] if rule.stride < 0 else parts, axis=axis)

    def _empty(self, out: int, axis: int | None) -> np.ndarray:
        """An output no iteration made: zeros of its stated shape (the concatenation axis empty)."""
        port = self.layer.outputs[out]
        dims = [max(d, 0) for d in port.dims]
        if axis is not None and dims:
            dims[_axis_of(axis, len(dims))] = 0
        return np.zeros(dims, port.element_type.dtype or np.float32)


def _axis(rule: PortMap, ndim: int) -> int:
    return _axis_of(rule.axis, ndim)


def _axis_of(axis: int, ndim: int) -> int:
    return axis + ndim if axis < 0 else axis


# ------------------------------------------------------------------------------------------------ If
class _Branch:
    """An If layer, both branches compiled: called with the layer's inputs, runs the one its condition picks."""

    def __init__(self, layer: Layer):
        self.layer = layer
        self.name = f"If '{layer.name}'"
        where_in = {p.id: i for i, p in enumerate(layer.inputs)}
        where_out = {p.id: i for i, p in enumerate(layer.outputs)}
        self.branches = []
        for side in ("then", "else"):
            model = layer.bodies.get(f"{side}_body")
            if model is None:
                raise UnsupportedError(f"{self.name} has no <{side}_body>")
            body = _Body(model)
            feeds = [None] * len(body.params)  # layer input per body param
            takes = [None] * len(layer.outputs)  # body result per layer output
            for rule in layer.port_maps.get(f"{side}_port_map", []):
                if rule.kind == "input":
                    feeds[body.params[rule.internal_layer_id]] = where_in[rule.external_port_id]
                else:
                    takes[where_out[rule.external_port_id]] = body.results[rule.internal_layer_id]
            if None in feeds or None in takes:
                raise UnsupportedError(f"{self.name}: its {side} port map leaves a body input or an output of the "
                                       "layer unmapped")
            self.branches.append((body, feeds, takes))

    def __call__(self, *inputs):
        body, feeds, takes = self.branches[0 if _scalar(inputs[0]) else 1]
        results = body.request()([inputs[i] for i in feeds])
        outs = [results[r] for r in takes]
        return outs[0] if len(outs) == 1 else tuple(outs)


# ------------------------------------------------------------------------------------------ kernels
@kernel("TensorIterator", versions=("opset1",), foldable=False)
def tensor_iterator(*inputs, layer):
    return _Iterate(layer)(*inputs)


@kernel("Loop", versions=("opset5",), foldable=False)
def loop(*inputs, layer):
    return _Iterate(layer)(*inputs)


@kernel("If", versions=("opset8",), foldable=False)
def if_(*inputs, layer):
    return _Branch(layer)(*inputs)


@specializer(tensor_iterator, loop)
def _prepare_iterate(consts, *, layer):
    return _Iterate(layer)  # the body compiled once, at load time


@specializer(if_)
def _prepare_branch(consts, *, layer):
    return _Branch(layer)
