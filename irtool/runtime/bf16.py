"""BF16 inference precision (``compile_model(..., precision="bf16")``, OpenVINO's
``INFERENCE_PRECISION_HINT: bf16``): the pass that gives float32 Convolutions to the bf16 kernel.

OpenVINO's CPU plugin runs a model in bf16 on a CPU with AVX512-BF16/AMX when asked (and by default
there); irtool's default stays exact float32. Under bf16, each float32 2-D Convolution and MatMul
(fused with its bias, residual Add and activation or not) multiplies bf16-rounded operands, summing in
float32 (kernels/bf16_amx.py); every other layer, and the INT8 layers of a quantized model, run as
under ``auto``.
"""
from __future__ import annotations

from irtool.ir.graph import Model
from irtool.runtime.fusion import FUSED
from irtool.runtime.kernels.bf16_amx import BF16


def bf16_layers(model: Model) -> Model:
    """A copy of ``model`` with its float32 2-D Convolutions and MatMuls in the bf16 opset."""
    m = model.copy()
    for layer in m.layers.values():
        out = layer.outputs[0] if layer.outputs else None
        if out is None or out.precision != "FP32" or layer.version not in ("opset1", FUSED):
            continue
        # (a MatMul of two activations stays float32: its weights are not worth rounding once)
        weights = m.producer(layer, 1).layer.type == "Const" if len(layer.inputs) > 1 else False
        if weights and (layer.type == "Convolution" and len(out.dims) == 4 or layer.type == "MatMul"):
            layer.version = BF16
    return m


__all__ = ["bf16_layers"]
