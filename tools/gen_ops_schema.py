"""Generate ``schemas/ops.json``, irtool's table of known ops, from OpenVINO itself.

    .venv/bin/python tools/gen_ops_schema.py            # writes schemas/ops.json
    .venv/bin/python tools/gen_ops_schema.py --check    # exits 1 if the file is stale

What comes from OpenVINO (installed ``openvino`` package):
- the op type names: the ``create("Type", ...)`` calls in ``openvino/opsetN/ops.py``;
- which opsets hold which op version: ``NodeFactory("opsetN").create(type)`` succeeds or not, and
  ``node.get_type_info().version_id`` names the version (``opset1`` for Add even in opset16);
- the attribute names: ``node.get_attributes()`` of a default-built node, united with the ``<data>``
  attributes that ``openvino.save_model`` writes for that node (OpenVINO's own serializer);
- the attribute kinds: the Python type of the default value, then ``node.set_attribute`` probes
  (``[1.5]`` kept as 1.5 -> float list; a bogus string refused "is not a member of enum X" -> enum);
- the enum values: the words of ``ENUM_VOCABULARY`` that ``set_attribute`` accepts for that attribute;
- the input/output counts: building the node on 0..8 inputs of dynamic rank (a few element-type mixes)
  and keeping the counts OpenVINO's validation accepts, widened to the ``NodeInput`` parameters of the
  Python factory; output counts are the ``<output>`` ports OpenVINO's serializer writes;
- the XML type names (Constant -> Const, ...): the ``type`` OpenVINO's serializer writes.

What is hand-written here: the candidate enum words, which attributes are required (OpenVINO's IR reader
keeps the default for a missing attribute, so "required" means "no meaningful default"), and kind/port
hints where OpenVINO's Python API cannot be probed (noted at each table).

Some default-built nodes crash OpenVINO (ReadValue-6 dereferences a null variable), so the probing runs
in a child process that the parent restarts after the op that killed it.
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
from lxml import etree
from openvino._pyopenvino import NodeFactory

OUT = Path(__file__).resolve().parents[1] / "schemas" / "ops.json"
OV_DIR = Path(ov.__file__).parent
MAX_PROBE_INPUTS = 8  # an op that accepts this many dynamic inputs is treated as unbounded
KINDS = ["bool", "element_type", "enum", "float", "float_list", "int", "int_list", "shape", "str", "str_list"]

# Candidate enum words; OpenVINO's set_attribute decides which each enum attribute accepts.
ENUM_VOCABULARY = sorted(set("""
    explicit same_upper same_lower valid notset none numpy pdpd bidirectional
    floor ceil ceil_torch round_prefer_floor round_prefer_ceil simple
    nearest linear linear_onnx cubic bilinear_pillow bicubic_pillow bilinear bicubic
    sizes scales half_pixel pytorch_half_pixel asymmetric tf_half_pixel_for_nn align_corners
    half_pixel_for_nn blocks_first depth_first bilinear_deformable average avg max min
    xnor-popcount fico icof ifco ifoc iofc constant edge reflect symmetric forward reverse
    half_to_even half_away_from_zero
    add inside_sqrt outside_sqrt erf tanh corner center index value sum mean prod sub
    classid score gaussian zeros border reflection zero lowest ignore_negative normalize
    tensorflow pytorch
""".split()))

# Attributes without a meaningful default, per XML type (applied to every version that has them).
REQUIRED = {
    "Const": "element_type shape offset size", "Parameter": "element_type shape",
    "Convert": "destination_type", "FakeQuantize": "levels",
    "Convolution": "strides dilations pads_begin pads_end",
    "GroupConvolution": "strides dilations pads_begin pads_end",
    "ConvolutionBackpropData": "strides dilations pads_begin pads_end",
    "GroupConvolutionBackpropData": "strides dilations pads_begin pads_end",
    "BinaryConvolution": "strides dilations pads_begin pads_end mode pad_value",
    "DeformableConvolution": "strides dilations pads_begin pads_end",
    "MaxPool": "strides pads_begin pads_end kernel", "AvgPool": "strides pads_begin pads_end kernel",
    "Concat": "axis", "Split": "num_splits", "SoftMax": "axis", "LogSoftmax": "axis", "Clamp": "min max",
    "Elu": "alpha", "GatherElements": "axis", "Einsum": "equation", "TopK": "axis mode sort",
    "Interpolate": "mode shape_calculation_mode axes", "DepthToSpace": "block_size mode",
    "SpaceToDepth": "block_size mode", "ShuffleChannels": "group", "MVN": "eps", "NormalizeL2": "eps eps_mode",
    "BatchNormInference": "epsilon", "LRN": "alpha beta bias size", "GRN": "bias", "OneHot": "axis",
    "LSTMCell": "hidden_size", "LSTMSequence": "hidden_size direction", "GRUCell": "hidden_size",
    "GRUSequence": "hidden_size direction", "RNNCell": "hidden_size", "RNNSequence": "hidden_size direction",
    "ReadValue": "variable_id", "Assign": "variable_id", "StridedSlice": "begin_mask end_mask",
    "DetectionOutput": "num_classes keep_top_k", "PriorBox": "min_size", "PriorBoxClustered": "width height",
    "Proposal": "base_size pre_nms_topn post_nms_topn nms_thresh feat_stride min_size ratio scale",
    "ROIPooling": "pooled_h pooled_w spatial_scale", "RegionYolo": "coords classes num axis end_axis",
    "GroupNormalization": "num_groups epsilon",
}
# Kinds that set_attribute cannot probe ("No AttributeVisitor support ..."): PartialShape attributes.
KIND_HINTS = {("Parameter", "shape"): "shape", ("Const", "shape"): "shape", ("ReadValue", "variable_shape"): "shape"}
# Output counts that depend on an attribute or on the body (None = any number).
VARIADIC_OUTPUTS = {"Split", "VariadicSplit", "Loop", "TensorIterator", "If"}
# Ports of ops the probe cannot build bare or on dynamic inputs (the samples below check those they hold).
PORT_HINTS = {("ReadValue", "opset6"): ([0, 1], 1), ("Assign", "opset6"): ([1, 1], 1),
              ("Constant", "opset1"): ([0, 0], 1), ("Parameter", "opset1"): ([0, 0], 1),
              ("Loop", "opset5"): ([2, None], None), ("TensorIterator", "opset1"): ([0, None], None),
              ("If", "opset8"): ([1, None], None),
              # built bare (empty keep_top_k), OpenVINO crashes on 3 and 5 inputs, the counts it takes
              ("DetectionOutput", "opset1"): ([3, 5], 1), ("DetectionOutput", "opset8"): ([3, 5], 1),
              # v0's peepholes P: the Python factory has no such input, IRs of older exporters do
              ("LSTMCell", "opset1"): ([6, 7], 2)}


# ---------------------------------------------------------------------------------------------
# Child process: probe one op version at a time, one JSON line each.

# Input element types tried in turn: OpenVINO checks some inputs for an exact type (i64 axes...).
TYPE_PROFILES = [
    lambda i: ov.Type.dynamic,
    lambda i: ov.Type.f32 if i == 0 else ov.Type.i64,
    lambda i: ov.Type.f32,
    lambda i: ov.Type.i64,
    lambda i: ov.Type.f32 if i % 2 == 0 else ov.Type.i64,
]


def _inputs(count: int, profile: Any) -> list[ov.Output]:
    """``count`` Parameters of dynamic rank, typed by ``profile``."""
    return [ov.op.Parameter(profile(i), ov.PartialShape.dynamic()).output(0) for i in range(count)]


def _usable_attrs(factory: NodeFactory, type_name: str) -> dict:
    """Defaults that OpenVINO's own validation refuses (num_splits=0, output_type=dynamic) made usable."""
    out = {}
    for name, value in factory.create(type_name).get_attributes().items():
        if value == "dynamic":
            out[name] = "i64"
        elif type(value) is int and value == 0:
            out[name] = 1
    return out


def _set_error(factory: NodeFactory, type_name: str, attr: str, value: Any) -> str | None:
    """None if OpenVINO accepts ``value`` for ``attr``, else its message."""
    node = factory.create(type_name)
    try:
        node.set_attribute(attr, value)
    except Exception as e:  # noqa: BLE001 - pybind raises several types; the message is what matters
        return str(e)
    return None


def _list_kind(factory: NodeFactory, type_name: str, attr: str) -> str:
    node = factory.create(type_name)
    for probe, kind in (([1.5], "float_list"), ([1], "int_list"), (["a"], "str_list")):
        try:
            node.set_attribute(attr, probe)
        except Exception:  # noqa: BLE001
            continue
        if kind != "float_list" or node.get_attributes()[attr] == [1.5]:
            return kind
    return "unprobeable"


def _attr_spec(factory: NodeFactory, type_name: str, attr: str, value: Any) -> dict:
    if isinstance(value, bool):
        return {"kind": "bool"}
    if isinstance(value, int):
        return {"kind": "int"}
    if isinstance(value, float):
        return {"kind": "float"}
    if isinstance(value, list):
        return {"kind": _list_kind(factory, type_name, attr)}
    err = _set_error(factory, type_name, attr, "bogus_value")
    if err is None:
        return {"kind": "str"}
    if "enum element::Type_t" in err:
        return {"kind": "element_type"}
    if "is not a member of enum" in err:
        words = [w for w in ENUM_VOCABULARY if _set_error(factory, type_name, attr, w) is None]
        return {"kind": "enum", "values": sorted(set(words) | {str(value).lower()})}
    return {"kind": "unprobeable"}


def _serialized_layer(node: ov.Node, params: list[ov.Output]) -> dict | None:
    """The ``type``, ``<data>`` and port counts that openvino.save_model writes for ``node``."""
    model = ov.Model(list(node.outputs()), [p.get_node() for p in params])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ov.save_model(model, f"{tmp}/m.xml", compress_to_fp16=False)
            root = etree.parse(f"{tmp}/m.xml").getroot()
    except Exception:  # noqa: BLE001 - a few ops cannot be saved on dynamic inputs
        return None
    for layer in root.iterfind("layers/layer"):
        if layer.get("name") == node.get_friendly_name():
            data = layer.find("data")
            return {"type": layer.get("type"), "data": dict(data.attrib) if data is not None else {},
                    "inputs": len(layer.findall("input/port")), "outputs": len(layer.findall("output/port"))}
    return None


def _probe_attrs(type_name: str, opset: str) -> dict:
    factory = NodeFactory(opset)
    node = factory.create(type_name)
    return {"attrs": {k: _attr_spec(factory, type_name, k, v) for k, v in node.get_attributes().items()}}


def _probe_ports(type_name: str, opset: str, count: int) -> dict:
    """XML port counts and <data> of the op built on ``count`` inputs; {} if OpenVINO refuses all tries."""
    factory = NodeFactory(opset)
    for attrs in ({}, _usable_attrs(factory, type_name)):
        for profile in TYPE_PROFILES:
            params = _inputs(count, profile)
            try:
                node = factory.create(type_name, params, attrs)
            except Exception:  # noqa: BLE001 - OpenVINO refused this input count/type/attribute mix
                continue
            return _serialized_layer(node, params) or {}
    return {}


def _emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def _child(jobs: list[list]) -> None:
    """Run probe jobs in order; a crash loses only the job announced last."""
    for i, job in enumerate(jobs):
        _emit({"start": i})
        _emit(_probe_attrs(*job[1:]) if job[0] == "attrs" else _probe_ports(*job[1:]))


# ---------------------------------------------------------------------------------------------
# Parent process.

def _opset_numbers() -> list[int]:
    return sorted(int(p.name[5:]) for p in OV_DIR.glob("opset[0-9]*") if p.name[5:].isdigit())


def _candidate_types() -> set[str]:
    names = set()
    for path in OV_DIR.glob("opset*/ops.py"):
        names |= set(re.findall(r'create\(\s*"([A-Za-z0-9]+)"', path.read_text()))
    # Built directly by classes rather than the factory in the Python API.
    return names | {"Constant", "Parameter", "Result", "Loop", "TensorIterator", "If", "ReadValue", "Assign"}


def _membership(types: set[str], opsets: list[int]) -> dict[tuple[str, str], list[int]]:
    """(type, version_id) -> the opsets that hold that op version."""
    found: dict[tuple[str, str], list[int]] = {}
    for n in opsets:
        factory = NodeFactory(f"opset{n}")
        for name in sorted(types):
            try:
                found.setdefault((name, factory.create(name).get_type_info().version_id), []).append(n)
            except Exception as e:  # noqa: BLE001
                if "is_constant" in str(e):  # the factory knows Constant but refuses to build it bare
                    found.setdefault(("Constant", "opset1"), []).append(n)
    return found


def _run_jobs(jobs: list[list]) -> list[dict | None]:
    """Run probe jobs in child processes; a job that crashes OpenVINO gives None."""
    results: list[dict | None] = []
    while len(results) < len(jobs):
        rest = jobs[len(results):]
        proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(rest)],
                              capture_output=True, text=True, check=False)
        lines = [json.loads(line) for line in proc.stdout.splitlines()]
        started = sum("start" in m for m in lines)
        results += [m for m in lines if "start" not in m]
        if proc.returncode != 0:  # the last started job killed the child
            print(f"note: OpenVINO crashed on {rest[started - 1]}; going on after it", file=sys.stderr)
            results.append(None)
    return results


def _run_probes(keys: list[tuple[str, str]], first_opset: dict) -> dict[tuple[str, str], dict]:
    """(type, version) -> attrs, accepted input counts, output counts and serialized <data>."""
    keys = [k for k in keys if k[0] != "Constant"]  # the factory refuses to build Constant bare
    jobs = []
    for t, v in keys:
        opset = f"opset{first_opset[(t, v)]}"
        jobs += [["attrs", t, opset]] + [["ports", t, opset, n] for n in range(MAX_PROBE_INPUTS + 1)]
    found = iter(_run_jobs(jobs))
    results = {}
    for key in keys:
        attrs = next(found) or {"attrs": {}}
        ports = [p for p in (next(found) for _ in range(MAX_PROBE_INPUTS + 1)) if p]
        results[key] = {"attrs": attrs["attrs"], "inputs": [p["inputs"] for p in ports],
                        "outputs": {p["outputs"] for p in ports}, "xml": ports[0] if ports else None}
    return results


def _signature_ports() -> dict[str, tuple[int, int, bool]]:
    """Type -> (required, optional, variadic) NodeInput parameters of its Python factory function."""
    out: dict[str, tuple[int, int, bool]] = {}
    for path in sorted(OV_DIR.glob("opset*/ops.py")):
        source = path.read_text()
        for fn in ast.walk(ast.parse(source)):
            if not isinstance(fn, ast.FunctionDef):
                continue
            created = re.findall(r'create\(\s*"([A-Za-z0-9]+)"', ast.get_source_segment(source, fn) or "")
            if len(set(created)) != 1:
                continue
            ann = [ast.unparse(a.annotation) for a in fn.args.args if a.annotation is not None]
            req = sum(a in ("NodeInput", "Node") for a in ann)
            opt = sum(a == "Optional[NodeInput]" for a in ann)
            var = any(a.startswith("list[") and "Node" in a for a in ann)
            prev = out.get(created[0], (0, 0, False))
            out[created[0]] = (max(prev[0], req), max(prev[1], opt), prev[2] or var)
    return out


def _ports(key: tuple[str, str], probe: dict, sig: tuple[int, int, bool] | None) -> tuple[list, int | None]:
    """[min, max] inputs (max None = any) and the output count (None = depends on attributes)."""
    if key in PORT_HINTS:
        return PORT_HINTS[key]
    ok = sorted(probe["inputs"])
    variadic = sig is not None and sig[2]  # a list[NodeInput] parameter (Concat, Einsum)
    sig_max = None if sig is None or variadic else sig[0] + sig[1]
    low = ok[0] if ok else sig[0] if sig else 0
    # A probe that accepts MAX_PROBE_INPUTS is unbounded (unary ops ignore extra inputs); one that accepts
    # fewer can still be narrowed by default attributes, so the Python factory's inputs may widen it.
    bounds = [n for n in (ok[-1] if ok and ok[-1] < MAX_PROBE_INPUTS else None, sig_max) if n is not None]
    high = None if variadic or not bounds else max(bounds)
    outs = probe["outputs"]
    n_out = None if key[0] in VARIADIC_OUTPUTS or len(outs) != 1 else next(iter(outs))
    return [low, high], n_out


# ---------------------------------------------------------------------------------------------
# Samples: real models written by openvino.save_model, for what the factory cannot build bare.

def _samples() -> list[ov.Model]:
    import openvino.opset13 as o  # noqa: PLC0415 - only the generator needs the opset API

    x = o.parameter([1, 4, 8], np.float32, name="x")
    init = o.constant(np.zeros((1, 4, 8), np.float32))
    read = o.read_value(init, "var", np.float32, [1, 4, 8])
    add = o.add(x, read)
    assign = o.assign(add, "var")
    sm = o.softmax(o.relu(o.prelu(add, o.constant(np.float32(0.1)))), 1)
    return [ov.Model([o.result(sm)], [assign], [x])]


def _sample_layers() -> list[etree._Element]:
    layers = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, model in enumerate(_samples()):
            ov.save_model(model, f"{tmp}/s{i}.xml", compress_to_fp16=False)
            layers += etree.parse(f"{tmp}/s{i}.xml").getroot().findall("layers/layer")
    return layers


def _kind_of_value(text: str) -> str:
    """Kind of an attribute seen only in serialized XML, from its value."""
    types = {getattr(ov.Type, n).get_type_name() for n in dir(ov.Type) if isinstance(getattr(ov.Type, n), ov.Type)}
    if re.fullmatch(r"-?\d+", text):
        return "int"
    if re.fullmatch(r"-?\d+(, ?-?\d+)+", text):
        return "int_list"
    return "element_type" if text in types else "str"


def _merge_xml_attrs(entry: dict, data: dict[str, str], label: str) -> None:
    """Add attributes the serializer writes but get_attributes lacks; report the differences."""
    for name, value in sorted(data.items()):
        if name not in entry["attrs"]:
            entry["attrs"][name] = {"kind": _kind_of_value(value)}
            print(f"note: {label}: '{name}' only in serialized <data>", file=sys.stderr)
    for name in sorted(set(entry["attrs"]) - set(data)):
        print(f"note: {label}: '{name}' from get_attributes() is not serialized", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Assembly.

def build_table() -> dict:
    """The whole ops.json document."""
    opsets = _opset_numbers()
    members = _membership(_candidate_types(), opsets)
    first = {k: v[0] for k, v in members.items()}
    probes = _run_probes(sorted(members), first)
    sig = _signature_ports()
    renames = {"Constant": "Const"}  # not buildable by the factory; confirmed by the samples below
    ops: dict[str, dict] = {}
    for key in sorted(members):
        probe = probes.get(key, {"attrs": {}, "inputs": [], "outputs": set(), "xml": None})
        xml = probe["xml"] or {}
        if xml.get("type") and xml["type"] != key[0]:
            renames[key[0]] = xml["type"]
        entry = {"attrs": probe["attrs"], "opsets": members[key]}
        if xml.get("type"):
            _merge_xml_attrs(entry, xml["data"], f"{key[0]}-{key[1]}")
        entry["inputs"], entry["outputs"] = _ports(key, probe, sig.get(key[0]))
        ops.setdefault(key[0], {})[key[1]] = entry
    for layer in _sample_layers():
        vtype = next((t for t, x in renames.items() if x == layer.get("type")), layer.get("type"))
        entry = ops[vtype][layer.get("version")]
        data = layer.find("data")
        _merge_xml_attrs(entry, dict(data.attrib) if data is not None else {}, layer.get("type"))
        _check_sample_ports(layer, entry)
    table = {renames.get(t, t): versions for t, versions in ops.items()}
    _apply_hints(table)
    return {"generated_by": "tools/gen_ops_schema.py", "openvino": ov.get_version(), "kinds": KINDS,
            "renames": {k: v for k, v in sorted(renames.items())}, "ops": table}


def _check_sample_ports(layer: etree._Element, entry: dict) -> None:
    n_in = len(layer.findall("input/port"))
    low, high = entry["inputs"]
    if n_in < low or (high is not None and n_in > high):
        raise SystemExit(f"{layer.get('type')}: sample has {n_in} inputs, table says {entry['inputs']}")


def _apply_hints(table: dict) -> None:
    for type_name, names in REQUIRED.items():
        seen = False
        for entry in table.get(type_name, {}).values():
            for name in names.split():
                if name in entry["attrs"]:
                    entry["attrs"][name]["required"] = True
                    seen = True
        if names and not seen:
            raise SystemExit(f"REQUIRED names unknown attributes of {type_name}: {names}")
    for (type_name, attr), kind in KIND_HINTS.items():
        for entry in table[type_name].values():
            if attr in entry["attrs"]:
                entry["attrs"][attr]["kind"] = kind
    bad = [(t, v, a) for t, vs in table.items() for v, e in vs.items() for a, s in e["attrs"].items()
           if s["kind"] not in KINDS]
    if bad:
        raise SystemExit(f"attributes without a kind (add KIND_HINTS): {bad}")


# ---------------------------------------------------------------------------------------------
# Compact, deterministic JSON: one line per attribute, scalar lists inline.

def _dump(obj: Any, indent: int = 0) -> str:
    if isinstance(obj, dict) and obj and not _is_leaf(obj):
        pad = " " * (indent + 1)
        items = [f"{pad}{json.dumps(k)}: {_dump(obj[k], indent + 1)}" for k in sorted(obj)]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    return json.dumps(obj, sort_keys=True)


def _is_leaf(obj: dict) -> bool:
    """A dict of scalars and scalar lists (an attribute spec) goes on one line."""
    return all(not isinstance(v, dict) and not (isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v))
               for v in obj.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if schemas/ops.json is out of date")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    text = _dump(build_table()) + "\n"
    if args.check:
        sys.exit(0 if OUT.exists() and OUT.read_text() == text else 1)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
