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
from irtool.ir.graph import Input, Layer, LayerStats, Model, Output
from irtool.quantization import params as P
from irtool.quantization.config import IgnoredScope
from irtool.quantization.insert import insert_activation_fq, insert_weight_fq, shared_ranges
from irtool.quantization.markup import Plan, is_quantizable, plan

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
        insert_activation_fq(out, point, fq)
    for point in the_plan.weights:  # no overflow fix in the plan: 8-bit weights, as the 2019 plugin had
        insert_weight_fq(out, point)
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


# ------------------------------------------------------------------------------------------- ranges
def tensor_range(stats: LayerStats) -> tuple[float, float]:
    """Per channel -> per tensor: the lowest minimum and the highest maximum."""
    return float(np.min(stats.min)), float(np.max(stats.max))


def activation_params(the_plan: Plan, stats: Mapping[str, LayerStats]) -> list[P.FQParams]:
    """Symmetric 8-bit parameters per activation point; the points of a group share one range."""
    ranges = shared_ranges(the_plan.activations, [tensor_range(stats[p.tensor.layer.name]) for p in the_plan.activations])
    return [P.symmetric_activations(lo, hi) for lo, hi in ranges]
