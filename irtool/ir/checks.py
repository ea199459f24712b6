"""The load-time check of a :class:`~irtool.ir.graph.Model`: every layer against what its op type and
version declare, before ``compile_model`` makes a plan (and in ``irtool validate``).

Per layer, in topological order:

- its input and output port counts, required ``<data>`` attributes and the form of every known one
  (``schemas/ops.json``, the table :mod:`irtool.ir.validate` reads);
- a Parameter's ``shape``/``element_type`` against its port, a Const's against its port;
- each input port against the output that feeds it (dims and precision: irtool's transformations
  read them);
- its outputs' shapes and element types as OpenVINO's ``validate_and_infer_types`` infers them from
  its inputs (:mod:`irtool.ir.shapes`: the common ops; others are not checked), against those the IR
  states on its output ports. A dynamic dim (-1) matches any; a shape known only at run time is
  checked after the first inference (:func:`output_shape_checker`).

A problem is one :class:`~irtool.errors.LayerError` naming the layer, its .xml line, what the op
expects and what the IR says.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
from dataclasses import dataclass, field

from irtool.errors import IRFormatError, LayerError
from irtool.ir import attrs as A
from irtool.ir.graph import Layer, Model
from irtool.ir.shapes import T, find_rule, fmt, type_name
from irtool.ir.shapes import MAX_VALUE, Refusal

__all__ = ["check_model", "model_problems", "output_shape_checker"]

# Set (tests do) to let a shape rule's own bug raise instead of leaving the layer unchecked.
STRICT = bool(os.environ.get("IRTOOL_STRICT_SHAPE_RULES"))


@dataclass(frozen=True, eq=False)
class _Spec:
    """What schemas/ops.json says of one op type and version, ready for checking."""

    label: str  # Convolution-opset1
    low: int
    high: int | None
    outputs: int | None
    attrs: dict  # name -> spec
    required: tuple[str, ...]
    rule: object
    seen: set = field(default_factory=set)  # (port counts, attributes) found right: not checked again
    absent: str | None = None  # the type is not in the opset the layer names: the opsets that have it


@functools.lru_cache(maxsize=1024)
def _spec(type_name_: str, version: str) -> _Spec | None:
    from irtool.ir.validate import _op_table  # (the table validate reads: one copy in memory)

    if version.startswith("irtool"):  # irtool's own layers (a graph its passes made): not the IR's ops
        return None
    table = _op_table()
    entry = table.find(type_name_, version)
    xml_type = table.canonical(type_name_)
    if entry is None:
        # a known type under a version no opset names ("", "opset99", a custom domain): irtool's plugin
        # runs it by type, so hold it to what every version of the type has in common
        if xml_type not in table.ops:
            return None
        spec = _any_version(type_name_, table.ops[xml_type], find_rule(xml_type))
        if re.fullmatch(r"opset\d+", version):  # OpenVINO's reader refuses an op its opset lacks
            opsets = sorted({n for e in table.ops[xml_type].values() for n in e["opsets"]})
            spec = dataclasses.replace(spec, absent=f"opset{opsets[0]}..opset{opsets[-1]}" if opsets else "no opset")
        return spec
    low, high = entry["inputs"]
    required = tuple(n for n, s in entry["attrs"].items() if s.get("required"))
    return _Spec(f"{type_name_}-{version}", low, high, entry["outputs"], entry["attrs"], required,
                 find_rule(xml_type))


def _any_version(type_name_: str, versions: dict[str, dict], shape_rule) -> _Spec:
    """The checks every version of an op type agrees on: the widest port-count range, the output count
    if all versions have the same, the attributes every version requires; the type's shape rule."""
    entries = list(versions.values())
    low = min(e["inputs"][0] for e in entries)
    highs = [e["inputs"][1] for e in entries]
    high = None if None in highs else max(highs)
    outs = {e["outputs"] for e in entries}
    outputs = outs.pop() if len(outs) == 1 else None
    required = tuple(sorted(set.intersection(*({n for n, s in e["attrs"].items() if s.get("required")}
                                                for e in entries))))
    attrs = {n: s for n, s in entries[0]["attrs"].items()
             if all(e["attrs"].get(n, {}).get("kind") == s.get("kind") and e["attrs"][n].get("values") == s.get("values")
                    for e in entries)}
    return _Spec(f"{type_name_} (any version)", low, high, outputs, attrs, required, shape_rule)


@functools.lru_cache(maxsize=8192)
def _attr_error(kind: str, values: tuple[str, ...], text: str) -> str | None:
    from irtool.ir.validate import _value_error

    return _value_error(text, {"kind": kind, "values": list(values)})


_SPECS: dict[tuple[str, str], _Spec | None] = {}  # (type, version) -> spec, looked up once
_UNSEEN = object()
_NONE = ""  # _TYPES' value for a precision of no fixed type (dynamic, undefined, unknown)
_TYPES: dict[str, str] = {}  # port precision -> element type name
_UNKNOWN = T(None)


def _type(precision: str) -> str:
    _TYPES[precision] = name = type_name(precision) or _NONE
    return name


class _Checker:
    def __init__(self, model: Model, path: str | None, collect: bool, structure: bool):
        self.model = model
        self.path = path
        self.collect = collect
        self.structure = structure  # ports and attributes (validate reports them from the XML)
        self.problems: list[LayerError] = []

    def report(self, layer: Layer, what: str, expected: str | None = None, found: str | None = None) -> None:
        where = f"{self.path}:{layer.sourceline}" if self.path else f"line {layer.sourceline}"
        label = f"{layer.type}-{layer.version} layer '{layer.name}' (id {layer.id})"
        error = LayerError(f"{where}: {label}: {what}", layer=layer.name, layer_id=layer.id, line=layer.sourceline,
                           expected=expected, found=found)
        if not self.collect:
            raise error
        self.problems.append(error)

    # ------------------------------------------------------------------------------------------
    def run(self) -> None:
        model = self.model
        known: dict[tuple[int, int], T] = {}
        layers = model.layers
        # (a graph irtool's passes made: their own ops' ports are not the IR's)
        self.passes_made = {lid for lid, l in layers.items() if l.version.startswith("irtool")}
        position = {lid: i for i, lid in enumerate(layers)}
        # file order is nearly always topological (every edge forward); if not, sort
        if all(position[e.from_layer] < position[e.to_layer] for e in model._edges.values()):
            order = layers.values()
        else:
            order = model.topological_order()
        for layer in order:
            self.layer(layer, known)

    def layer(self, layer: Layer, known: dict) -> None:
        kind = layer.type
        lid = layer.id
        if kind == "Const" and layer.constant is not None and not layer.inputs and len(layer.outputs) == 1:
            # (the reader checked its attributes: they made the constant)
            port = layer.outputs[0]
            known[(lid, port.id)] = self.const(layer, port)
            return
        key = (kind, layer.version)
        spec = _SPECS.get(key, _UNSEEN)
        if spec is _UNSEEN:
            spec = _SPECS[key] = _spec(*key)
        ok = True
        if spec is not None and spec.absent is not None and self.structure:
            self.report(layer, f"{kind} is not an op of {layer.version} (OpenVINO's opsets have it in {spec.absent})",
                        spec.absent, layer.version)
            ok = False
        elif spec is not None and self.structure:
            ports = (len(layer.inputs), len(layer.outputs))
            attrs = tuple(layer.attrs.items())
            if (ports, attrs) not in spec.seen:
                ok = self.structure_ok(layer, spec)
                if ok:
                    spec.seen.add((ports, attrs))
        ins = []
        edges = self.model._edges
        for port in layer.inputs:
            edge = edges.get((lid, port.id))
            src = known.get((edge.from_layer, edge.from_port)) if edge is not None else None
            if src is not None and self.passes_made and edge.from_layer in self.passes_made:
                src = None
            if src is None:
                src = _UNKNOWN
            else:
                dims = port.dims
                shape = src.shape
                if dims and shape is not None and tuple(dims) != shape and not _agrees(shape, dims):
                    ok = self.edge_problem(layer, port, src, edge, "shape")
                precision = port.precision
                if precision and src.et is not None:
                    et = _TYPES.get(precision) or _type(precision)
                    if et is not _NONE and et != src.et:
                        ok = self.edge_problem(layer, port, src, edge, "precision")
            ins.append(src)
        if kind == "Parameter":
            outs = [self.parameter(layer)] if layer.outputs else []
        elif ok and spec is not None and spec.rule is not None:
            outs = self.infer(layer, spec, ins)
        else:
            outs = None
        for i, port in enumerate(layer.outputs):
            stated = port.dims
            t = outs[i] if outs is not None and i < len(outs) else None
            precision = port.precision
            stated_et = (_TYPES.get(precision) or _type(precision)) if precision else _NONE
            if stated_et is _NONE:
                stated_et = None
            if t is None or (t.shape is None and t.et is None):
                known[(lid, port.id)] = T(tuple(stated) if stated else None, stated_et)
                continue
            shape = t.shape
            if shape is not None and shape != tuple(stated):
                if not _agrees(shape, stated):
                    ins_text = ", ".join(fmt(x.shape) for x in ins)
                    self.report(layer, f"output port {port.id} has shape {fmt(tuple(stated))} in the IR, but "
                                f"OpenVINO's rules give {fmt(shape)} from "
                                f"{'its inputs ' + ins_text if ins else 'its attributes'}", fmt(shape),
                                fmt(tuple(stated)))
                    t = T(tuple(stated) if stated else None, t.et)  # go on from what the IR says
                elif -1 in shape:  # the IR may know more (OpenVINO's bounds): go on from that
                    t = T(tuple(s if d < 0 else d for d, s in zip(shape, stated)), t.et, t._value, t.const)
            if t.et is not None and stated_et is not None and t.et != stated_et:
                self.report(layer, f"output port {port.id} has precision {precision} in the IR, but the op "
                            f"makes {t.et} of its inputs", t.et, stated_et)
            known[(lid, port.id)] = t

    def edge_problem(self, layer: Layer, port, src: T, edge, what: str) -> bool:
        producer = self.model.layers[edge.from_layer]
        if what == "shape":
            self.report(layer, f"input port {port.id} has shape {fmt(tuple(port.dims))}, but '{producer.name}' (id "
                        f"{producer.id}) gives it {fmt(src.shape)}", fmt(src.shape), fmt(tuple(port.dims)))
        else:
            self.report(layer, f"input port {port.id} has precision {port.precision}, but '{producer.name}' "
                        f"(id {producer.id}) gives it {src.et}", src.et, type_name(port.precision))
        return False

    def infer(self, layer: Layer, spec: _Spec, ins: list[T]) -> list[T] | None:
        # A rule is a function of the op, its attributes, its output count and what is known of its
        # inputs (shape, type, small values): the same layer in another model, or again, is looked up
        key = None
        try:
            key = (spec, tuple(layer.attrs.items()), len(layer.outputs), tuple([_known_key(t) for t in ins]))
            found = _INFERRED.get(key)
        except TypeError:  # (an unhashable value)
            key = found = None
        if found is not None:
            return found
        try:
            outs = spec.rule(layer, ins)
            if key is not None and outs is not None:
                if len(_INFERRED) >= _INFERRED_MAX:
                    _INFERRED.clear()
                _INFERRED[key] = outs
            return outs
        except Refusal as why:
            self.report(layer, f"OpenVINO refuses it: {why}")
        except (IRFormatError, ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, OverflowError):
            if STRICT:
                raise
        return None

    # ------------------------------------------------------------------------------------------
    def structure_ok(self, layer: Layer, spec: _Spec) -> bool:
        ok = True
        n_in, n_out = len(layer.inputs), len(layer.outputs)
        if n_in < spec.low or (spec.high is not None and n_in > spec.high):
            takes = (f"{spec.low}" if spec.low == spec.high else f"{spec.low}..{spec.high}"
                     if spec.high is not None else f"{spec.low} or more")
            self.report(layer, f"has {n_in} input{'s' * (n_in != 1)}, {spec.label} takes {takes}", takes, str(n_in))
            ok = False
        if spec.outputs is not None and n_out != spec.outputs:
            self.report(layer, f"has {n_out} output port{'s' * (n_out != 1)}, {spec.label} has {spec.outputs}"
                        + (" (a Result ends the graph: nothing may read it)" if layer.type == "Result" else ""),
                        str(spec.outputs), str(n_out))
            ok = False
        attrs = layer.attrs
        for name in spec.required:
            if name not in attrs:
                self.report(layer, f"required attribute '{name}' is missing", name, "none")
                ok = False
        for name, text in attrs.items():
            s = spec.attrs.get(name)
            if s is None:
                continue
            why = _attr_error(s["kind"], tuple(s.get("values", ())), text)
            if why is not None:
                self.report(layer, f"attribute {name}=\"{text}\" {why}", s["kind"], text)
                ok = False
        return ok

    def parameter(self, layer: Layer) -> T:
        port = layer.outputs[0]
        et = _attr_type(layer.attrs.get("element_type"))
        stated_et = type_name(port.precision) if port.precision else None
        if et is not None and stated_et is not None and et != stated_et:
            self.report(layer, f"element_type {layer.attrs['element_type']} disagrees with its port's precision "
                        f"{port.precision}", et, stated_et)
        text = layer.attrs.get("shape")
        if text is None or text.strip() == "...":
            return T(tuple(port.dims) if port.dims else None, et or stated_et)
        shape = _shape_attr(text)
        if shape is not None and not _agrees(shape, port.dims):
            self.report(layer, f"shape=\"{text}\" disagrees with its port's dims {fmt(tuple(port.dims))}", fmt(shape),
                        fmt(tuple(port.dims)))
        return T(shape, et or stated_et)

    def const(self, layer: Layer, port) -> T:
        c = layer.constant
        shape = c.shape
        if tuple(port.dims) != shape:
            self.report(layer, f"shape=\"{layer.attrs.get('shape', '')}\" disagrees with its port's dims "
                        f"{fmt(tuple(port.dims))}", fmt(shape), fmt(tuple(port.dims)))
        et = c.element_type.name
        precision = port.precision
        if precision:
            stated = _TYPES.get(precision) or _type(precision)
            if stated is not _NONE and stated != et:
                self.report(layer, f"element_type {et} disagrees with its port's precision {precision}", et, stated)
        return T(shape, et, const=c)


_INFERRED: dict[tuple, list[T]] = {}  # what Checker.infer's rules gave, by layer and inputs
_INFERRED_MAX = 4096


def _known_key(t: T) -> tuple:
    """What a shape rule can read of ``t``: shape, element type and, for small tensors, the values."""
    if t._value is not None:
        v = t._value
        return (t.shape, t.et, v.dtype.str, v.shape, v.tobytes())
    c = t.const
    if c is None:
        return (t.shape, t.et)
    n = math.prod(c.shape)
    # (T.value does not read a larger one; rules read float values only of scalars and per-axis scales,
    # so weights need not be keyed by their bytes)
    if n > MAX_VALUE or (n > 64 and c.element_type.is_float):
        return (t.shape, t.et, "large")
    return (t.shape, t.et, c.element_type.name, bytes(c.raw))


def _attr_type(text: str | None) -> str | None:
    return type_name(text) if text else None


@functools.lru_cache(maxsize=1024)
def _shape_attr(text: str) -> tuple | None:
    try:
        return tuple(A.parse_shape(text))
    except IRFormatError:
        return None


def _agrees(inferred: tuple, stated: list[int]) -> bool:
    """Same rank, and every dim equal where both are static."""
    if len(inferred) != len(stated):
        return False
    for a, b in zip(inferred, stated):
        if a != b and a >= 0 and b >= 0:
            return False
    return True


def check_model(model: Model) -> None:
    """Raise :class:`~irtool.errors.LayerError` at the first layer that disagrees with its op."""
    _Checker(model, model.path, collect=False, structure=True).run()


def model_problems(model: Model, structure: bool = False) -> list[LayerError]:
    """Every problem of ``model`` and its sub-graphs (``structure``: port counts and attributes too,
    which :func:`irtool.ir.validate.validate` reports from the XML), in layer order."""
    found = []
    for graph in _graphs(model):
        checker = _Checker(graph, None, collect=True, structure=structure)
        checker.run()
        found += checker.problems
    return found


def _graphs(model: Model):
    yield model
    for layer in model.layers.values():
        for body in layer.bodies.values():
            yield from _graphs(body)


# Ops whose outputs' size depends on the values: the IR's static dims are an upper bound (NMS v1/v3's
# [boxes x classes, 3]) or a guess, not the size at run time.
_DATA_SIZED = frozenset({"NonMaxSuppression", "MulticlassNms", "MatrixNms", "NMSRotated", "NonZero", "Unique",
                         "CTCGreedyDecoderSeqLen", "GenerateProposals", "Proposal",
                         "ExperimentalDetectronGenerateProposalsSingleImage", "ExperimentalDetectronDetectionOutput"})


def output_shape_checker(model: Model, path: str | None = None):
    """An observer for the first inference of ``model`` (the graph the plan runs): a step output whose
    shape disagrees with the static dims its IR port states is a :class:`~irtool.errors.LayerError`
    (shapes known only at run time). Outputs nothing reads are not checked: kernels skip them (a
    MaxPool's indices)."""
    read = {(e.from_layer, e.from_port) for e in model._edges.values()}

    def observe(layer: Layer, index: int, value) -> None:
        if index >= len(layer.outputs) or (layer.id, layer.outputs[index].id) not in read or layer.type in _DATA_SIZED:
            return None
        dims = layer.outputs[index].dims
        if not dims:  # a scalar, or a dynamic rank
            return None
        shape = getattr(value, "shape", None)
        if shape is None or _agrees(tuple(shape), dims):
            return None
        where = f"{path}:{layer.sourceline}" if path else f"line {layer.sourceline}"
        raise LayerError(f"{where}: {layer.type} layer '{layer.name}' (id {layer.id}): output {index} came out "
                         f"{fmt(tuple(shape))} at run time, but the IR states {fmt(tuple(dims))}",
                         layer=layer.name, layer_id=layer.id, line=layer.sourceline, expected=fmt(tuple(dims)),
                         found=fmt(tuple(shape)))

    return observe
