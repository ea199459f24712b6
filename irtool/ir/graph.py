"""The one in-memory model of an OpenVINO IR: plain dataclasses, no XML.

A :class:`Model` holds :class:`Layer` objects keyed by id (in file order) and :class:`Edge` objects
keyed by the input they feed (every input port has exactly one producer). A layer's ports keep
OpenVINO's single counter: inputs ``0..n-1``, outputs from ``n``. Constant payloads live in
:class:`Constant`, which reads the memory-mapped .bin only when asked.

Edits go through :class:`Model` methods so that the edge indexes stay right; passes copy the model
first (:meth:`Model.copy`) and never modify what they were given.

A TensorIterator, Loop or If layer holds its sub-graphs as :class:`Model` objects of their own (their
own id space, constants in the same .bin) in :attr:`Layer.bodies`, with the `<port_map>` entries
(:class:`PortMap`) that tie the layer's ports to the body's Parameters and Results and the Loop and
TensorIterator `<back_edges>` (:class:`BackEdge`).
"""
from __future__ import annotations

import copy as _copy
import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from irtool.errors import GraphError, IRFormatError
from irtool.ir import attrs as A
from irtool.ir.element_types import ElementType, decode, element_type, encode, from_numpy


@dataclass
class XmlNode:
    """An XML element irtool keeps without interpreting it (rt_info, meta_data, statistics...)."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[XmlNode] = field(default_factory=list)
    text: str | None = None

    def find(self, tag: str) -> XmlNode | None:
        return next((c for c in self.children if c.tag == tag), None)


@dataclass
class Port:
    """One input or output of a layer."""

    id: int
    precision: str | None = "FP32"  # as written: FP32, I64, BOOL...
    dims: list[int] = field(default_factory=list)  # -1 for a dynamic dim; [] for a scalar
    names: list[str] = field(default_factory=list)  # tensor names (output ports)
    rt_info: list[XmlNode] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # other XML attributes, kept as they are

    @property
    def element_type(self) -> ElementType:
        return element_type(self.precision or "undefined")


class Constant:
    """The value of a Const layer: raw .bin bytes (lazy, memory-mapped) or a numpy array."""

    __slots__ = ("element_type", "shape", "_raw", "_value")

    def __init__(self, etype: ElementType, shape: tuple[int, ...], raw: memoryview | bytes | None = None,
                 value: np.ndarray | None = None):
        self.element_type = etype
        self.shape = tuple(shape)
        self._raw = raw
        self._value = value

    @classmethod
    def from_array(cls, value: Any, etype: ElementType | str | None = None) -> Constant:
        """A constant holding ``value``, stored as ``etype`` (default: the array's own dtype)."""
        arr = np.asarray(value)
        et = element_type(etype) if isinstance(etype, str) else (etype or from_numpy(arr.dtype))
        return cls(et, arr.shape, value=arr)

    @property
    def value(self) -> np.ndarray:
        """The decoded array (read-only view of the .bin for byte-aligned types)."""
        if self._value is None:
            self._value = decode(self._raw, self.element_type, self.shape)
        return self._value

    @property
    def raw(self) -> bytes | memoryview:
        """The bytes stored in the .bin."""
        if self._raw is None:
            self._raw = encode(self._value, self.element_type)
        return self._raw

    @property
    def nbytes(self) -> int:
        return len(self.raw) if self._raw is not None else self.element_type.nbytes(math.prod(self.shape))


@dataclass
class PortMap:
    """One `<input>`/`<output>` of a sub-graph op's port map: the layer port ``external_port_id`` is
    the body Parameter (input) or Result (output) ``internal_layer_id``; with an ``axis`` the tensor is
    sliced into (input) or concatenated from (output) one part per iteration. Loop's special body
    ports have ``external_port_id`` -1 and a ``purpose`` (current_iteration, execution_condition)."""

    kind: str  # "input" | "output"
    attrs: dict[str, str] = field(default_factory=dict)  # as written (the source of truth)

    def _int(self, key: str, default: int | None) -> int | None:
        return int(self.attrs[key]) if key in self.attrs else default

    @property
    def external_port_id(self) -> int:
        return self._int("external_port_id", -1)

    @property
    def internal_layer_id(self) -> int:
        return self._int("internal_layer_id", -1)

    @property
    def axis(self) -> int | None:
        return self._int("axis", None)

    @property
    def start(self) -> int:
        return self._int("start", 0)

    @property
    def end(self) -> int:
        return self._int("end", -1)

    @property
    def stride(self) -> int:
        return self._int("stride", 1)

    @property
    def part_size(self) -> int:
        return self._int("part_size", 1)

    @property
    def purpose(self) -> str | None:
        return self.attrs.get("purpose")


@dataclass
class BackEdge:
    """A `<back_edges>` entry: after each iteration body Result ``from_layer`` feeds body Parameter
    ``to_layer`` for the next one."""

    attrs: dict[str, str] = field(default_factory=dict)  # from-layer, to-layer (and ports), as written

    @property
    def from_layer(self) -> int:
        return int(self.attrs["from-layer"])

    @property
    def to_layer(self) -> int:
        return int(self.attrs["to-layer"])


@dataclass
class Layer:
    """One `<layer>`: its XML type name (``Const``, ``ReLU``...), opset, attributes and ports."""

    id: int
    name: str
    type: str
    version: str
    attrs: dict[str, str] = field(default_factory=dict)  # the `<data>` attributes, as strings
    inputs: list[Port] = field(default_factory=list)
    outputs: list[Port] = field(default_factory=list)
    rt_info: list[XmlNode] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # other `<layer>` attributes (output_names...)
    constant: Constant | None = None
    sourceline: int | None = None  # where it was read from, for messages
    # TensorIterator/Loop/If: sub-graphs by tag (body; then_body, else_body), in file order; the port
    # maps by tag (port_map; then_port_map, else_port_map), in file order; the back edges
    bodies: dict[str, Model] = field(default_factory=dict)
    port_maps: dict[str, list[PortMap]] = field(default_factory=dict)
    back_edges: list[BackEdge] | None = None  # None: no <back_edges> element

    def input_index(self, port_id: int) -> int:
        return _index_of(self.inputs, port_id, self, "input")

    def output_index(self, port_id: int) -> int:
        return _index_of(self.outputs, port_id, self, "output")

    def port(self, port_id: int) -> Port:
        for p in (*self.inputs, *self.outputs):
            if p.id == port_id:
                return p
        raise GraphError(f"layer '{self.name}' (id {self.id}) has no port {port_id}")

    # Typed views of attributes: the string stays the source of truth.
    def attr(self, key: str, default: str | None = None) -> str | None:
        return self.attrs.get(key, default)

    def attr_ints(self, key: str, default: list[int] | None = None) -> list[int] | None:
        return self._typed(key, A.parse_ints, "a list of integers") if key in self.attrs else default

    def attr_floats(self, key: str, default: list[float] | None = None) -> list[float] | None:
        return self._typed(key, A.parse_floats, "a list of numbers") if key in self.attrs else default

    def attr_int(self, key: str, default: int | None = None) -> int | None:
        return self._typed(key, int, "an integer") if key in self.attrs else default

    def attr_float(self, key: str, default: float | None = None) -> float | None:
        return self._typed(key, float, "a number") if key in self.attrs else default

    def attr_bool(self, key: str, default: bool | None = None) -> bool | None:
        return self._typed(key, A.parse_bool, "a boolean (true/false)") if key in self.attrs else default

    def _typed(self, key: str, parse, what: str):
        text = self.attrs[key]
        try:
            return parse(text)
        except (ValueError, IRFormatError):
            where = f" (line {self.sourceline})" if self.sourceline else ""
            raise IRFormatError(f"{self.type} layer '{self.name}' (id {self.id}){where}: attribute {key}=\"{text}\" "
                                f"is not {what}") from None

    def __repr__(self) -> str:
        return f"Layer({self.id}, {self.name!r}, {self.type}/{self.version})"


def _index_of(ports: list[Port], port_id: int, layer: Layer, kind: str) -> int:
    for i, p in enumerate(ports):
        if p.id == port_id:
            return i
    raise GraphError(f"layer '{layer.name}' (id {layer.id}) has no {kind} port {port_id}")


# Layers that are kept even though nothing consumes them.
_SINKS = {"Result", "Assign"}


class LayerStats(NamedTuple):
    """One entry of the 2019 `<statistics>` block: the range of a layer's output (port 0) per channel
    (axis 1; one value for a tensor of rank < 2, or one for the whole tensor)."""

    min: np.ndarray  # float64, one value per channel
    max: np.ndarray


class Edge(NamedTuple):
    from_layer: int
    from_port: int
    to_layer: int
    to_port: int


class Output(NamedTuple):
    """A produced tensor: an output port of a layer (what onnx-ir calls a Value)."""

    layer: Layer
    port: Port

    @property
    def index(self) -> int:
        return self.layer.output_index(self.port.id)


class Input(NamedTuple):
    """A consumed tensor: an input port of a layer."""

    layer: Layer
    port: Port

    @property
    def index(self) -> int:
        return self.layer.input_index(self.port.id)


class Model:
    """An OpenVINO IR in memory. See the module docstring for the invariants."""

    def __init__(self, name: str = "model", version: int = 11):
        self.name = name
        self.version = version
        self.net_extra: dict[str, str] = {}  # other `<net>` attributes
        self.layers: dict[int, Layer] = {}
        self._edges: dict[tuple[int, int], Edge] = {}  # keyed by (to_layer, to_port)
        # What follows <edges>, in file order: <rt_info>, <meta_data>, <quantization_parameters>...
        self.extras: list[XmlNode] = []
        # The 2019 Calibration Tool's `<statistics>` block by layer name (None: the file has none);
        # written last in <net>, where the tool appended it.
        self.statistics: dict[str, LayerStats] | None = None
        self.path: str | None = None
        self._consumers: dict[tuple[int, int], list[Edge]] | None = None

    # ----------------------------------------------------------------------------- queries
    @property
    def rt_info(self) -> XmlNode | None:
        """The model-level `<rt_info>` element, if any."""
        return next((n for n in self.extras if n.tag == "rt_info"), None)

    @rt_info.setter
    def rt_info(self, node: XmlNode | None) -> None:
        self.extras = [n for n in self.extras if n.tag != "rt_info"] + ([node] if node is not None else [])

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges.values())

    @property
    def parameters(self) -> list[Layer]:
        """Model inputs, in input order (the order of Parameter layers in the file)."""
        return [l for l in self.layers.values() if l.type == "Parameter"]

    @property
    def results(self) -> list[Layer]:
        return [l for l in self.layers.values() if l.type == "Result"]

    def layer(self, key: int | str) -> Layer:
        """A layer by id or by name."""
        if isinstance(key, int):
            if key in self.layers:
                return self.layers[key]
        else:
            for l in self.layers.values():
                if l.name == key:
                    return l
        raise GraphError(f"no layer {key!r} in model '{self.name}'")

    def producer(self, layer: Layer, index: int = 0) -> Output:
        """The output that feeds input ``index`` (a position, not a port id) of ``layer``."""
        port = layer.inputs[index]
        edge = self._edges.get((layer.id, port.id))
        if edge is None:
            raise GraphError(f"input {index} of layer '{layer.name}' is not connected")
        src = self.layers[edge.from_layer]
        return Output(src, src.port(edge.from_port))

    def input_values(self, layer: Layer) -> list[Output]:
        return [self.producer(layer, i) for i in range(len(layer.inputs))]

    def consumers(self, out: Output | Layer, index: int = 0) -> list[Input]:
        """The inputs fed by an output (``Output`` or ``layer, output position``), in edge order."""
        if isinstance(out, Layer):
            out = Output(out, out.outputs[index])
        edges = self._consumer_index().get((out.layer.id, out.port.id), [])
        return [Input(self.layers[e.to_layer], self.layers[e.to_layer].port(e.to_port)) for e in edges]

    def topological_order(self) -> list[Layer]:
        """Layers so that every producer comes before its consumers; ties keep file order."""
        indeg = {lid: 0 for lid in self.layers}
        for e in self._edges.values():
            indeg[e.to_layer] += 1
        succ = self._successors()
        ready = [lid for lid, d in indeg.items() if d == 0]
        order: list[Layer] = []
        pos = {lid: i for i, lid in enumerate(self.layers)}
        heap = [(pos[lid], lid) for lid in ready]
        heapq.heapify(heap)
        while heap:
            _, lid = heapq.heappop(heap)
            order.append(self.layers[lid])
            for nxt in succ.get(lid, ()):
                indeg[nxt] -= 1
                if indeg[nxt] == 0:
                    heapq.heappush(heap, (pos[nxt], nxt))
        if len(order) != len(self.layers):
            stuck = next(self.layers[l] for l, d in indeg.items() if d > 0)
            error = GraphError(f"the graph has a cycle through layer '{stuck.name}' (id {stuck.id})")
            error.layer = stuck
            raise error
        return order

    def _successors(self) -> dict[int, list[int]]:
        succ: dict[int, list[int]] = {}
        for e in self._edges.values():
            succ.setdefault(e.from_layer, []).append(e.to_layer)
        return succ

    def _consumer_index(self) -> dict[tuple[int, int], list[Edge]]:
        if self._consumers is None:
            idx: dict[tuple[int, int], list[Edge]] = {}
            for e in self._edges.values():
                idx.setdefault((e.from_layer, e.from_port), []).append(e)
            self._consumers = idx
        return self._consumers

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers.values())

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        return f"Model({self.name!r}, v{self.version}, {len(self.layers)} layers)"

    # ----------------------------------------------------------------------------- edits
    def copy(self) -> Model:
        """A structural deep copy; constant payloads (read-only) are shared, not duplicated."""
        memo: dict[int, Any] = {}
        for l in self.walk():
            if l.constant is not None:
                memo[id(l.constant)] = Constant(l.constant.element_type, l.constant.shape,
                                                l.constant._raw, l.constant._value)
        new = _copy.deepcopy(self, memo)
        return new

    def walk(self) -> Iterator[Layer]:
        """Every layer, those of sub-graphs (TensorIterator/Loop/If bodies) right after their layer."""
        for l in self.layers.values():
            yield l
            for body in l.bodies.values():
                yield from body.walk()

    def connect(self, src: Output, dst: Input) -> None:
        """Feed ``dst`` from ``src`` (replacing what fed it before)."""
        self._edges[(dst.layer.id, dst.port.id)] = Edge(src.layer.id, src.port.id, dst.layer.id, dst.port.id)
        self._consumers = None

    def next_id(self) -> int:
        return max(self.layers, default=-1) + 1

    def add_layer(self, type: str, name: str, *, inputs: Iterable[Output] = (), outputs: Iterable[Port] = (),
                  version: str = "opset1", attrs: dict[str, str] | None = None,
                  constant: Constant | None = None) -> Layer:
        """Append a layer fed by ``inputs``; ports are numbered inputs first, then ``outputs``."""
        inputs = list(inputs)
        in_ports = [Port(i, src.port.precision, list(src.port.dims)) for i, src in enumerate(inputs)]
        out_ports = [Port(len(inputs) + i, p.precision, list(p.dims), list(p.names), list(p.rt_info), dict(p.extra))
                     for i, p in enumerate(outputs)]
        layer = Layer(self.next_id(), name, type, version, dict(attrs or {}), in_ports, out_ports, constant=constant)
        self.layers[layer.id] = layer
        for port, src in zip(in_ports, inputs):
            self.connect(src, Input(layer, port))
        return layer

    def add_constant(self, value: Any, name: str, etype: ElementType | str | None = None) -> Output:
        """A new Const layer holding ``value``; returns its output."""
        const = Constant.from_array(value, etype)
        et = const.element_type
        attrs = {"element_type": et.name, "shape": A.format_ints(const.shape), "offset": "0", "size": "0"}
        layer = self.add_layer("Const", name, outputs=[Port(0, et.precision, list(const.shape))],
                               attrs=attrs, constant=const)
        return Output(layer, layer.outputs[0])

    def replace_all_uses(self, old: Output, new: Output) -> None:
        """Make every consumer of ``old`` read ``new`` instead (Results included)."""
        for dst in self.consumers(old):
            self.connect(new, dst)

    def insert_after(self, out: Output, type: str, name: str, *, extra_inputs: Iterable[Output] = (),
                     version: str = "opset1", attrs: dict[str, str] | None = None,
                     port: Port | None = None) -> Layer:
        """Put a new layer between ``out`` and all its consumers: ``out -> new -> consumers``.

        ``out`` becomes input 0 of the new layer, ``extra_inputs`` the rest; the new output port
        copies ``out``'s precision and dims unless ``port`` is given.
        """
        users = self.consumers(out)
        outp = port or Port(0, out.port.precision, list(out.port.dims))
        layer = self.add_layer(type, name, inputs=[out, *extra_inputs], outputs=[outp], version=version, attrs=attrs)
        new_out = Output(layer, layer.outputs[0])
        for dst in users:
            self.connect(new_out, dst)
        return layer

    def remove_layer(self, layer: Layer, *, bypass: tuple[int, int] | None = None) -> None:
        """Delete ``layer`` and its edges. ``bypass=(in_pos, out_pos)`` first reroutes the consumers
        of output ``out_pos`` to the producer of input ``in_pos``; otherwise the layer must be unused."""
        if bypass is not None:
            self.replace_all_uses(Output(layer, layer.outputs[bypass[1]]), self.producer(layer, bypass[0]))
        for p in layer.outputs:
            users = self.consumers(Output(layer, p))
            if users:
                names = ", ".join(u.layer.name for u in users)
                raise GraphError(f"cannot remove '{layer.name}': its output {p.id} still feeds {names}")
        for p in layer.inputs:
            self._edges.pop((layer.id, p.id), None)
        del self.layers[layer.id]
        self._consumers = None

    def remove_dead(self) -> int:
        """Remove layers whose outputs reach no Result (dangling Consts after an edit); count removed."""
        live: set[int] = set()
        stack = [l.id for l in self.layers.values() if l.type in _SINKS]
        pred: dict[int, list[int]] = {}
        for e in self._edges.values():
            pred.setdefault(e.to_layer, []).append(e.from_layer)
        while stack:
            lid = stack.pop()
            if lid not in live:
                live.add(lid)
                stack.extend(pred.get(lid, ()))
        dead = [l for lid, l in self.layers.items() if lid not in live and l.type not in ("Parameter",)]
        for l in dead:
            for p in l.inputs:
                self._edges.pop((l.id, p.id), None)
            del self.layers[l.id]
        self._consumers = None
        return len(dead)
