"""The 2019 calibrated-IR form -> the FakeQuantize form, so that the low-precision transformations
(:mod:`irtool.runtime.lpt`) run its I8 layers in INT8. ``compile_model`` applies it at load time,
unless asked for FP32.

The form (written by :func:`irtool.quantization.statistics_form.statistics_form`, or by the 2019
Calibration Tool): layers marked ``quantization_level="I8"`` in their `<data>` (``"FP32"``: kept in
FP32), FP32 weights, and ``Model.statistics``, the range of each layer's output per channel.
The 2019 MKLDNN plugin quantized the marked layers at load time (``cnn_network_int8_normalizer.cpp``);
this pass does what it did, in today's terms:

* activations: one FakeQuantize on each tensor an I8 layer reads, placed as the Default method places
  it (:func:`~irtool.quantization.markup.plan`: moved up through MaxPool/Reshape/..., one shared
  range over the inputs of a Concat). Per tensor: ``[min over channels, max over channels]`` of the
  producing layer's statistics; unsigned ``[0, max]`` in 256 levels when no channel goes negative,
  else symmetric with 127 at ``max(|min|, |max|)``: the plugin's scales ``max/255`` and ``max/127``.
  (Where only plain convolutions read a tensor, the plugin kept a scale per input channel; an INT8
  convolution here, as in OpenVINO's LPT, takes one activation scale.)
* weights: symmetric per output channel, 255 levels (-127..127, scale ``max|w| / 127``), as the
  plugin quantized them at load.
* an I8 layer that reads a tensor the statistics do not cover (no entry for its layer, or the
  second output of a layer: entries describe output 0) stays FP32, as in the plugin
  (``canLayerBeQuantized``).
"""
from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import replace

import numpy as np

from irtool.errors import UnsupportedError
from irtool.ir.graph import Input, Layer, LayerStats, Model, Output, Port
from irtool.passes.fold import fold
from irtool.quantization import params as P
from irtool.quantization.config import IgnoredScope
from irtool.quantization.markup import ActivationPoint, Plan, WeightPoint, is_quantizable, plan

LEVEL = "quantization_level"  # the `<data>` attribute of the 2019 form: I8 or FP32


def level_of(layer: Layer) -> str | None:
    """``"I8"``, ``"FP32"`` or None: the layer's 2019 mark (read case-insensitively)."""
    value = layer.attrs.get(LEVEL)
    return value.strip().upper() if value is not None else None


def expand_statistics(model: Model) -> Model:
    """A copy of ``model`` with FakeQuantize layers for its I8 layers (see the module docstring);
    ``model`` itself when it carries no statistics or marks no layer I8."""
    if model.statistics is None or not any(level_of(l) == "I8" for l in model):
        return model
    if any(l.type == "FakeQuantize" for l in model):
        raise UnsupportedError(f"model '{model.name}' has FakeQuantize layers and I8 marks with <statistics>: "
                               "two quantizations of one model; keep one of them")
    unmarked = sorted({l.name for l in model if is_quantizable(l) and level_of(l) != "I8"})
    the_plan = calibrated_plan(model, model.statistics, IgnoredScope(names=tuple(unmarked)), "cnn")
    out = model.copy()
    for point, fq in zip(the_plan.activations, activation_params(the_plan, model.statistics)):
        _insert_activation_fq(out, point, fq)
    for point in the_plan.weights:
        _insert_weight_fq(out, point)
    out.remove_dead()
    return out


def calibrated_plan(model: Model, available: Container[str], scope: IgnoredScope, kind: str) -> Plan:
    """:func:`plan` (no overflow fix, the scope not validated), with the ops that read a tensor
    without statistics left out. ``available``: the layer names that have statistics."""
    dropped: list[str] = []
    while True:
        names = tuple(dict.fromkeys((*scope.names, *dropped)))
        the_plan = plan(model, replace(scope, names=names, validate=False), kind, "none")
        missing = {op.name for p in the_plan.activations if not _covered(p.tensor, available)
                   for c in p.consumers for op in deciders(model, c)}
        if not missing:
            return the_plan
        if missing <= set(dropped):  # each round drops new ops, so the loop ends
            raise RuntimeError(f"ops {sorted(missing)} are ignored but still planned")
        dropped += sorted(missing - set(dropped))


def _covered(tensor: Output, available: Container[str]) -> bool:
    return tensor.index == 0 and tensor.layer.name in available


def deciders(model: Model, reader: Input) -> list[Layer]:
    """The ops whose quantization put a quantizer on ``reader``: the reader itself, or the ops after
    the data-movement ops and Concats that ``plan`` moved the quantizer above."""
    if is_quantizable(reader.layer):
        return [reader.layer]
    return [op for dst in model.consumers(reader.layer, 0) for op in deciders(model, dst)]


def planned_ops(model: Model, the_plan: Plan) -> list[Layer]:
    """The ops a plan quantizes (weighted ops, residual Adds, pooling...), in topological order."""
    ids = {w.op.id for w in the_plan.weights}
    ids |= {op.id for p in the_plan.activations for c in p.consumers for op in deciders(model, c)}
    return [l for l in model.topological_order() if l.id in ids]


# ------------------------------------------------------------------------------------------- ranges
def tensor_range(stats: LayerStats) -> tuple[float, float]:
    """Per channel -> per tensor: the lowest minimum and the highest maximum."""
    return float(np.min(stats.min)), float(np.max(stats.max))


def activation_params(the_plan: Plan, stats: Mapping[str, LayerStats]) -> list[P.FQParams]:
    """Symmetric 8-bit parameters per activation point; the points of a group share one range."""
    ranges = [tensor_range(stats[p.tensor.layer.name]) for p in the_plan.activations]
    union: dict[int, tuple[float, float]] = {}
    for p, (lo, hi) in zip(the_plan.activations, ranges):
        if p.group is not None:
            g = union.get(p.group, (lo, hi))
            union[p.group] = (min(g[0], lo), max(g[1], hi))
    ranges = [union[p.group] if p.group is not None else r for p, r in zip(the_plan.activations, ranges)]
    return [P.symmetric_activations(lo, hi) for lo, hi in ranges]


# ------------------------------------------------------------------------------------------- insertion
def _fq_layer(model: Model, name: str, src: Output, fq: P.FQParams, dims: list[int]) -> Layer:
    bounds = [model.add_constant(np.asarray(v, np.float32), f"{name}/{n}") for n, v in
              (("input_low", fq.input_low), ("input_high", fq.input_high),
               ("output_low", fq.output_low), ("output_high", fq.output_high))]
    return model.add_layer("FakeQuantize", name, inputs=[src, *bounds], outputs=[Port(0, "FP32", list(dims))],
                           attrs={"levels": str(fq.levels), "auto_broadcast": "numpy"})


def _insert_activation_fq(model: Model, point: ActivationPoint, fq: P.FQParams) -> None:
    """``tensor -> FQ -> the point's readers`` (other readers keep the FP32 tensor)."""
    src_layer = model.layers[point.tensor.layer.id]
    src = Output(src_layer, src_layer.port(point.tensor.port.id))
    layer = _fq_layer(model, point.name, src, fq, src.port.dims)
    for dst in point.consumers:
        op = model.layers[dst.layer.id]
        model.connect(Output(layer, layer.outputs[0]), Input(op, op.port(dst.port.id)))


def _insert_weight_fq(model: Model, point: WeightPoint) -> None:
    """The op's weights become ``Const(f32) -> FakeQuantize`` (symmetric, per output channel)."""
    op = model.layers[point.op.id]
    w = fold(model, model.producer(op, point.index)).astype(np.float32)
    reduce = tuple(i for i in range(w.ndim) if i not in point.channel_axes)
    fq = P.symmetric_weights(w.min(axis=reduce, keepdims=True), w.max(axis=reduce, keepdims=True))
    name = f"{op.name}/fq_weights_{point.index}"
    layer = _fq_layer(model, name, model.add_constant(w, f"{name}/weights"), fq, list(w.shape))
    model.connect(Output(layer, layer.outputs[0]), Input(op, op.inputs[point.index]))
