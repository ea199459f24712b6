"""Reading an IR (.xml + .bin) into a :class:`~irtool.ir.graph.Model`.

Checks the reader makes, each a one-line :class:`IRFormatError`/:class:`UnsupportedError` naming the
file and line: IR version 10/11 only; ids unique; every edge joins an existing output port to an
existing input port, each input fed once; no cycles; Const ``offset + size`` inside the .bin and
``size`` enough for its shape and element type; a 2019 `<statistics>` block well-formed
(:mod:`irtool.ir.statistics`). TensorIterator/Loop/If sub-graphs are read as graphs of their own (the
same checks), their port maps and back edges naming ports of the layer and layers of the body.
"""
from __future__ import annotations

import math
import mmap
from pathlib import Path

from lxml import etree

from irtool.errors import IRFormatError, UnsupportedError
from irtool.ir import attrs as A
from irtool.ir.element_types import element_type
from irtool.ir.graph import (BackEdge, Constant, Edge, GraphError, Layer, LayerStats, Model, Port, PortMap,
                             XmlNode)
from irtool.ir.pair import check_pair
from irtool.ir.statistics import layer_channels, read_statistics
from irtool.ir.xmlparse import parse_xml

SUPPORTED_VERSIONS = (10, 11)
MAX_RANK = 64  # dims a shape may have: numpy's limit (NPY_MAXDIMS)
_LAYER_KEYS = ("id", "name", "type", "version")
_PORT_KEYS = ("id", "precision", "names")
_PORT_MAPS = ("port_map", "then_port_map", "else_port_map")  # TensorIterator/Loop; If
_BODIES = ("body", "then_body", "else_body")


def read_model(path: str | Path, bin_path: str | Path | None = None) -> Model:
    """Read an OpenVINO IR. Constants are memory-mapped from the .bin and decoded on first use."""
    path = Path(path)
    if path.suffix.lower() == ".bin":  # OpenVINO refuses it too: the graph is in the .xml
        raise IRFormatError(f"{path}: this is an IR's weights file; give the model's .xml "
                            f"({path.with_suffix('.xml')})")
    if not path.suffix and path.with_suffix(".xml").exists():  # `irtool info samples/digits_cnn`
        path = path.with_suffix(".xml")
    check_pair(path, Path(bin_path) if bin_path else path.with_suffix(".bin"))
    root = parse_xml(path).getroot()
    where = _Where(path)
    if root.tag != "net":
        raise IRFormatError(f"{where(root)}: root element is <{root.tag}>, expected <net>: not an OpenVINO IR")
    model = Model(root.get("name", "model"), _version(root, where))
    model.net_extra = {k: v for k, v in root.attrib.items() if k not in ("name", "version")}
    model.path = str(path)
    binary = _Bin(Path(bin_path) if bin_path else path.with_suffix(".bin"))
    _read_graph(root, model, where, binary)
    model.statistics = _statistics(root, model, where)
    return model


def _read_graph(root: etree._Element, model: Model, where: _Where, binary: _Bin) -> None:
    """`<layers>`, `<edges>` and what follows them, of ``<net>`` or of a sub-graph (``<body>``...)."""
    layers_el = root.find("layers")
    if layers_el is None:
        raise IRFormatError(f"{where(root)}: <{root.tag}> has no <layers>")
    for el in layers_el.iterchildren("layer"):
        layer = _read_layer(el, where, binary)
        if layer.id in model.layers:
            raise IRFormatError(f"{where(el)}: duplicate layer id {layer.id} ('{layer.name}' and "
                                f"'{model.layers[layer.id].name}')")
        model.layers[layer.id] = layer
    _read_edges(root.find("edges"), model, where)
    model.extras = [to_node(c) for c in root.iterchildren()
                    if isinstance(c.tag, str) and c.tag not in ("layers", "edges", "statistics")]
    try:
        model.topological_order()
    except GraphError as e:
        raise IRFormatError(f"{where.path}:{e.layer.sourceline}: {e}") from None


def _statistics(root: etree._Element, model: Model, where: _Where) -> dict[str, LayerStats] | None:
    """The 2019 `<statistics>` block as typed data (None when absent); see irtool.ir.statistics."""
    blocks = list(root.iterchildren("statistics"))
    if not blocks:
        return None
    if len(blocks) > 1:
        raise IRFormatError(f"{where(blocks[1])}: a second <statistics> block (the 2019 form has one)")
    stats, problems = read_statistics(blocks[0], layer_channels(list(model.layers.values())))
    if problems:
        line, message = problems[0]
        raise IRFormatError(f"{where.path}:{line}: {message}")
    return stats


class _Where:
    """Formats ``file:line`` for messages."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, el: etree._Element) -> str:
        return f"{self.path}:{el.sourceline}"


def _version(root: etree._Element, where: _Where) -> int:
    text = root.get("version")
    if text is None:
        raise IRFormatError(f"{where(root)}: <net> has no version attribute; irtool reads IR v10 and v11")
    try:
        version = int(text)
    except ValueError:
        raise IRFormatError(f"{where(root)}: IR version '{text}' is not a number") from None
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedError(f"{where(root)}: IR version {version} is not supported: irtool reads IR v10 and v11 "
                               "(convert the model again with OpenVINO 2022.1 or newer)")
    return version


def _int_attr(el: etree._Element, key: str, where: _Where) -> int:
    text = el.get(key)
    if text is None:
        raise IRFormatError(f"{where(el)}: <{el.tag}> has no '{key}' attribute")
    try:
        return int(text)
    except ValueError:
        raise IRFormatError(f"{where(el)}: <{el.tag}> {key}='{text}' is not an integer") from None


def _read_layer(el: etree._Element, where: _Where, binary: _Bin) -> Layer:
    for key in ("name", "type", "version"):
        if el.get(key) is None and key != "version":
            raise IRFormatError(f"{where(el)}: <layer> has no '{key}' attribute")
    layer = Layer(_int_attr(el, "id", where), el.get("name"), el.get("type"), el.get("version", ""),
                  sourceline=el.sourceline)
    layer.extra = {k: v for k, v in el.attrib.items() if k not in _LAYER_KEYS}
    for child in el.iterchildren():
        if child.tag == "data":
            layer.attrs = dict(child.attrib)
        elif child.tag == "rt_info":
            layer.rt_info = [to_node(c) for c in child.iterchildren() if isinstance(c.tag, str)]
        elif child.tag == "input":
            layer.inputs = [_read_port(p, where) for p in child.iterchildren("port")]
        elif child.tag == "output":
            layer.outputs = [_read_port(p, where) for p in child.iterchildren("port")]
        elif child.tag in _PORT_MAPS:
            layer.port_maps[child.tag] = [PortMap(c.tag, dict(c.attrib)) for c in child.iterchildren("input", "output")]
        elif child.tag == "back_edges":
            layer.back_edges = [BackEdge(dict(e.attrib)) for e in child.iterchildren("edge")]
        elif child.tag in _BODIES:
            layer.bodies[child.tag] = body = Model(child.tag)
            _read_graph(child, body, where, binary)
    ids = [p.id for p in (*layer.inputs, *layer.outputs)]
    if len(set(ids)) != len(ids):
        raise IRFormatError(f"{where(el)}: layer '{layer.name}' has two ports with the same id")
    if layer.type in ("Parameter", "Const") and len(layer.outputs) != 1:
        raise IRFormatError(f"{where(el)}: {layer.type} '{layer.name}' has {len(layer.outputs)} output ports; "
                            "it must have exactly one")
    if layer.type == "Parameter":
        _check_parameter_shape(layer, el, where)
    if layer.type == "Const":
        layer.constant = _read_constant(layer, el, where, binary)
    if layer.bodies:
        _check_port_maps(layer, el, where)
    return layer


_PORT_MAP_INTS = ("external_port_id", "internal_layer_id", "axis", "start", "end", "stride", "part_size")


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _check_port_maps(layer: Layer, el: etree._Element, where: _Where) -> None:
    """Each port map entry joins a port of ``layer`` (or none: -1) to a Parameter (input) or Result
    (output) of its body; each back edge a body Result to a body Parameter."""
    for tag, entries in layer.port_maps.items():
        body = layer.bodies.get(tag.replace("port_map", "body"))  # port_map: body, then_port_map: then_body
        if body is None:
            raise IRFormatError(f"{where(el)}: layer '{layer.name}' has a <{tag}> but no sub-graph for it")
        for entry in entries:
            want, ports = ("Parameter", layer.inputs) if entry.kind == "input" else ("Result", layer.outputs)
            bad = [k for k in _PORT_MAP_INTS if k in entry.attrs and not _is_int(entry.attrs[k])]
            if bad:
                raise IRFormatError(f"{where(el)}: layer '{layer.name}' <{tag}>: {bad[0]}='{entry.attrs[bad[0]]}' "
                                    "is not an integer")
            inner, outer = entry.internal_layer_id, entry.external_port_id
            if outer != -1 and not any(p.id == outer for p in ports):
                raise IRFormatError(f"{where(el)}: layer '{layer.name}' <{tag}> maps {entry.kind} port {outer}, "
                                    f"which the layer does not have")
            if inner not in body.layers or body.layers[inner].type != want:
                raise IRFormatError(f"{where(el)}: layer '{layer.name}' <{tag}> maps {entry.kind} port {outer} to "
                                    f"body layer {inner}, which is not a {want} of the body")
    for edge in layer.back_edges or ():
        body = layer.bodies.get("body")
        if not all(_is_int(edge.attrs.get(k, "")) for k in ("from-layer", "to-layer")):
            raise IRFormatError(f"{where(el)}: layer '{layer.name}': back edge {edge.attrs} needs integer "
                                "from-layer and to-layer")
        for lid, want in ((edge.from_layer, "Result"), (edge.to_layer, "Parameter")):
            if body is None or lid not in body.layers or body.layers[lid].type != want:
                raise IRFormatError(f"{where(el)}: layer '{layer.name}': back edge {edge.attrs}: body layer {lid} "
                                    f"is not a {want}")


def _read_port(el: etree._Element, where: _Where) -> Port:
    dims = []
    rt: list[XmlNode] = []
    for child in el.iterchildren():
        if child.tag == "dim":
            try:
                dims.append(int((child.text or "").strip()))
            except ValueError:
                raise IRFormatError(f"{where(child)}: <dim>{child.text}</dim> is not an integer") from None
            if dims[-1] < -1:
                raise IRFormatError(f"{where(child)}: <dim>{child.text}</dim> is not a dimension (a size, or -1 "
                                    "for a dynamic one)")
        elif child.tag == "rt_info":
            rt = [to_node(c) for c in child.iterchildren() if isinstance(c.tag, str)]
    precision = el.get("precision")
    if precision is not None:
        _checked_type(precision, el, where)
    names = A.split_names(el.get("names", ""))
    extra = {k: v for k, v in el.attrib.items() if k not in _PORT_KEYS}
    return Port(_int_attr(el, "id", where), precision, dims, names, rt, extra)


def _checked_type(name: str, el: etree._Element, where: _Where):
    try:
        return element_type(name)
    except IRFormatError as e:
        raise IRFormatError(f"{where(el)}: {e}") from None


def _check_parameter_shape(layer: Layer, el: etree._Element, where: _Where) -> None:
    text = layer.attrs.get("shape")
    if text is None:
        return
    try:
        dims = A.parse_shape(text)
    except IRFormatError as e:
        raise IRFormatError(f"{where(el)}: Parameter '{layer.name}' shape: {e}") from None
    if any(d < -1 for d in dims) or len(dims) > MAX_RANK:
        raise IRFormatError(f"{where(el)}: Parameter '{layer.name}' shape=\"{text}\" is not a shape (sizes, ? or -1 "
                            f"for dynamic dims, at most {MAX_RANK} of them)")


def _read_constant(layer: Layer, el: etree._Element, where: _Where, binary: _Bin) -> Constant:
    data = el.find("data")
    if data is None:
        raise IRFormatError(f"{where(el)}: Const '{layer.name}' has no <data>")
    etype = _checked_type(layer.attrs.get("element_type", ""), data, where)
    try:
        shape = tuple(A.parse_ints(layer.attrs.get("shape", "")))
    except IRFormatError as e:
        raise IRFormatError(f"{where(data)}: Const '{layer.name}' shape: {e}") from None
    if any(d < 0 for d in shape) or len(shape) > MAX_RANK:
        why = f"more than {MAX_RANK} dims" if len(shape) > MAX_RANK else "a negative (dynamic) dim"
        raise IRFormatError(f"{where(data)}: Const '{layer.name}' shape=\"{layer.attrs.get('shape')}\" has {why}: "
                            "a constant has a static shape")
    if etype.name in ("dynamic", "undefined"):
        raise IRFormatError(f"{where(data)}: Const '{layer.name}' element_type=\"{layer.attrs.get('element_type')}\" "
                            "is not a type a constant can have")
    offset, size = _int_attr(data, "offset", where), _int_attr(data, "size", where)
    need = etype.nbytes(math.prod(shape)) if etype.name != "string" else 4
    if offset < 0 or size < 0:
        raise IRFormatError(f"{where(data)}: Const '{layer.name}' has a negative offset or size")
    if size < need:
        raise IRFormatError(f"{where(data)}: Const '{layer.name}' size={size} is too small for {etype.name} "
                            f"{list(shape)} ({need} bytes needed)")
    raw = binary.slice(offset, size, f"{where(data)}: Const '{layer.name}'")
    return Constant(etype, shape, raw=raw)


class _Bin:
    """The .bin, memory-mapped once on first use."""

    def __init__(self, path: Path):
        self.path = path
        self._view: memoryview | None = None

    def slice(self, offset: int, size: int, who: str) -> memoryview:
        view = self._open(who)
        if offset + size > len(view):
            raise IRFormatError(f"{who}: offset {offset} + size {size} = {offset + size} is beyond the end of "
                                f"{self.path.name} ({len(view)} bytes): the .bin is truncated or belongs to another .xml")
        return view[offset: offset + size]

    def _open(self, who: str) -> memoryview:
        if self._view is None:
            try:
                with open(self.path, "rb") as f:
                    size = f.seek(0, 2)
                    # mmap cannot map an empty file; an empty .bin holds no bytes anyway
                    self._view = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b"")
            except FileNotFoundError:
                raise IRFormatError(f"{who} needs weights, but {self.path} does not exist "
                                    "(keep the .bin next to the .xml with the same name)") from None
        return self._view


def _read_edges(el: etree._Element | None, model: Model, where: _Where) -> None:
    if el is None:
        return
    for e in el.iterchildren("edge"):
        edge = Edge(*(_int_attr(e, k, where) for k in ("from-layer", "from-port", "to-layer", "to-port")))
        src, dst = model.layers.get(edge.from_layer), model.layers.get(edge.to_layer)
        for lid, layer in ((edge.from_layer, src), (edge.to_layer, dst)):
            if layer is None:
                raise IRFormatError(f"{where(e)}: edge refers to layer id {lid}, which does not exist")
        if not any(p.id == edge.from_port for p in src.outputs):
            raise IRFormatError(f"{where(e)}: edge from layer '{src.name}' port {edge.from_port}: "
                                f"no such output port")
        if not any(p.id == edge.to_port for p in dst.inputs):
            raise IRFormatError(f"{where(e)}: edge to layer '{dst.name}' port {edge.to_port}: no such input port")
        key = (edge.to_layer, edge.to_port)
        if key in model._edges:
            raise IRFormatError(f"{where(e)}: input port {edge.to_port} of layer '{dst.name}' is fed twice")
        model._edges[key] = edge
    for layer in model.layers.values():
        for p in layer.inputs:
            if (layer.id, p.id) not in model._edges:
                raise IRFormatError(f"{where.path}:{layer.sourceline}: input port {p.id} of layer "
                                    f"'{layer.name}' is not connected to anything")


def to_node(el: etree._Element) -> XmlNode:
    """Keep an XML element as a plain :class:`XmlNode` tree."""
    children = [to_node(c) for c in el.iterchildren() if isinstance(c.tag, str)]
    text = el.text.strip() if el.text and el.text.strip() else None
    return XmlNode(el.tag, dict(el.attrib), children, text)
