"""Which tensors get a FakeQuantize: a pure analysis of the graph, returning a plan.

Rules (NNCF's CPU hardware config, simplified where irtool's runtime and OpenVINO agree):
* Convolution, GroupConvolution, (Group)ConvolutionBackpropData: activation input 0 per tensor,
  constant weights (input 1) per output channel;
* MatMul: a constant input 1 is weights (channel axis by ``transpose_b``), activation inputs per tensor
  (both, for attention's activation x activation MatMuls);
* ScaledDotProductAttention: query and key (NNCF's choice);
* CNNs only: both inputs of a residual Add (two non-constant inputs), the inputs of AvgPool,
  ReduceMean, MVN and Interpolate;
* only float tensors; one FakeQuantize per tensor, placed right after it when every consumer wants
  it quantized, else shared by the consumers that do; quantizers move up through data-movement ops
  and split over Concat inputs with one shared range (see ``_propagate``);
* the ignored scope (names, regexes, types) removes ops; a rule that matches nothing is an error.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from irtool.errors import InputError
from irtool.ir.graph import Input, Layer, Model, Output
from irtool.passes.fold import is_constant
from irtool.quantization.config import IgnoredScope

WEIGHTED = {"Convolution": 0, "GroupConvolution": None, "ConvolutionBackpropData": 1,
            "GroupConvolutionBackpropData": None, "MatMul": None}  # op -> weight output-channel axis
CNN_ONLY_INPUTS = {"AvgPool": (0,), "ReduceMean": (0,), "MVN": (0,), "Interpolate": (0,)}
FLOAT = {"FP32", "FP16", "BF16", "f32", "f16", "bf16"}
AGNOSTIC = {"MaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze"}  # move data, keep values


@dataclass
class WeightPoint:
    """Constant weights feeding ``op`` at input ``index``, quantized per output channel."""

    op: Layer
    index: int
    source: Output  # the constant tensor (possibly a small subgraph: Const -> Convert...)
    channel_axes: tuple[int, ...]  # axes of the weight tensor that keep their own range
    half_range: bool = False


@dataclass
class ActivationPoint:
    """One activation tensor and the op inputs that read it quantized."""

    tensor: Output
    consumers: list[Input]
    whole: bool  # every consumer is quantized: the FakeQuantize goes right after the tensor
    channel_axis: int | None  # channel axis as the first consumer sees it (for bias correction)
    group: int | None = None  # points of one group share one range (the inputs of a Concat)

    @property
    def name(self) -> str:
        if self.whole:
            return f"{self.tensor.layer.name}/fq_output_{self.tensor.index}"
        first = self.consumers[0]
        return f"{first.layer.name}/fq_input_{first.index}"


@dataclass
class Plan:
    activations: list[ActivationPoint] = field(default_factory=list)
    weights: list[WeightPoint] = field(default_factory=list)
    skipped: list[tuple[Layer, str]] = field(default_factory=list)  # (op, why it stays FP32)
    model_type: str = "cnn"
    ops: list[Layer] = field(default_factory=list)  # the ops that run INT8: a quantized input of their own

    @property
    def op_names(self) -> list[str]:
        return sorted({op.name for op in self.ops})


def is_transformer(model: Model) -> bool:
    """Obvious transformers: fused attention, or a SoftMax and a MatMul of two activations."""
    if any(l.type == "ScaledDotProductAttention" for l in model):
        return True
    if not any(l.type == "SoftMax" for l in model):
        return False
    const: dict = {}
    return any(l.type == "MatMul" and not any(is_constant(model, s, const) for s in model.input_values(l))
               for l in model)


def plan(model: Model, scope: IgnoredScope, model_type: str, overflow_fix: str) -> Plan:
    """Decide every quantization point of ``model``."""
    kind = ("transformer" if is_transformer(model) else "cnn") if model_type == "auto" else model_type
    result = Plan(model_type=kind)
    ignored = _ignored(model, scope)
    const: dict = {}
    wanted: dict[tuple[int, int], list[tuple[Input, int | None]]] = {}
    int8: dict[int, Layer] = {}
    for op in model.topological_order():
        ports = _quantizable_inputs(op, kind)
        if not ports:
            continue
        if op.id in ignored:
            result.skipped.append((op, f"ignored scope: {ignored[op.id]}"))
            continue
        if op.type == "Add" and any(is_constant(model, s, const) for s in model.input_values(op)):
            continue  # a bias: only residual Adds (two activations) run in INT8
        for i in ports:
            src = model.producer(op, i)
            if src.port.precision not in FLOAT:
                if op.type in WEIGHTED and i == 0:
                    result.skipped.append((op, f"input {i} is {src.port.precision}, not float"))
                continue
            if is_constant(model, src, const):
                axes = _weight_axes(op, i, len(src.port.dims))
                if axes is not None:
                    result.weights.append(WeightPoint(op, i, src, axes))
                    int8[op.id] = op
                continue
            wanted.setdefault((src.layer.id, src.port.id), []).append((Input(op, op.inputs[i]), _channel_axis(op, i)))
            int8[op.id] = op
    points = {}
    for (lid, pid), uses in wanted.items():
        tensor = Output(model.layers[lid], model.layers[lid].port(pid))
        points[(lid, pid)] = ActivationPoint(tensor, [u for u, _ in uses], False, uses[0][1])
    _propagate(model, points, const)
    for p in points.values():
        p.whole = len(p.consumers) == len(model.consumers(p.tensor))
    result.activations = list(points.values())
    result.ops = list(int8.values())
    _mark_half_range(model, result, overflow_fix)
    return result


def _propagate(model: Model, points: dict[tuple[int, int], ActivationPoint], const: dict) -> None:
    """Move quantizers up through ops that only move data, as NNCF's quantizer propagation does:
    ``op -> FQ -> conv`` becomes ``FQ -> op -> conv`` for MaxPool/Reshape/Transpose/(Un)Squeeze, so
    the op runs on INT8 too; a quantized Concat output becomes one FakeQuantize per Concat input,
    all in one group that shares a single range (INT8 concatenation needs one scale)."""
    groups = itertools.count()
    queue = list(points)
    while queue:
        key = queue.pop()
        p = points.get(key)
        if p is None or p.tensor.index != 0 or len(p.consumers) != len(model.consumers(p.tensor)):
            continue  # only a tensor quantized for all its readers can move
        src = p.tensor.layer
        if src.type in AGNOSTIC:
            ports = [0]
        elif src.type == "Concat":
            ports = list(range(len(src.inputs)))
        else:
            continue
        ups = [model.producer(src, i) for i in ports]
        if any(u.port.precision not in FLOAT or is_constant(model, u, const) for u in ups):
            continue
        del points[key]
        group = p.group if p.group is not None or src.type != "Concat" else next(groups)
        for i, up in zip(ports, ups):
            k = (up.layer.id, up.port.id)
            reader = Input(src, src.inputs[i])
            if k in points:
                points[k].consumers.append(reader)
                points[k].group = points[k].group if points[k].group is not None else group
            else:
                points[k] = ActivationPoint(up, [reader], False, p.channel_axis, group)
            queue.append(k)


def is_quantizable(op: Layer, kind: str = "cnn") -> bool:
    """Whether ``plan`` considers ``op`` at all (a bias Add is one; plan then leaves it FP32)."""
    return bool(_quantizable_inputs(op, kind))


def _quantizable_inputs(op: Layer, kind: str) -> tuple[int, ...]:
    if op.type in WEIGHTED:
        return (0, 1)
    if op.type == "ScaledDotProductAttention":
        return (0, 1)  # query and key, as NNCF quantizes fused attention
    if kind == "cnn":
        if op.type == "Add":
            return (0, 1)  # when both are activations (checked in plan)
        return CNN_ONLY_INPUTS.get(op.type, ())
    return ()


def _weight_axes(op: Layer, index: int, rank: int) -> tuple[int, ...] | None:
    """Axes of the weight tensor that keep their own range, or None when it is not weights."""
    if op.type == "Add":
        return None  # a constant addend (a bias) stays FP32
    if index == 0:
        return None  # constant activation inputs stay FP32
    if op.type == "Convolution":
        return (0,)
    if op.type == "ConvolutionBackpropData":
        return (1,)
    if op.type == "GroupConvolution":
        return (0, 1)
    if op.type == "GroupConvolutionBackpropData":
        return (0, 2)
    if op.type == "MatMul":
        if rank < 2:
            return ()
        return (rank - 2,) if op.attr_bool("transpose_b", False) else (rank - 1,)
    return None


def _channel_axis(op: Layer, index: int) -> int | None:
    """The axis of input ``index`` that the op reduces over (input channels / K), for bias correction."""
    if op.type == "MatMul":
        transposed = op.attr_bool("transpose_a" if index == 0 else "transpose_b", False)
        return (-2 if transposed else -1) if index == 0 else (-1 if transposed else -2)
    return 1


def _ignored(model: Model, scope: IgnoredScope) -> dict[int, str]:
    """Layer id -> the rule that ignores it; unmatched rules are an error when validating."""
    hits: dict[int, str] = {}
    unmatched = []
    for name in scope.names:
        found = [l for l in model if l.name == name]
        hits.update({l.id: f"name {name}" for l in found})
        unmatched += [f"name '{name}'"] if not found else []
    for pattern in scope.patterns:
        try:
            rx = re.compile(pattern)
        except re.error as e:
            raise InputError(f"--ignored-scope pattern '{pattern}' is not a valid regular expression: {e}") from None
        found = [l for l in model if rx.fullmatch(l.name)]
        hits.update({l.id: f"pattern {pattern}" for l in found})
        unmatched += [f"pattern '{pattern}'"] if not found else []
    for op_type in scope.types:
        found = [l for l in model if l.type == op_type]
        hits.update({l.id: f"type {op_type}" for l in found})
        unmatched += [f"type '{op_type}'"] if not found else []
    if unmatched and scope.validate:
        raise InputError(f"--ignored-scope: {', '.join(unmatched)} matches no layer of '{model.name}' "
                         "(check the spelling; names are layer names as in the .xml)")
    return hits


def _mark_half_range(model: Model, plan_: Plan, overflow_fix: str) -> None:
    """The overflow fix: 7-bit weights for every weighted op ("all") or only the first ones, those
    whose input comes from a model input through no other weighted op ("first_layer")."""
    if overflow_fix == "none":
        return
    for w in plan_.weights:
        w.half_range = overflow_fix == "all" or _is_first_layer(model, w.op)


def _is_first_layer(model: Model, op: Layer) -> bool:
    stack, seen = [model.producer(op, 0).layer], set()
    while stack:
        layer = stack.pop()
        if layer.id in seen:
            continue
        seen.add(layer.id)
        if layer.type == "Parameter":
            return True
        if layer.type in WEIGHTED:  # another weighted op comes first
            continue
        stack.extend(s.layer for s in model.input_values(layer))
    return False
