"""``irtool validate``: list every problem of an IR .xml/.bin pair, each with the .xml line it is on.

Checks, in order: well-formed XML without DOCTYPE, IR version 10/11, the skeleton (``schemas/ir.xsd``),
then per graph (the model and every TensorIterator/Loop/If body): unique layer and port ids, known op
types and versions with their ``<data>`` attributes (``schemas/ops.json``, generated from OpenVINO by
``tools/gen_ops_schema.py``), port counts and precisions, edges, every input fed exactly once, no cycle,
and each Const inside the .bin and large enough for its shape; a 2019 `<statistics>` block as the
reader checks it (:mod:`irtool.ir.statistics`).

Severity follows what OpenVINO's reader does: "error" where it refuses the file or where the file says
something it does not mean (an attribute OpenVINO ignores), "warning" where real files legitimately
differ (old port numbering, custom ops).
"""
from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from irtool.errors import IRFormatError, IrToolError
from irtool.ir.attrs import parse_bool, parse_floats, parse_ints
from irtool.ir.element_types import element_type
from irtool.ir.statistics import channels_of, read_statistics
from irtool.ir.xmlparse import parse_xml

__all__ = ["SUPPORTED_VERSIONS", "Problem", "validate"]

SUPPORTED_VERSIONS = ("10", "11")
_SUBGRAPHS = ("body", "then_body", "else_body")
_EDGE_ATTRS = ("from-layer", "from-port", "to-layer", "to-port")


@dataclass(frozen=True)
class Problem:
    """One finding: the .xml line (0 when there is none), what is wrong, and how bad it is."""

    line: int
    message: str
    severity: str  # "error" | "warning"


def validate(xml_path: str | Path) -> list[Problem]:
    """Check the IR at ``xml_path`` (and the .bin beside it); return all problems sorted by line.

    Never raises for a bad file: a file that cannot be parsed gives a single problem.
    """
    path = Path(xml_path)
    try:
        tree = parse_xml(path)
    except IRFormatError as e:
        return [_parse_problem(path, e)]
    version_problem = _check_version(tree.getroot())
    if version_problem is not None:  # an old IR is refused outright, not half-read
        return [version_problem]
    ctx = _Context(path.with_suffix(".bin"))
    problems = (_check_schema(tree) + _check_graph(tree.getroot(), ctx) + _check_statistics(tree.getroot())
                + ctx.unknown_op_warnings())
    if not any(p.severity == "error" for p in problems):
        problems += _check_pass(path)
    return sorted(problems, key=lambda p: p.line)


def _check_pass(path: Path) -> list[Problem]:
    """What compile_model's check pass finds (:func:`irtool.ir.checks.model_problems`: types and shapes
    by OpenVINO's rules, Const and Parameter shapes against their ports), on a file the checks above
    passed: the reader then refuses nothing they did not report first, but say so if it does."""
    from irtool.ir.checks import model_problems
    from irtool.ir.reader import read_model

    try:
        model = read_model(path)
    except IrToolError as e:
        return [_parse_problem(path, e)]
    found = []
    for e in model_problems(model):
        message = str(e)
        prefix = f"line {e.line}: "
        found.append(Problem(e.line or 0, message[len(prefix):] if message.startswith(prefix) else message, "error"))
    return found


# ---------------------------------------------------------------------------------------------
# Schemas: irtool/schemas when installed as package data, else the repository's schemas/.

def _schema_dir() -> Path:
    here = Path(__file__).resolve()
    for folder in (here.parents[1] / "schemas", here.parents[2] / "schemas"):
        if (folder / "ops.json").is_file() and (folder / "ir.xsd").is_file():
            return folder
    raise FileNotFoundError(f"irtool's schemas (ir.xsd, ops.json) are missing from {here.parents[1]}")


@functools.cache
def _xsd() -> etree.XMLSchema:
    return etree.XMLSchema(parse_xml(_schema_dir() / "ir.xsd"))


@dataclass(frozen=True)
class _OpTable:
    ops: dict[str, dict[str, dict]]  # XML type -> version id -> {attrs, inputs, outputs, opsets}
    aliases: dict[str, str]  # lower-case type -> XML type

    def canonical(self, type_name: str) -> str | None:
        """OpenVINO's reader matches types case-insensitively, and Constant is Const's own name."""
        if type_name in ("Const", "Constant"):
            return "Const"
        return None if type_name.lower() == "const" else self.aliases.get(type_name.lower())

    def find(self, type_name: str, version: str) -> dict | None:
        """The op version that opset ``version`` holds (Add in opset8 is Add-1), or None."""
        match = re.fullmatch(r"opset(\d+)", version)
        xml_type = self.canonical(type_name)
        if match is None or xml_type is None:
            return None
        number = int(match.group(1))
        return next((e for e in self.ops[xml_type].values() if number in e["opsets"]), None)


@functools.cache
def _op_table() -> _OpTable:
    doc = json.loads((_schema_dir() / "ops.json").read_text(encoding="utf-8"))
    aliases = {t.lower(): t for t in doc["ops"]}
    aliases.update({ov_name.lower(): xml for ov_name, xml in doc["renames"].items()})
    return _OpTable(doc["ops"], aliases)


# ---------------------------------------------------------------------------------------------
# File-level checks.

def _parse_problem(path: Path, err: IRFormatError) -> Problem:
    # parse_xml writes "<path>:<line>: <what>"; a missing or unreadable file has no line.
    text = str(err)
    match = re.match(r"(\d+): (.*)", text[len(str(path)) + 1:], re.S) if text.startswith(f"{path}:") else None
    return Problem(int(match.group(1)), match.group(2), "error") if match else Problem(0, text, "error")


def _check_version(root: etree._Element) -> Problem | None:
    if root.tag != "net":
        return Problem(root.sourceline or 1, f"the root element is <{root.tag}>, an IR starts with <net>", "error")
    version = root.get("version")
    if version is None or version.strip() in SUPPORTED_VERSIONS:
        return None  # a missing version is the schema's to report
    return Problem(root.sourceline or 1, f"IR version {version} is not supported: irtool reads IR v10 and v11 "
                   "(OpenVINO 2020.1 and later); convert the model again with a current OpenVINO", "error")


def _check_statistics(root: etree._Element) -> list[Problem]:
    """The 2019 `<statistics>` block: numbers, and one per channel of the layer it names."""
    channels: dict[str, int | None] = {}
    for layer in root.iterfind("layers/layer"):
        port = layer.find("output/port")
        dims = [_int(d.text) for d in port.iterfind("dim")] if port is not None else []
        channels.setdefault(layer.get("name", ""), channels_of([-1 if d is None else d for d in dims]))
    problems = []
    for block in root.iterchildren("statistics"):
        problems += [Problem(line, message, "error") for line, message in read_statistics(block, channels)[1]]
    return problems


def _check_schema(tree: etree._ElementTree) -> list[Problem]:
    schema = _xsd()
    if schema.validate(tree):
        return []
    return [Problem(e.line, f"schema: {e.message}", "error") for e in schema.error_log]


@dataclass
class _Context:
    """What the graphs of one file share: the .bin, and the unknown ops seen so far."""

    bin_path: Path
    bin_reported: bool = False
    unknown: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    @functools.cached_property
    def bin_size(self) -> int | None:
        return self.bin_path.stat().st_size if self.bin_path.is_file() else None

    def unknown_op_warnings(self) -> list[Problem]:
        # one warning per op type/version, at its first layer: a custom op is usually used many times
        return [Problem(lines[0], f"unknown op {t} version '{v}' ({len(lines)} layer{'s' * (len(lines) > 1)}): "
                        f"{_why_unknown(t, v)}; its attributes and ports are not checked", "warning")
                for (t, v), lines in self.unknown.items()]


def _why_unknown(type_name: str, version: str) -> str:
    table = _op_table()
    xml_type = table.canonical(type_name)
    if xml_type is None:
        return "not in any OpenVINO opset (a custom op needs its extension to load)"
    opsets = sorted({n for e in table.ops[xml_type].values() for n in e["opsets"]})
    return f"{xml_type} exists in opset{opsets[0]}..opset{opsets[-1]} ({_ranges(opsets)}), not in '{version}'"


def _ranges(numbers: list[int]) -> str:
    groups: list[list[int]] = []
    for n in numbers:
        if groups and n == groups[-1][-1] + 1:
            groups[-1].append(n)
        else:
            groups.append([n])
    return ", ".join(f"{g[0]}-{g[-1]}" if len(g) > 1 else str(g[0]) for g in groups)


# ---------------------------------------------------------------------------------------------
# One graph: the model, or the body of a TensorIterator/Loop/If (its own id space, same .bin).

@dataclass
class _Layer:
    el: etree._Element
    id: int
    inputs: dict[int, etree._Element]
    outputs: dict[int, etree._Element]

    @property
    def label(self) -> str:
        return f"{self.el.get('type')} layer '{self.el.get('name')}' (id {self.id})"


def _check_graph(graph: etree._Element, ctx: _Context) -> list[Problem]:
    layers, problems = _index_layers(graph.findall("layers/layer"))
    for layer in layers.values():
        problems += _check_ports(layer) + _check_op(layer, ctx)
        if _op_table().canonical(layer.el.get("type", "")) == "Const":
            problems += _check_const(layer, ctx)
    links, edge_problems = _check_edges(graph.findall("edges/edge"), layers)
    problems += edge_problems + _check_cycle(links, layers)
    for layer in layers.values():
        for sub in (layer.el.find(tag) for tag in _SUBGRAPHS):
            problems += _check_graph(sub, ctx) if sub is not None else []
    return problems


def _int(text: str | None) -> int | None:
    """An id or number attribute; None when absent or not an integer (the schema reports it)."""
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _index_layers(elements: Iterable[etree._Element]) -> tuple[dict[int, _Layer], list[Problem]]:
    layers: dict[int, _Layer] = {}
    problems = []
    for el in elements:
        lid = _int(el.get("id"))
        if lid is None:
            continue
        if lid in layers:
            first = layers[lid].el
            problems.append(Problem(el.sourceline, f"layer id {lid} of '{el.get('name')}' is already used by "
                                    f"'{first.get('name')}' at line {first.sourceline}", "error"))
            continue
        layers[lid] = _Layer(el, lid, _ports_by_id(el, "input"), _ports_by_id(el, "output"))
    return layers, problems


def _ports_by_id(layer: etree._Element, side: str) -> dict[int, etree._Element]:
    ports: dict[int, etree._Element] = {}
    for port in layer.findall(f"{side}/port"):
        pid = _int(port.get("id"))
        if pid is not None:
            ports.setdefault(pid, port)
    return ports


def _check_ports(layer: _Layer) -> list[Problem]:
    ports = layer.el.findall("input/port") + layer.el.findall("output/port")
    ids = [_int(p.get("id")) for p in ports]
    problems = [Problem(p.sourceline, f"{layer.label}: port id {i} is used twice", "error")
                for n, (p, i) in enumerate(zip(ports, ids)) if i is not None and i in ids[:n]]
    if not problems and None not in ids and not _numbered_from_zero(ids):
        # OpenVINO maps port ids to positions, so old files with other numbering still load
        problems.append(Problem(layer.el.sourceline, f"{layer.label}: ports are numbered {ids}; OpenVINO numbers "
                                f"inputs then outputs {list(range(len(ids)))}", "warning"))
    for port in ports:
        precision = port.get("precision")
        if precision is not None and _element_type_error(precision):
            problems.append(Problem(port.sourceline, f"{layer.label}: port {port.get('id')}: unknown precision "
                                    f"'{precision}'", "error"))
    return problems


def _numbered_from_zero(ids: list[int]) -> bool:
    """Inputs then outputs counted from 0. Gaps are fine: OpenVINO's serializer leaves one where it
    omits an input (LSTMCell-1 on 6 inputs writes ports 0..5, then outputs 7, 8)."""
    return not ids or (ids[0] == 0 and all(a < b for a, b in zip(ids, ids[1:])))


def _element_type_error(name: str) -> bool:
    try:
        element_type(name)
    except IRFormatError:
        return True
    return False


# ---------------------------------------------------------------------------------------------
# The op: type/version, <data> attributes, port counts.

def _check_op(layer: _Layer, ctx: _Context) -> list[Problem]:
    type_name, version = layer.el.get("type", ""), layer.el.get("version", "")
    entry = _op_table().find(type_name, version)
    if entry is None:
        ctx.unknown.setdefault((type_name, version), []).append(layer.el.sourceline)
        return []
    label = f"{type_name}-{version} layer '{layer.el.get('name')}' (id {layer.id})"
    return _check_attrs(layer.el, entry["attrs"], label) + _check_port_counts(layer, entry, label)


# Attributes any op may carry: the 2019 Calibration Tool's mark of a calibrated (I8) or reverted (FP32)
# layer. OpenVINO's reader skips it; irtool's plugin reads it with the <statistics> block.
_ANY_OP_ATTRS = {"quantization_level": {"kind": "enum", "values": ["fp32", "i8"]}}


def _check_attrs(el: etree._Element, specs: dict[str, dict], label: str) -> list[Problem]:
    data = el.find("data")
    given = dict(data.attrib) if data is not None else {}
    line = data.sourceline if data is not None else el.sourceline
    problems = []
    for name, value in given.items():
        spec = specs.get(name) or _ANY_OP_ATTRS.get(name)
        if spec is None:
            known = ", ".join(sorted(specs)) or "none"
            problems.append(Problem(line, f"{label}: unknown attribute '{name}' (known: {known})", "error"))
        elif (why := _value_error(value, spec)) is not None:
            problems.append(Problem(line, f"{label}: attribute {name}=\"{value}\" {why}", "error"))
    problems += [Problem(line, f"{label}: required attribute '{name}' is missing", "error")
                 for name, spec in specs.items() if spec.get("required") and name not in given]
    return problems


_DIM = re.compile(r"\?|-1|\d+|\d*\.\.\d*")  # 4, ? or -1 (dynamic), 1..10 (an interval)


def _parse_shape(text: str) -> None:
    if text.strip() in ("", "..."):  # a scalar; a dynamic rank
        return
    if not all(_DIM.fullmatch(d.strip()) for d in text.split(",")):
        raise ValueError(text)


def _parse_element_type(text: str) -> None:
    element_type(text)


_PARSERS = {
    "int": int, "float": float, "bool": parse_bool, "int_list": parse_ints, "float_list": parse_floats,
    "shape": _parse_shape, "element_type": _parse_element_type, "str": str, "str_list": str,
}
_EXPECTED = {
    "int": "an integer", "float": "a number", "bool": "a boolean (true/false)",
    "int_list": "a list of integers", "float_list": "a list of numbers", "shape": "a shape (e.g. 1,?,224,224)",
    "element_type": "a known element type (f32, i8, ...)",
}


def _value_error(value: str, spec: dict) -> str | None:
    """Why ``value`` is not of the attribute's kind, or None when it is."""
    if spec["kind"] == "enum":
        allowed = spec["values"]
        return None if value.strip().lower() in allowed else f"is not one of: {', '.join(allowed)}"
    try:
        _PARSERS[spec["kind"]](value.strip())
    except (ValueError, IRFormatError):
        return f"is not {_EXPECTED[spec['kind']]}"
    return None


def _check_port_counts(layer: _Layer, entry: dict, label: str) -> list[Problem]:
    n_in, n_out = len(layer.el.findall("input/port")), len(layer.el.findall("output/port"))
    low, high = entry["inputs"]
    problems = []
    if n_in < low or (high is not None and n_in > high):
        takes = f"{low}" if low == high else f"{low}..{high}" if high is not None else f"{low} or more"
        problems.append(Problem(layer.el.sourceline, f"{label}: has {n_in} input ports, the op takes {takes}",
                                "error"))
    if entry["outputs"] is not None and n_out != entry["outputs"]:
        problems.append(Problem(layer.el.sourceline, f"{label}: has {n_out} output ports, the op has "
                                f"{entry['outputs']}", "error"))
    return problems


# ---------------------------------------------------------------------------------------------
# Constants and the .bin: the checks OpenVINO's reader makes.

def _check_const(layer: _Layer, ctx: _Context) -> list[Problem]:
    data = layer.el.find("data")
    if data is None:
        return []  # its required attributes are already reported missing
    if ctx.bin_size is None:
        if ctx.bin_reported:
            return []
        ctx.bin_reported = True  # once, at the first Const: every later one would say the same
        return [Problem(data.sourceline, f"{layer.label}: the weights file {ctx.bin_path.name} is missing "
                        "(expected beside the .xml, with the same name)", "error")]
    offset, size = _int(data.get("offset")), _int(data.get("size"))
    if offset is None or size is None:
        return []
    if offset < 0 or size < 0 or offset + size > ctx.bin_size:
        return [Problem(data.sourceline, f"{layer.label}: bytes {offset}..{offset + size} lie outside "
                        f"{ctx.bin_path.name} ({ctx.bin_size} bytes)", "error")]
    return _check_const_size(layer, data, size)


def _check_const_size(layer: _Layer, data: etree._Element, size: int) -> list[Problem]:
    shape = data.get("shape", "")
    if re.search(r"\?|\.\.", shape):
        return [Problem(data.sourceline, f"{layer.label}: a Const shape must be static, got '{shape}'", "error")]
    try:
        etype = element_type(data.get("element_type", ""))
        dims = parse_ints(shape)
    except IRFormatError:
        return []  # reported with the attributes
    if any(d < 0 for d in dims):
        return [Problem(data.sourceline, f"{layer.label}: a Const shape must be static, got '{shape}'", "error")]
    need = etype.nbytes(math.prod(dims))
    if etype.bits == 0 or size >= need:  # strings and dynamic types have no fixed size
        return []
    return [Problem(data.sourceline, f"{layer.label}: size {size} is too small for {etype.name} "
                    f"[{shape}]: needs {need} bytes", "error")]


# ---------------------------------------------------------------------------------------------
# Edges and the graph they make.

@dataclass(frozen=True)
class _Link:
    src: int
    dst: int
    line: int


def _check_edges(edges: list[etree._Element], layers: dict[int, _Layer]) -> tuple[list[_Link], list[Problem]]:
    fed: dict[tuple[int, int], etree._Element] = {}
    links, problems = [], []
    for edge in edges:
        src, src_port, dst, dst_port = (_int(edge.get(a)) for a in _EDGE_ATTRS)
        if None in (src, src_port, dst, dst_port):
            continue  # the schema reports it
        errors = [e for e in (_edge_end(layers, src, src_port, "output", "from"),
                              _edge_end(layers, dst, dst_port, "input", "to")) if e]
        problems += [Problem(edge.sourceline, e, "error") for e in errors]
        if errors:
            continue
        if (dst, dst_port) in fed:
            problems.append(Problem(edge.sourceline, f"input port {dst_port} of {layers[dst].label} is fed twice "
                                    f"(also by the edge at line {fed[dst, dst_port].sourceline})", "error"))
            continue
        fed[dst, dst_port] = edge
        links.append(_Link(src, dst, edge.sourceline))
    return links, problems + _unfed_inputs(layers, fed)


def _edge_end(layers: dict[int, _Layer], lid: int, pid: int, want: str, side: str) -> str | None:
    layer = layers.get(lid)
    if layer is None:
        return f"edge {side}-layer={lid}: there is no layer with id {lid}"
    if pid in (layer.outputs if want == "output" else layer.inputs):
        return None
    if pid in layer.inputs or pid in layer.outputs:
        return f"edge {side}-port={pid}: port {pid} of {layer.label} is not an {want} (edges go output -> input)"
    return f"edge {side}-port={pid}: {layer.label} has no port {pid}"


def _unfed_inputs(layers: dict[int, _Layer], fed: dict[tuple[int, int], etree._Element]) -> list[Problem]:
    return [Problem(port.sourceline, f"input port {pid} of {layer.label} is not connected", "error")
            for layer in layers.values() for pid, port in layer.inputs.items() if (layer.id, pid) not in fed]


def _check_cycle(links: list[_Link], layers: dict[int, _Layer]) -> list[Problem]:
    succ: dict[int, list[int]] = {}
    for link in links:
        succ.setdefault(link.src, []).append(link.dst)
    cycle = _find_cycle(succ, layers)
    if cycle is None:
        return []
    pairs = set(zip(cycle, cycle[1:]))
    line = min(link.line for link in links if (link.src, link.dst) in pairs)
    path = " -> ".join(layers[i].label for i in cycle)
    return [Problem(line, f"the graph has a cycle: {path}", "error")]


def _find_cycle(succ: dict[int, list[int]], nodes: Iterable[int]) -> list[int] | None:
    """A cycle as [a, b, ..., a], by iterative depth-first search (models have 10^4+ layers)."""
    state: dict[int, int] = {}  # 1 = on the current path, 2 = done
    for start in nodes:
        if start in state:
            continue
        path, stack = [start], [iter(succ.get(start, ()))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(succ.get(nxt, ())))
    return None
