"""Writing a :class:`~irtool.ir.graph.Model` to .xml + .bin the way OpenVINO's serializer does.

Layout as ``ov::pass::Serialize`` (pugixml) writes it: tab indentation, ``<tag a="v" />`` for empty
elements, `<data>` then `<rt_info>` then `<input>`/`<output>` in a layer (a TensorIterator/Loop/If's port
maps and back edges before them, its sub-graphs after, nested the same way), edges sorted by from-layer,
model `<rt_info>` after the edges, a 2019 `<statistics>` block last. Constants go to the .bin back to
back with no padding, identical blobs stored once. Both files are written to temporaries and renamed
into place as a pair (:mod:`irtool.ir.pair`: a reader never takes a new .bin with an old .xml), so a
failed write leaves nothing half-written and a model can be saved over the files it was read from.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import numpy as np

from irtool.errors import IrToolError
from irtool.files import AtomicFile
from irtool.ir import attrs as A
from irtool.ir.element_types import element_type
from irtool.ir.graph import Layer, Model, Port, XmlNode
from irtool.ir.pair import commit_pair
from irtool.ir.statistics import statistics_node


def save_model(model: Model, path: str | Path) -> Path:
    """Write ``model`` to ``path`` (.xml) and its weights to the .bin beside it. Returns the .xml path."""
    path = Path(path)
    if path.suffix.lower() != ".xml":
        raise IrToolError(f"{path}: an IR is saved as .xml (+ .bin); give a path ending in .xml")
    bin_path = path.with_suffix(".bin")
    if not path.parent.is_dir():
        raise IrToolError(f"{path.parent}: output folder does not exist")
    with ExitStack() as stack:
        bin_tmp = stack.enter_context(AtomicFile(bin_path))
        offsets = _write_bin(model, bin_tmp.file)
        xml_tmp = stack.enter_context(AtomicFile(path))
        for chunk in _xml_lines(model, offsets):
            xml_tmp.file.write(chunk.encode("utf-8"))
        commit_pair(xml_tmp, bin_tmp)
    return path


def serialize(model: Model) -> tuple[bytes, bytes]:
    """The .xml and .bin bytes of ``model``, in memory."""
    import io
    buf = io.BytesIO()
    offsets = _write_bin(model, buf)
    return "".join(_xml_lines(model, offsets)).encode("utf-8"), buf.getvalue()


# ------------------------------------------------------------------------------------------- .bin
def _write_bin(model: Model, out: BinaryIO) -> dict[int, tuple[int, int]]:
    """Write every Const payload once; return ``id(layer) -> (offset, size)``. Sub-graph constants come
    right after their layer's predecessors, where OpenVINO writes them (it visits a body with its layer).

    Blobs are matched by length and a fingerprint of their ends, then compared in full: cheap for
    the common case of no duplicate, exact always.
    """
    seen: dict[tuple[int, bytes], list[tuple[int, np.ndarray]]] = {}
    placed: dict[int, tuple[int, int]] = {}
    pos = 0
    for layer in model.walk():
        if layer.constant is None:
            continue
        raw = layer.constant.raw
        blob = np.frombuffer(raw, dtype=np.uint8)
        key = (len(blob), hashlib.blake2b(blob[:4096].tobytes() + blob[-4096:].tobytes(), digest_size=16).digest())
        candidates = seen.setdefault(key, [])
        offset = next((off for off, other in candidates if np.array_equal(other, blob)), None)
        if offset is None:
            offset = pos
            candidates.append((offset, blob))
            out.write(raw)
            pos += len(blob)
        placed[id(layer)] = (offset, len(blob))
    return placed


# ------------------------------------------------------------------------------------------- .xml
_ATTR_SPECIAL = re.compile(r'[&<>"\x00-\x1f]')
_TEXT_SPECIAL = re.compile(r"[&<>\x00-\x1f]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def _escape(match: re.Match) -> str:
    c = match.group()
    return _ESCAPES.get(c) or f"&#{ord(c)};"


def _esc_attr(text: str) -> str:
    return _ATTR_SPECIAL.sub(_escape, text) if _ATTR_SPECIAL.search(text) else text


def _esc_text(text: str) -> str:
    return _TEXT_SPECIAL.sub(_escape, text) if _TEXT_SPECIAL.search(text) else text


def _open_tag(tag: str, attrs: dict[str, str], close: bool) -> str:
    parts = "".join([f' {k}="{_esc_attr(str(v))}"' for k, v in attrs.items()])
    return f"<{tag}{parts} />" if close else f"<{tag}{parts}>"


def _node_lines(node: XmlNode, depth: int) -> Iterator[str]:
    pad = "\t" * depth
    if not node.children and node.text is None:
        yield pad + _open_tag(node.tag, node.attrs, True) + "\n"
    elif not node.children:
        yield pad + _open_tag(node.tag, node.attrs, False) + _esc_text(node.text) + f"</{node.tag}>\n"
    else:
        yield pad + _open_tag(node.tag, node.attrs, False) + "\n"
        for c in node.children:
            yield from _node_lines(c, depth + 1)
        yield f"{pad}</{node.tag}>\n"


def _port_lines(port: Port, pad: str) -> Iterator[str]:
    attrs = {"id": str(port.id)}
    if port.precision is not None:
        attrs["precision"] = port.precision
    if port.names:
        attrs["names"] = A.join_names(port.names)
    attrs.update(port.extra)
    if not port.dims and not port.rt_info:
        yield pad + "\t\t\t\t" + _open_tag("port", attrs, True) + "\n"
        return
    yield pad + "\t\t\t\t" + _open_tag("port", attrs, False) + "\n"
    yield "".join([f"{pad}\t\t\t\t\t<dim>{d}</dim>\n" for d in port.dims])
    if port.rt_info:
        yield from _node_lines(XmlNode("rt_info", children=port.rt_info), 5 + len(pad))
    yield pad + "\t\t\t\t</port>\n"


def _constant_attrs(data: dict[str, str], layer: Layer, placed: tuple[int, int]) -> None:
    """Bring element_type/shape/offset/size in line with the payload; keep the file's spelling
    of element_type and shape where it still says the same thing."""
    c = layer.constant
    if "element_type" not in data or element_type(data["element_type"]) != c.element_type:
        data["element_type"] = c.element_type.name
    if "shape" not in data or tuple(A.parse_ints(data["shape"])) != c.shape:
        data["shape"] = A.format_ints(c.shape)
    data["offset"], data["size"] = str(placed[0]), str(placed[1])


def _layer_lines(layer: Layer, offsets: dict[int, tuple[int, int]], pad: str = "") -> Iterator[str]:
    """A `<layer>` as OpenVINO writes it: port maps and back edges (sub-graph ops), data, rt_info,
    input, output, sub-graphs (no XmlNode tree: speed). ``pad``: the tabs of a sub-graph's nesting."""
    attrs = {"id": str(layer.id), "name": layer.name, "type": layer.type, "version": layer.version, **layer.extra}
    data = dict(layer.attrs)
    if layer.constant is not None:
        _constant_attrs(data, layer, offsets[id(layer)])
    if not (data or layer.rt_info or layer.inputs or layer.outputs or layer.bodies or layer.port_maps):
        yield pad + "\t\t" + _open_tag("layer", attrs, True) + "\n"
        return
    yield pad + "\t\t" + _open_tag("layer", attrs, False) + "\n"
    for tag, entries in layer.port_maps.items():
        yield from _node_lines(XmlNode(tag, children=[XmlNode(e.kind, e.attrs) for e in entries]), 3 + len(pad))
    if layer.back_edges is not None:
        yield from _node_lines(XmlNode("back_edges", children=[XmlNode("edge", e.attrs) for e in layer.back_edges]),
                               3 + len(pad))
    if data:
        yield pad + "\t\t\t" + _open_tag("data", data, True) + "\n"
    if layer.rt_info:
        yield from _node_lines(XmlNode("rt_info", children=layer.rt_info), 3 + len(pad))
    for tag, ports in (("input", layer.inputs), ("output", layer.outputs)):
        if ports:
            yield f"{pad}\t\t\t<{tag}>\n"
            for port in ports:
                yield from _port_lines(port, pad)
            yield f"{pad}\t\t\t</{tag}>\n"
    for tag, body in layer.bodies.items():
        yield f"{pad}\t\t\t<{tag}>\n"
        yield from _graph_lines(body, offsets, pad + "\t\t\t")
        yield f"{pad}\t\t\t</{tag}>\n"
    yield pad + "\t\t</layer>\n"


def _graph_lines(model: Model, offsets: dict[int, tuple[int, int]], pad: str) -> Iterator[str]:
    """`<layers>`, `<edges>` and what follows them, of ``<net>`` (``pad`` "") or of a sub-graph."""
    yield pad + "\t<layers>\n"
    for layer in model.layers.values():
        yield from _layer_lines(layer, offsets, pad)
    yield pad + "\t</layers>\n"
    edges = sorted(model.edges, key=lambda e: e.from_layer)  # stable: OpenVINO's order is kept
    yield pad + "\t<edges>\n"
    yield "".join([f'{pad}\t\t<edge from-layer="{e.from_layer}" from-port="{e.from_port}" to-layer="{e.to_layer}" '
                   f'to-port="{e.to_port}" />\n' for e in edges])
    yield pad + "\t</edges>\n"
    for node in model.extras:  # rt_info, meta_data, quantization_parameters: as read
        yield from _node_lines(node, 1 + len(pad))


def _xml_lines(model: Model, offsets: dict[int, tuple[int, int]]) -> Iterator[str]:
    yield '<?xml version="1.0"?>\n'
    yield _open_tag("net", {"name": model.name, "version": str(model.version), **model.net_extra}, False) + "\n"
    yield from _graph_lines(model, offsets, "")
    if model.statistics is not None:  # last, where the 2019 Calibration Tool appended it
        yield from _node_lines(statistics_node(model.statistics), 1)
    yield "</net>\n"
