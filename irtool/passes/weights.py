"""Compressed and expanded weights: the two forms of a quantized weight, converted both ways.

* expanded: ``Const(f32) -> FakeQuantize -> op`` (what ``--disable_weights_compression`` keeps);
* compressed: ``Const(i8/u8/i4/u4) -> Convert(f32) -> [Subtract(zero point)] -> Multiply(scale) -> op``,
  as OpenVINO's ``compress_quantize_weights`` writes it (4x smaller .bin; i4/u4 when levels <= 16);
* the 2020 form ``Const(u8/i8) -> Convert -> FakeQuantize(levels grid)`` is read and expanded too.

The math, for a FakeQuantize with ``L`` levels and output range ``[ol, oh]``:
``scale = (oh - ol) / (L - 1)``; codes ``q = round((clip(w) - il) / (ih - il) * (L-1)) + new_ol`` with
``new_ol = -(L // 2)`` (signed) or 0 (unsigned, when all of ``ol >= 0``); ``zero_point = new_ol - ol / scale``;
the Subtract is left out when every zero point is 0. Dequantization ``(q - zp) * scale`` lands on the
same grid the FakeQuantize output does.
"""
from __future__ import annotations

import numpy as np

from irtool.ir.element_types import ELEMENT_TYPES
from irtool.ir.graph import Layer, Model, Output, Port
from irtool.passes.fold import fold, is_constant

_INT_WEIGHTS = {"i8", "u8", "i4", "u4"}
_DEQUANT_TYPES = {"Convert", "Subtract", "Multiply"}


# ------------------------------------------------------------------------------------------- math
def weight_codes(w: np.ndarray, il, ih, ol, oh, levels: int) -> tuple[np.ndarray, str, np.ndarray, np.ndarray]:
    """Integer codes of ``FakeQuantize(w)``, their element type, the zero point and the scale."""
    il, ih, ol, oh = (np.asarray(v, np.float64) for v in (il, ih, ol, oh))
    signed = not np.all(ol >= 0)
    etype = ("i" if signed else "u") + ("4" if levels <= 16 else "8")
    new_ol = -(levels // 2) if signed else 0
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.rint((np.clip(w, np.minimum(il, ih), np.maximum(il, ih)) - il) / (ih - il) * (levels - 1))
    k = np.nan_to_num(k)  # a zero-width range quantizes to its only level
    scale = (oh - ol) / (levels - 1)
    zero_point = new_ol - np.divide(ol, scale, out=np.zeros_like(ol * scale), where=scale != 0)
    return (k + new_ol).astype(np.int8 if signed else np.uint8), etype, zero_point, scale


def fq_grid(etype: str, codes: np.ndarray, zero_point: np.ndarray, scale: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """``levels``, low and high of the FakeQuantize whose grid holds ``(q - zp) * scale``."""
    signed = etype.startswith("i")
    bits = 4 if etype.endswith("4") else 8
    if signed and zero_point is not None and not np.any(zero_point) and codes.min(initial=0) > -(1 << (bits - 1)):
        levels = (1 << bits) - 1  # narrow range: -127..127 (or -7..7)
    else:
        levels = 1 << bits
    new_ol = -(levels // 2) if signed else 0
    zp = np.zeros_like(scale) if zero_point is None else zero_point
    low = (new_ol - zp) * scale
    return levels, low, low + (levels - 1) * scale


# ------------------------------------------------------------------------------------------- compress
def compress_weights(model: Model) -> tuple[Model, int]:
    """Every weight FakeQuantize (constant input) in compressed form; returns the copy and the count."""
    model = model.copy()
    count = 0
    const: dict = {}
    for fq in [l for l in model.topological_order() if l.type == "FakeQuantize"]:
        srcs = model.input_values(fq)
        if fq.attr_int("levels", 256) > 256 or not all(is_constant(model, s, const) for s in srcs):
            continue
        w, il, ih, ol, oh = (fold(model, s).astype(np.float64) for s in srcs)
        codes, etype, zp, scale = weight_codes(w, il, ih, ol, oh, fq.attr_int("levels"))
        _replace_with_dequantization(model, fq, codes, etype, zp, scale)
        count += 1
    model.remove_dead()
    return model, count


def _replace_with_dequantization(model: Model, fq: Layer, codes, etype, zero_point, scale) -> None:
    rank = len(codes.shape)
    q = model.add_constant(codes, f"{fq.name}/weights", ELEMENT_TYPES[etype])
    out = _op(model, "Convert", f"{fq.name}/convert", [q], fq, {"destination_type": "f32"})
    zp = as_rank(np.round(zero_point, 6), rank)
    if np.any(np.abs(zp) > 1e-6):
        out = _op(model, "Subtract", f"{fq.name}/zero_point", [out, model.add_constant(zp.astype(np.float32),
                                                                                        f"{fq.name}/zero_point/value")],
                  fq, {"auto_broadcast": "numpy"})
    scale_c = model.add_constant(as_rank(scale, rank).astype(np.float32), f"{fq.name}/scale/value")
    mul = _op(model, "Multiply", f"{fq.name}/scale", [out, scale_c], fq, {"auto_broadcast": "numpy"})
    model.replace_all_uses(Output(fq, fq.outputs[0]), mul)
    model.remove_layer(fq)


def _op(model: Model, type_: str, name: str, inputs: list[Output], like: Layer, attrs: dict) -> Output:
    """A new layer with one f32 output shaped like ``like``'s output."""
    port = Port(0, "FP32", list(like.outputs[0].dims))
    layer = model.add_layer(type_, name, inputs=inputs, outputs=[port], attrs=attrs)
    return Output(layer, layer.outputs[0])


def as_rank(a: np.ndarray, rank: int) -> np.ndarray:
    """``a`` with leading 1s up to ``rank`` dims (scalars stay scalars), so it broadcasts like a tensor."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a
    return a.reshape((1,) * (rank - a.ndim) + a.shape) if a.ndim < rank else a


# ------------------------------------------------------------------------------------------- expand
def expand_weights(model: Model) -> tuple[Model, int]:
    """Every compressed weight (``Const(int) -> Convert -> [Subtract] -> Multiply``, or the 2020 form
    ``Const(int) -> Convert -> FakeQuantize``) back to ``Const(f32) -> FakeQuantize``."""
    model = model.copy()
    count = 0
    for layer in list(model.topological_order()):
        if layer.id not in model.layers:
            continue
        found = _match_compressed(model, layer)
        if found is None:
            continue
        levels, low, high = found
        values = fold(model, Output(layer, layer.outputs[0])).astype(np.float32)
        users = model.consumers(Output(layer, layer.outputs[0]))
        w = model.add_constant(values, f"{layer.name}/weights")
        consts = [model.add_constant(v.astype(np.float32), f"{layer.name}/fq/{n}")
                  for n, v in zip(("il", "ih", "ol", "oh"), (low, high, low, high))]
        fq = model.add_layer("FakeQuantize", layer.name if layer.type != "FakeQuantize" else f"{layer.name}/fq",
                             inputs=[w, *consts], outputs=[Port(0, "FP32", list(layer.outputs[0].dims))],
                             attrs={"levels": str(levels), "auto_broadcast": "numpy"})
        for dst in users:
            model.connect(Output(fq, fq.outputs[0]), dst)
        count += 1
    model.remove_dead()
    return model, count


def _match_compressed(model: Model, layer: Layer) -> tuple[int, np.ndarray, np.ndarray] | None:
    """If ``layer`` ends a compressed-weight chain, the FakeQuantize grid (levels, low, high)."""
    if layer.type == "FakeQuantize":
        src = model.producer(layer, 0).layer
        if src.type == "Convert" and _int_const(model, src) is not None:
            rank = len(layer.outputs[0].dims)
            ol, oh = (as_rank(fold(model, model.producer(layer, i)), rank) for i in (3, 4))
            return layer.attr_int("levels"), ol, oh
        return None
    if layer.type != "Multiply":
        return None
    chain, scale = _split_const(model, layer)
    if chain is None:
        return None
    zero_point = None
    if chain.layer.type == "Subtract":
        inner, zero_point = _split_const(model, chain.layer)
        if inner is None:
            return None
        chain = inner
    if chain.layer.type != "Convert":
        return None
    codes = _int_const(model, chain.layer)
    if codes is None:
        return None
    rank = codes[0].ndim
    zp = None if zero_point is None else as_rank(zero_point, rank).astype(np.float64)
    return fq_grid(codes[1], codes[0], zp, as_rank(scale, rank).astype(np.float64))


def _split_const(model: Model, layer: Layer) -> tuple[Output | None, np.ndarray | None]:
    """For a binary op over an integer-weight chain and a constant: (the chain, the constant's value)."""
    a, b = model.input_values(layer)
    for chain, other in ((a, b), (b, a)):
        if _int_chain(model, chain) and is_constant(model, other):
            return chain, fold(model, other)
    return None, None


def _int_chain(model: Model, out: Output) -> bool:
    layer = out.layer
    while layer.type in ("Convert", "Subtract"):
        layer = model.producer(layer, 0).layer
    return layer.type == "Const" and layer.constant.element_type.name in _INT_WEIGHTS


def _int_const(model: Model, convert: Layer) -> tuple[np.ndarray, str] | None:
    src = model.producer(convert, 0).layer
    if src.type == "Const" and src.constant.element_type.name in _INT_WEIGHTS:
        return np.asarray(src.constant.value), src.constant.element_type.name
    return None


__all__ = ["as_rank", "compress_weights", "expand_weights", "fq_grid", "weight_codes"]
