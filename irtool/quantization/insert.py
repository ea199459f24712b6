"""Putting FakeQuantize layers into a graph: the one place both quantized forms (the Default method's
and the 2019 form expanded at load time) build them."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from irtool.errors import InputError
from irtool.ir.graph import Input, Layer, Model, Output, Port
from irtool.passes.fold import fold
from irtool.quantization import params as P
from irtool.quantization.markup import ActivationPoint, WeightPoint


def fq_layer(model: Model, name: str, src: Output, fq: P.FQParams, dims: list[int]) -> Layer:
    """A FakeQuantize reading ``src``, its four bounds as f32 constants named after it."""
    bounds = [model.add_constant(np.asarray(v, np.float32), f"{name}/{n}") for n, v in
              (("input_low", fq.input_low), ("input_high", fq.input_high),
               ("output_low", fq.output_low), ("output_high", fq.output_high))]
    return model.add_layer("FakeQuantize", name, inputs=[src, *bounds], outputs=[Port(0, "FP32", list(dims))],
                           attrs={"levels": str(fq.levels), "auto_broadcast": "numpy"})


def insert_activation_fq(model: Model, point: ActivationPoint, fq: P.FQParams) -> None:
    """``tensor -> FQ -> the point's readers`` (other readers keep the FP32 tensor)."""
    src_layer = model.layers[point.tensor.layer.id]
    src = Output(src_layer, src_layer.port(point.tensor.port.id))
    layer = fq_layer(model, point.name, src, fq, src.port.dims)
    for dst in point.consumers:
        op = model.layers[dst.layer.id]
        model.connect(Output(layer, layer.outputs[0]), Input(op, op.port(dst.port.id)))


def _where(model: Model, layer: Layer) -> str:
    line = f"line {layer.sourceline}" if layer.sourceline else f"layer '{layer.name}'"
    return f"{model.path}:{layer.sourceline}" if model.path and layer.sourceline else line


def insert_weight_fq(model: Model, point: WeightPoint) -> tuple[np.ndarray, P.FQParams]:
    """The op's weights become ``Const(f32) -> FakeQuantize``, symmetric per output channel (7-bit when
    the point asks for half range); returns the FP32 weights and the quantizer's parameters."""
    op = model.layers[point.op.id]
    src = model.producer(op, point.index)
    w = fold(model, src).astype(np.float32)
    if not np.isfinite(w).all():  # their range, and so every INT8 code, would be NaN
        bad = int(np.count_nonzero(~np.isfinite(w)))
        raise InputError(f"{_where(model, src.layer)}: the weights '{src.layer.name}' of {op.type} '{op.name}' hold {bad} "
                         f"NaN/Inf value{'s' * (bad != 1)}: they cannot be quantized; fix the model, or keep the op "
                         f"FP32 (--ignored-scope name:{op.name})")
    reduce = tuple(i for i in range(w.ndim) if i not in point.channel_axes)
    fq = P.symmetric_weights(w.min(axis=reduce, keepdims=True), w.max(axis=reduce, keepdims=True), point.half_range)
    name = f"{op.name}/fq_weights_{point.index}"
    layer = fq_layer(model, name, model.add_constant(w, f"{name}/weights"), fq, list(w.shape))
    model.connect(Output(layer, layer.outputs[0]), Input(op, op.inputs[point.index]))
    return w, fq


def shared_ranges(points: Sequence[ActivationPoint], ranges: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points of a group (the inputs of a Concat) get the union of their ranges: INT8
    concatenation needs one scale."""
    union: dict[int, tuple[float, float]] = {}
    for p, (lo, hi) in zip(points, ranges):
        if p.group is not None:
            g = union.get(p.group, (lo, hi))
            union[p.group] = (min(g[0], lo), max(g[1], hi))
    return [union[p.group] if p.group is not None else r for p, r in zip(points, ranges)]
