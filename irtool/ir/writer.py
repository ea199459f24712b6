"""Writing a :class:`~irtool.ir.graph.Model` to .xml + .bin the way OpenVINO's serializer does.

Layout as ``ov::pass::Serialize`` (pugixml) writes it: tab indentation, ``<tag a="v" />`` for empty
elements, `<data>` then `<rt_info>` then `<input>`/`<output>` in a layer, edges sorted by from-layer,
model `<rt_info>` last. Constants go to the .bin back to back with no padding, identical blobs stored
once. Both files are written to temporaries and renamed into place, so a failed write leaves nothing
half-written and a model can be saved over the files it was read from.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

from irtool.errors import IrToolError
from irtool.ir import attrs as A
from irtool.ir.element_types import element_type
from irtool.ir.graph import Layer, Model, Port, XmlNode


def save_model(model: Model, path: str | Path) -> Path:
    """Write ``model`` to ``path`` (.xml) and its weights to the .bin beside it. Returns the .xml path."""
    path = Path(path)
    if path.suffix.lower() != ".xml":
        raise IrToolError(f"{path}: an IR is saved as .xml (+ .bin); give a path ending in .xml")
    bin_path = path.with_suffix(".bin")
    if not path.parent.is_dir():
        raise IrToolError(f"{path.parent}: output folder does not exist")
    with ExitStack() as stack:
        bin_tmp = stack.enter_context(_Temp(bin_path))
        offsets = _write_bin(model, bin_tmp.file)
        xml_tmp = stack.enter_context(_Temp(path))
        for chunk in _xml_lines(model, offsets):
            xml_tmp.file.write(chunk.encode("utf-8"))
        bin_tmp.commit()
        xml_tmp.commit()
    return path


def serialize(model: Model) -> tuple[bytes, bytes]:
    """The .xml and .bin bytes of ``model``, in memory."""
    import io
    buf = io.BytesIO()
    offsets = _write_bin(model, buf)
    return "".join(_xml_lines(model, offsets)).encode("utf-8"), buf.getvalue()


class _Temp:
    """A temporary file in the destination folder, renamed over the destination on commit."""

    def __init__(self, dest: Path):
        self.dest = dest
        fd, self.tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        self.file: BinaryIO = os.fdopen(fd, "wb")
        self.done = False

    def __enter__(self) -> _Temp:
        return self

    def commit(self) -> None:
        self.file.close()
        os.replace(self.tmp, self.dest)
        self.done = True

    def __exit__(self, *exc) -> None:
        if not self.done:
            self.file.close()
            os.unlink(self.tmp)


# ------------------------------------------------------------------------------------------- .bin
def _write_bin(model: Model, out: BinaryIO) -> dict[int, tuple[int, int]]:
    """Write every Const payload once; return ``layer id -> (offset, size)``."""
    seen: dict[tuple[int, bytes], int] = {}
    placed: dict[int, tuple[int, int]] = {}
    pos = 0
    for layer in model.layers.values():
        if layer.constant is None:
            continue
        raw = layer.constant.raw
        key = (len(raw), hashlib.blake2b(raw, digest_size=20).digest())
        if key not in seen:
            seen[key] = pos
            out.write(raw)
            pos += len(raw)
        placed[layer.id] = (seen[key], len(raw))
    return placed


# ------------------------------------------------------------------------------------------- .xml
_ATTR_ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_TEXT_ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _esc(text: str, table: dict[str, str]) -> str:
    if not any(c in text for c in table) and all(ord(c) >= 32 for c in text):
        return text
    return "".join(table.get(c) or (f"&#{ord(c)};" if ord(c) < 32 else c) for c in text)


def _open_tag(tag: str, attrs: dict[str, str], close: bool) -> str:
    parts = "".join(f' {k}="{_esc(str(v), _ATTR_ESC)}"' for k, v in attrs.items())
    return f"<{tag}{parts} />" if close else f"<{tag}{parts}>"


def _node_lines(node: XmlNode, depth: int) -> Iterator[str]:
    pad = "\t" * depth
    if not node.children and node.text is None:
        yield pad + _open_tag(node.tag, node.attrs, True) + "\n"
    elif not node.children:
        yield pad + _open_tag(node.tag, node.attrs, False) + _esc(node.text, _TEXT_ESC) + f"</{node.tag}>\n"
    else:
        yield pad + _open_tag(node.tag, node.attrs, False) + "\n"
        for c in node.children:
            yield from _node_lines(c, depth + 1)
        yield f"{pad}</{node.tag}>\n"


def _port_node(port: Port) -> XmlNode:
    attrs = {"id": str(port.id)}
    if port.precision is not None:
        attrs["precision"] = port.precision
    if port.names:
        attrs["names"] = A.join_names(port.names)
    attrs.update(port.extra)
    children = [XmlNode("dim", text=str(d)) for d in port.dims]
    if port.rt_info:
        children.append(XmlNode("rt_info", children=port.rt_info))
    return XmlNode("port", attrs, children)


def _constant_attrs(data: dict[str, str], layer: Layer, placed: tuple[int, int]) -> None:
    """Bring element_type/shape/offset/size in line with the payload; keep the file's spelling
    of element_type and shape where it still says the same thing."""
    c = layer.constant
    if "element_type" not in data or element_type(data["element_type"]) != c.element_type:
        data["element_type"] = c.element_type.name
    if "shape" not in data or tuple(A.parse_ints(data["shape"])) != c.shape:
        data["shape"] = A.format_ints(c.shape)
    data["offset"], data["size"] = str(placed[0]), str(placed[1])


def _layer_node(layer: Layer, offsets: dict[int, tuple[int, int]]) -> XmlNode:
    attrs = {"id": str(layer.id), "name": layer.name, "type": layer.type, "version": layer.version}
    attrs.update(layer.extra)
    children = []
    data = dict(layer.attrs)
    if layer.constant is not None:
        _constant_attrs(data, layer, offsets[layer.id])
    if data:
        children.append(XmlNode("data", data))
    if layer.rt_info:
        children.append(XmlNode("rt_info", children=layer.rt_info))
    if layer.inputs:
        children.append(XmlNode("input", children=[_port_node(p) for p in layer.inputs]))
    if layer.outputs:
        children.append(XmlNode("output", children=[_port_node(p) for p in layer.outputs]))
    return XmlNode("layer", attrs, children)


def _xml_lines(model: Model, offsets: dict[int, tuple[int, int]]) -> Iterator[str]:
    yield '<?xml version="1.0"?>\n'
    yield _open_tag("net", {"name": model.name, "version": str(model.version), **model.net_extra}, False) + "\n"
    yield "\t<layers>\n"
    for layer in model.layers.values():
        yield from _node_lines(_layer_node(layer, offsets), 2)
    yield "\t</layers>\n"
    edges = sorted(model.edges, key=lambda e: e.from_layer)  # stable: OpenVINO's order is kept
    yield "\t<edges>\n"
    for e in edges:
        attrs = {"from-layer": e.from_layer, "from-port": e.from_port, "to-layer": e.to_layer, "to-port": e.to_port}
        yield "\t\t" + _open_tag("edge", {k: str(v) for k, v in attrs.items()}, True) + "\n"
    yield "\t</edges>\n"
    for node in model.extras:  # rt_info, meta_data, quantization_parameters, statistics: as read
        yield from _node_lines(node, 1)
    yield "</net>\n"
