"""What a model is: inputs, outputs, op counts, weights, and whether (and by what) it is quantized.

``summarize(model)`` is what ``irtool info`` prints; it returns plain data so that scripts can use it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from irtool.ir import attrs as A
from irtool.ir.graph import Layer, Model, XmlNode

# Element types that, feeding a Convert, mean "quantized weights stored compressed".
LOW_PRECISION_WEIGHTS = {"i8", "u8", "i4", "u4", "nf4", "u1", "u2", "u3", "u6", "f8e4m3", "f8e5m2", "f4e2m1"}
_COMPRESSIBLE = LOW_PRECISION_WEIGHTS | {"f16", "bf16"}


@dataclass
class TensorInfo:
    name: str  # the layer name (Parameter/Result)
    tensor_names: list[str]
    shape: list[int | str]  # "?" for a dynamic dim
    element_type: str


@dataclass
class ModelInfo:
    name: str
    ir_version: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    layers: int
    ops: dict[str, int]  # "Type/opsetN" -> count
    weights_bytes: dict[str, int]  # element type -> bytes in the .bin
    fake_quantize: int
    compressed_weights: dict[str, int]  # element type -> number of Const -> Convert weights
    quantized: bool
    quantized_by: list[str]
    quantization_info: dict[str, str] = field(default_factory=dict)  # flattened rt_info of the tool

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(model: Model) -> ModelInfo:
    """Describe ``model`` (reads only constant headers, never decodes weights)."""
    fq = sum(1 for l in model if l.type == "FakeQuantize")
    compressed = _compressed_weights(model)
    low_precision = {k: v for k, v in compressed.items() if k in LOW_PRECISION_WEIGHTS}
    by, info = _quantized_by(model)
    return ModelInfo(
        name=model.name,
        ir_version=model.version,
        inputs=[_tensor(l, l.outputs[0]) for l in model.parameters],
        outputs=[_result_tensor(model, l) for l in model.results],
        layers=len(model),
        ops=dict(sorted(Counter(f"{l.type}/{l.version}" for l in model).items())),
        weights_bytes=_weights_bytes(model),
        fake_quantize=fq,
        compressed_weights=compressed,
        quantized=bool(fq or low_precision or by),
        quantized_by=by,
        quantization_info=info,
    )


def _tensor(layer: Layer, port) -> TensorInfo:
    shape = port.dims if port.dims or layer.type != "Parameter" else A.parse_shape(layer.attrs.get("shape", ""))
    et = layer.attrs.get("element_type") if layer.type == "Parameter" else port.element_type.name
    return TensorInfo(layer.name, list(port.names), ["?" if d < 0 else d for d in shape],
                      et or port.element_type.name)


def _result_tensor(model: Model, result: Layer) -> TensorInfo:
    src = model.producer(result, 0)
    info = _tensor(result, src.port)
    info.tensor_names = list(src.port.names)
    return info


def _weights_bytes(model: Model) -> dict[str, int]:
    sizes: Counter[str] = Counter()
    for l in model:
        if l.constant is not None:
            sizes[l.constant.element_type.name] += l.constant.nbytes
    return dict(sorted(sizes.items()))


def _compressed_weights(model: Model) -> dict[str, int]:
    """Const -> Convert(to float) pairs by the Const's element type (f16 included: FP16 compression)."""
    found: Counter[str] = Counter()
    for l in model:
        if l.constant is None or l.constant.element_type.name not in _COMPRESSIBLE:
            continue
        users = model.consumers(l)
        if users and all(u.layer.type == "Convert" for u in users):
            found[l.constant.element_type.name] += 1
    return dict(sorted(found.items()))


def _quantized_by(model: Model) -> tuple[list[str], dict[str, str]]:
    """Which tool left its mark: NNCF and irtool in rt_info, POT's `<quantization_parameters>`,
    the 2019 Calibration Tool's `<statistics>`."""
    tools: list[str] = []
    info: dict[str, str] = {}
    rt = model.rt_info
    for key, label in (("nncf", "NNCF"), ("irtool", "irtool")):
        node = rt.find(key) if rt is not None else None
        if node is not None and node.find("quantization") is not None:
            tools.append(label)
            info.update(_flatten(node.find("quantization"), f"{key}/quantization"))
    for node in model.extras:
        if node.tag == "quantization_parameters":
            tools.append("POT")
    if model.statistics is not None:
        tools.append(STATISTICS_FORM)
        info.update(_statistics_info(model))
    return tools, info


STATISTICS_FORM = "statistics (2019 form)"


def _statistics_info(model: Model) -> dict[str, str]:
    """How many layers the 2019 form marks I8 and FP32, and how many ranges it holds."""
    levels = Counter(l.attrs.get("quantization_level", "").strip().upper() for l in model)
    return {"statistics/layers": str(len(model.statistics)), "statistics/I8": str(levels["I8"]),
            "statistics/FP32": str(levels["FP32"])}


def _flatten(node: XmlNode, prefix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if "value" in node.attrs:
        out[prefix] = node.attrs["value"]
    for c in node.children:
        key = c.attrs.get("name", c.tag) if c.tag == "info" else c.tag
        out.update(_flatten(c, f"{prefix}/{key}"))
    return out
