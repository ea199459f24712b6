"""Low-precision transformations: a FakeQuantize model -> a model whose heavy layers run on integers.

Each pass is a function ``Model -> Model`` over irtool's own graph (the input is never modified),
applied at load time by ``compile_model(..., precision="int8")``:

1. ``split_fake_quantize``: an activation FakeQuantize becomes ``Quantize`` (f32 -> u8 codes) and
   ``Dequantize`` (u8 -> f32); the pair computes exactly what the FakeQuantize did.
2. ``push_dequantize``: ``Dequantize -> op`` becomes ``op -> Dequantize`` for ops that only move values
   (MaxPool, Reshape, Transpose, Squeeze, Unsqueeze, StridedSlice, Slice, Split, VariadicSplit, Gather,
   nearest Interpolate without padding), a Concat of aligned ranges, and ReLU (``max(code, zero
   point)``), so they run on u8.
3. ``fuse_weighted``: ``Dequantize -> Convolution/depthwise GroupConvolution/MatMul(quantized weights) [-> Add(bias)]
   [-> ReLU/Clamp]`` becomes one INT8 layer: integer codes in, ``acc * scale + bias`` out, clamped.
3b. ``fuse_matmul_codes``: ``Dequantize(a) -> MatMul <- Dequantize(b)`` (attention: two activations)
   becomes one INT8 MatMul on both codes, the exact integer products through the epilogue.
4. ``fuse_requantize``: an INT8 layer followed by ``Quantize`` writes u8 codes directly (requantization
   in the epilogue); the Quantize is gone.
5. ``fuse_add``: ``Dequantize(a) + Dequantize(b) [-> ReLU|Clamp] -> Quantize`` (a residual Add between
   INT8 layers) becomes one layer on codes, with the same rounding at every step (bit-identical).
6. ``fuse_residual``: an INT8 convolution writing u8 codes that only an INT8 Add reads takes the Add
   in, in its tiles' epilogue: one float32 map of both codes (int8_epilogue.compose_residual), within
   one step of the separate Add's rounding; one step and one pass over memory fewer.
6b. ``fuse_avg_pool``: ``Dequantize -> AvgPool -> Quantize`` becomes one INT8 AvgPool on codes: exact
   window sums through the INT8 epilogue.
7. ``fuse_mean``: ``Dequantize -> ReduceMean(every spatial axis) [-> Quantize]`` (a global average
   pool) becomes one layer on codes: the exact integer sum of each plane through the INT8 epilogue.
8. ``fuse_scale``: ``Multiply(x, constant along the last axis) -> Quantize`` (per tensor; NNCF's smooth
   quantization scales) becomes one Quantize of ``x`` that multiplies first, rounding as the Multiply.
9. ``fuse_input_quantize``: a per-tensor ``Quantize`` read only by an INT8 convolution (a network's
   first layer) goes into it: the convolution quantizes its float input itself, bit-identically,
   one step fewer.

Layers the passes absorb are reported NOT_RUN by the performance counters; the INT8 layers keep the
name and type of the layer they replace, with an ``_I8`` exec type. What a pass does not recognise
stays FP32 behind a Dequantize: never a wrong result.
"""
from __future__ import annotations

import numpy as np

from irtool.ir import attrs as A
from irtool.ir.graph import Input, Layer, Model, Output, Port
from irtool.passes.fold import fold, is_constant
from irtool.passes.patterns import activation_after, constant_addend, single_user
from irtool.passes.weights import as_rank, weight_codes
from irtool.runtime.kernels.fake_quantize import quantize_params
from irtool.runtime.kernels.int8_conv import pack_conv_weights
from irtool.runtime.kernels.int8_epilogue import HI, INT8, ISC, ISH, LO, epilogue

DATA_MOVEMENT = {"MaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "StridedSlice", "Slice", "Split",
                 "VariadicSplit", "Gather"}
WEIGHTED = ("Convolution", "GroupConvolution", "MatMul")  # depthwise GroupConvolution only


def low_precision(model: Model) -> Model:
    """All passes, in order."""
    m = model.copy()
    for step in PASSES:
        m = step(m, copy=False)
    m.remove_dead()
    return m


def _out(layer: Layer, i: int = 0) -> Output:
    return Output(layer, layer.outputs[i])


# ------------------------------------------------------------------------------------------ 1. split
def split_fake_quantize(model: Model, copy: bool = True) -> Model:
    """Activation FakeQuantize (constant ranges, levels <= 256) -> Quantize + Dequantize."""
    m = model.copy() if copy else model
    const: dict = {}
    for fq in [l for l in m.topological_order() if l.type == "FakeQuantize"]:
        srcs = m.input_values(fq)
        levels = fq.attr_int("levels", 256)
        if not 2 <= levels <= 256 or is_constant(m, srcs[0], const) or not all(is_constant(m, s, const) for s in srcs[1:]):
            continue
        il, ih, ol, oh = (fold(m, s) for s in srcs[1:])
        if not all(np.isfinite(v).all() for v in (il, ih, ol, oh)):
            continue  # NaN/Inf ranges have no integer codes: FakeQuantize's FP32 emulation gives what they mean
        if np.any(oh <= ol):
            continue  # a decreasing output range is not a u8 code of an affine dequantization
        lo, hi, isc, ish, osc, osh = quantize_params(il, ih, ol, oh, levels)
        rank = len(srcs[0].port.dims)
        consts = [m.add_constant(as_rank(v, rank), f"{fq.name}/{n}") for n, v in
                  (("lo", lo), ("hi", hi), ("isc", isc.astype(np.float64)), ("ish", ish.astype(np.float64)))]
        dims = list(fq.outputs[0].dims)
        q = m.add_layer("Quantize", fq.name, inputs=[srcs[0], *consts], outputs=[Port(0, "U8", dims)],
                        version=INT8, attrs={"levels": str(levels)})
        scale = [m.add_constant(as_rank(np.asarray(v, np.float64), rank), f"{fq.name}/dequantize/{n}")
                 for n, v in (("osc", osc), ("osh", osh))]
        dq = m.add_layer("Dequantize", f"{fq.name}/dequantize", inputs=[_out(q), *scale],
                         outputs=[Port(0, "FP32", dims, list(fq.outputs[0].names))], version=INT8)
        m.replace_all_uses(_out(fq), _out(dq))
        m.remove_layer(fq)
    return m


def _dequant_params(m: Model, dq: Layer) -> tuple[np.ndarray, np.ndarray]:
    return fold(m, m.producer(dq, 1)), fold(m, m.producer(dq, 2))


def _per_tensor_zero_point(m: Model, dq: Layer) -> tuple[float, int] | None:
    """(scale, integer zero point) of a per-tensor Dequantize, or None."""
    found = _zero_points(m, dq)
    if found is None or found[0].size != 1:
        return None
    return float(found[0][0]), int(found[1][0])


def _zero_points(m: Model, dq: Layer) -> tuple[np.ndarray, np.ndarray] | None:
    """(scales, integer zero points), one per tensor or per channel (axis 1), of a Dequantize; None
    when a zero point is fractional or the ranges vary along another axis."""
    osc, osh = _dequant_params(m, dq)
    osc, osh = np.broadcast_arrays(np.asarray(osc, np.float64), np.asarray(osh, np.float64))
    if osc.size > 1 and (osc.ndim < 2 or osc.size != osc.shape[1]):
        return None
    osc, osh = osc.reshape(-1), osh.reshape(-1)
    if np.any(osc <= 0):
        return None
    z = -osh / osc
    if not np.isfinite(z).all() or np.any(np.abs(z - np.round(z)) > 1e-3) or np.any(np.round(z) < 0) or np.any(np.round(z) > 255):
        return None
    return osc, np.round(z).astype(np.int64)


# ------------------------------------------------------------------------------------------ 2. push
def push_dequantize(model: Model, copy: bool = True) -> Model:
    """``Dequantize -> op`` => ``op -> Dequantize`` (one after each output that is read) for per-tensor
    scales and ops that only move values (:func:`moves_values`): they then run on u8 codes, exactly
    (dequantizing each value commutes with moving it); ``Concat`` when every input is a Dequantize of
    one scale and zero point (aligned ranges); ``ReLU`` as ``max(code, zero point)`` (dequantization
    is increasing, and maps the zero point to 0)."""
    m = model.copy() if copy else model
    # one sweep in topological order: a Dequantize moved past an op is met again by that op's readers
    for op in m.topological_order():
        if op.type == "Concat":
            dqs = [s.layer for s in m.input_values(op)]
            if not _aligned(m, dqs):
                continue
        elif moves_values(m, op) or op.type == "ReLU":
            dqs = [m.producer(op, 0).layer]
            if dqs[0].type != "Dequantize" or _per_tensor_zero_point(m, dqs[0]) is None \
                    or single_user(m, _out(dqs[0])) is None:
                continue
            if op.type == "ReLU":  # max(x, 0) is max(code, zero point) on codes: an INT8 ReLU
                op = _codes_relu(m, op, _per_tensor_zero_point(m, dqs[0])[1])
        else:
            continue
        _move_after(m, op, dqs)
    return m


def _aligned(m: Model, layers: list[Layer]) -> bool:
    """True when every layer is a per-tensor Dequantize with an integer zero point, all of one scale
    and shift (a Concat of them may run on their codes)."""
    if not all(d.type == "Dequantize" and _per_tensor_zero_point(m, d) is not None for d in layers):
        return False
    first = _dequant_params(m, layers[0])
    return all(np.array_equal(p, q) for d in layers[1:] for p, q in zip(_dequant_params(m, d), first))


def moves_values(m: Model, op: Layer) -> bool:
    """True for an op whose read outputs only hold values of its first input, moved (so it may run on
    codes): reshapes, transposes, slices, splits, gathers, MaxPool (its values, not opset8's indices)
    and Interpolate in nearest mode without padding (a padded border would be a zero value, not a
    zero code)."""
    if op.type == "Interpolate":
        pads = [v for k in ("pads_begin", "pads_end") for v in A.parse_ints(op.attrs.get(k, ""))]
        return op.attrs.get("mode") == "nearest" and not any(pads)
    if op.type in ("Split", "VariadicSplit"):
        return True
    return op.type in DATA_MOVEMENT and not any(m.consumers(_out(op, i)) for i in range(1, len(op.outputs)))


def _codes_relu(m: Model, relu: Layer, zero_point: int) -> Layer:
    """An INT8 ReLU (``max(code, zero_point)``) in the place of ``relu``, reading what it read."""
    name = relu.name
    relu.name = f"{name}/fp32"
    new = m.add_layer("ReLU", name, inputs=[m.producer(relu, 0)], version=INT8,
                      attrs={"zero_point": str(zero_point)},
                      outputs=[Port(0, "FP32", list(relu.outputs[0].dims), list(relu.outputs[0].names))])
    m.replace_all_uses(_out(relu), _out(new))
    m.remove_layer(relu)
    return new


def _move_after(m: Model, op: Layer, dqs: list[Layer]) -> None:
    """``op`` reads the codes of the Dequantize layers ``dqs`` (its data inputs) and a Dequantize of the
    first one's parameters follows each of its outputs that is read; a Dequantize left without
    readers goes."""
    params = m.input_values(dqs[0])[1:]
    for i, dq in enumerate(dqs):
        m.connect(m.producer(dq, 0), Input(op, op.inputs[i]))
    for i, port in enumerate(op.outputs):
        readers = m.consumers(_out(op, i))
        if not readers:
            continue
        port.precision = "U8"
        new = m.add_layer("Dequantize", f"{op.name}/dequantize{i or ''}", inputs=[_out(op, i), *params],
                          outputs=[Port(0, "FP32", list(port.dims), list(port.names))], version=INT8)
        for dst in readers:
            m.connect(_out(new), dst)
    for dq in {d.id: d for d in dqs}.values():  # (a Concat may read one Dequantize twice)
        if not m.consumers(_out(dq)):
            m.remove_layer(dq)


# ------------------------------------------------------------------------------------------ 3. fuse
def fuse_weighted(model: Model, copy: bool = True) -> Model:
    """Dequantize -> Convolution / MatMul with quantized constant weights => one INT8 layer."""
    m = model.copy() if copy else model
    for op in [l for l in m.topological_order() if l.type in WEIGHTED and l.version != INT8]:
        src = m.producer(op, 0)
        if src.layer.type != "Dequantize" or not is_constant(m, m.producer(op, 1)):
            continue
        act = _zero_points(m, src.layer) if op.type == "GroupConvolution" else _per_tensor_zero_point(m, src.layer)
        weights = _weight_codes(m, op)
        if act is None or weights is None:
            continue
        if op.type != "MatMul" and len(op.inputs[0].dims) not in (3, 4):
            continue  # 3-D convolutions stay FP32
        _replace_weighted(m, op, src.layer, act, weights)
    m.remove_dead()
    return m


def fuse_matmul_codes(model: Model, copy: bool = True) -> Model:
    """``Dequantize(a) -> MatMul <- Dequantize(b)`` (a transformer's attention products: both inputs
    activations, per-tensor scales and integer zero points) => one INT8 MatMul on both codes: the
    exact integer products, then the epilogue with scale ``sa * sb`` (fuse_requantize may add the next
    Quantize to it)."""
    m = model.copy() if copy else model
    for op in [l for l in m.topological_order() if l.type == "MatMul" and l.version != INT8]:
        srcs = [m.producer(op, i).layer for i in (0, 1)]
        if any(s.type != "Dequantize" for s in srcs) or any(is_constant(m, m.producer(op, i)) for i in (0, 1)):
            continue
        params = [_per_tensor_zero_point(m, s) for s in srcs]
        if any(p is None for p in params):
            continue
        (sa, za), (sb, zb) = params
        attrs = {"zero_point": str(za), "zero_point_b": str(zb),
                 "transpose_a": op.attrs.get("transpose_a", "false"), "transpose_b": op.attrs.get("transpose_b", "false")}
        ep = m.add_constant(epilogue(1, sa * sb), f"{op.name}/int8_epilogue")
        new = m.add_layer("MatMul", op.name, inputs=[m.producer(srcs[0], 0), m.producer(srcs[1], 0), ep],
                          outputs=[Port(0, "FP32", list(op.outputs[0].dims), list(op.outputs[0].names))],
                          version=INT8, attrs=attrs)
        old_name = op.name
        op.name = f"{old_name}/fp32"
        m.replace_all_uses(_out(op), _out(new))
    m.remove_dead()
    return m


def _weight_codes(m: Model, op: Layer) -> tuple[np.ndarray, np.ndarray] | None:
    """Integer weights (int16, zero point removed) shaped for the INT8 kernel, and per-output scales."""
    wsrc = m.producer(op, 1)
    found = _codes_of(m, wsrc)
    if found is None:
        return None
    q, scale = found
    if op.type == "Convolution":  # channels last: [O, C, k...] -> [O, k..., C], as the INT8 kernel reads it
        q = np.moveaxis(q, 1, -1)
        return np.ascontiguousarray(q.astype(np.int16)), np.broadcast_to(scale.reshape(-1), (q.shape[0],))
    if op.type == "GroupConvolution":  # only depthwise: [G, 1, 1, k...] -> [G, k...]
        if q.shape[1] != 1 or q.shape[2] != 1:
            return None
        return q.reshape(q.shape[0], *q.shape[3:]).astype(np.int16), np.broadcast_to(scale.reshape(-1), (q.shape[0],))
    if q.ndim != 2:
        return None
    if op.attr_bool("transpose_a", False):
        return None
    q2 = q if op.attr_bool("transpose_b", False) else q.T  # -> [O, K]
    return np.ascontiguousarray(q2.astype(np.int16)), np.broadcast_to(scale, (q2.shape[0],))


def _codes_of(m: Model, out: Output) -> tuple[np.ndarray, np.ndarray] | None:
    """(codes minus zero point, per-channel scale) of a weight in any of the three forms."""
    layer = out.layer
    if layer.type == "FakeQuantize":
        w, il, ih, ol, oh = (fold(m, s).astype(np.float64) for s in m.input_values(layer))
        codes, _, zp, scale = weight_codes(w, il, ih, ol, oh, layer.attr_int("levels"))
        return _centered(codes, zp, scale)
    if layer.type == "Multiply":
        chain, scale_out = m.producer(layer, 0), m.producer(layer, 1)
        zp = np.zeros(1)
        if chain.layer.type == "Subtract":
            zp = fold(m, m.producer(chain.layer, 1))
            chain = m.producer(chain.layer, 0)
        if chain.layer.type == "Convert" and m.producer(chain.layer, 0).layer.type == "Const":
            codes = np.asarray(m.producer(chain.layer, 0).layer.constant.value)
            if codes.dtype.kind in "iu":
                return _centered(codes, zp, fold(m, scale_out))
    return None


def _centered(codes: np.ndarray, zp: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Codes minus an integral zero point (None when the zero point is fractional)."""
    zp = np.asarray(zp, np.float64)
    if np.any(np.abs(zp - np.round(zp)) > 1e-3):
        return None
    centered = codes.astype(np.int32) - np.round(zp).astype(np.int32)
    if zp.size > 1 and centered.shape != codes.shape or np.abs(centered).max(initial=0) > 255:
        return None
    return centered, np.asarray(scale, np.float64).reshape(-1)


def _replace_weighted(m: Model, op: Layer, dq: Layer, act, weights) -> None:
    """``act``: (scale, zero point) per tensor, or arrays of them per channel (depthwise only)."""
    a_scale, zero_point = act
    q, w_scale = weights
    scale = (np.asarray(a_scale, np.float64) * np.asarray(w_scale, np.float64)).reshape(-1)
    last, bias = op, None
    found = constant_addend(m, op)
    if found is not None and found[2].size in (1, q.shape[0]):
        last, bias = found[0], found[2].reshape(-1).astype(np.float64)
    lo, hi = -np.inf, np.inf
    activation = activation_after(m, last)
    if activation is not None:
        last, lo, hi = activation
    attrs = {"zero_point": ", ".join(str(int(z)) for z in np.atleast_1d(zero_point))}
    if op.type != "MatMul":
        attrs.update({k: op.attrs[k] for k in ("strides", "dilations", "pads_begin", "pads_end", "auto_pad")
                      if k in op.attrs})
    packed = pack_conv_weights(q) if op.type == "Convolution" else q  # the layout the kernel streams
    consts = [m.add_constant(packed, f"{op.name}/int8_weights"),
              m.add_constant(epilogue(scale.size, scale, bias, lo, hi), f"{op.name}/int8_epilogue")]
    new = m.add_layer(op.type, op.name, inputs=[m.producer(dq, 0), *consts],
                      outputs=[Port(0, "FP32", list(last.outputs[0].dims), list(last.outputs[0].names))],
                      version=INT8, attrs=attrs)
    old_name = op.name
    op.name = f"{old_name}/fp32"  # the INT8 layer takes over the name (and the counters' row)
    m.replace_all_uses(_out(last), _out(new))


# ------------------------------------------------------------------------------------------ 4. requantize
def _per_output_channel(v: np.ndarray, op: Layer, n_out: int) -> np.ndarray | None:
    """A Quantize parameter as one value per output channel of ``op`` (channels: axis 1 of a
    convolution's output, the last axis of a MatMul's), or None when it varies along another axis."""
    v = np.asarray(v, np.float64)
    if v.size == 1:
        return np.full(n_out, float(v.reshape(())))
    axis = len(op.outputs[0].dims) - 1 if op.type == "MatMul" else 1
    if v.size == n_out and v.ndim > axis and v.shape[axis] == n_out:
        return v.reshape(n_out)
    return None



def fuse_requantize(model: Model, copy: bool = True) -> Model:
    """INT8 layer -> Quantize (per tensor or per output channel) => the INT8 layer writes u8 codes:
    the Quantize's crop joins the epilogue's clamp, its scale and shift the epilogue table."""
    m = model.copy() if copy else model
    for op in [l for l in m.topological_order() if l.version == INT8 and l.type in WEIGHTED]:
        user = single_user(m, _out(op))
        if user is None or user.layer.type != "Quantize":
            continue
        q = user.layer
        ep = fold(m, m.producer(op, 2)).copy()
        n_out = ep.shape[1]
        params = [_per_output_channel(fold(m, s), op, n_out) for s in m.input_values(q)[1:]]
        if any(p is None for p in params):
            continue
        lo, hi, isc, ish = params
        ep[LO], ep[HI] = np.maximum(ep[LO], lo), np.minimum(ep[HI], hi)
        ep[ISC], ep[ISH] = isc, ish
        m.connect(m.add_constant(ep, f"{op.name}/int8_epilogue_requant"), Input(op, op.inputs[2]))
        op.attrs["levels"] = str(q.attr_int("levels", 256))
        op.outputs[0].precision = "U8"
        m.replace_all_uses(_out(q), _out(op))
        m.remove_layer(q)
    m.remove_dead()
    return m


# ------------------------------------------------------------------------------------------ 5. add
def fuse_add(model: Model, copy: bool = True) -> Model:
    """Residual Add of two per-tensor dequantized inputs, requantized after it => one INT8 Add."""
    m = model.copy() if copy else model
    for add in [l for l in m.topological_order() if l.type == "Add" and l.version != INT8]:
        srcs = m.input_values(add)
        if any(s.layer.type != "Dequantize" or _per_tensor_zero_point(m, s.layer) is None for s in srcs):
            continue
        if list(srcs[0].port.dims) != list(srcs[1].port.dims) or not srcs[0].port.dims:
            continue  # broadcasting adds stay FP32
        last, lo, hi = add, -np.inf, np.inf
        activation = activation_after(m, add)
        if activation is not None:
            last, lo, hi = activation
        user = single_user(m, _out(last))
        if user is None or user.layer.type != "Quantize":
            continue
        q = user.layer
        qlo, qhi, isc, ish = (np.asarray(fold(m, s)) for s in m.input_values(q)[1:])
        if any(v.size != 1 for v in (qlo, qhi, isc, ish)):
            continue
        deq = [np.array([float(v) for v in _dequant_params(m, s.layer)], np.float64) for s in srcs]
        # the Quantize clips first, then scales: clamp to both ranges at once
        attrs = {"clamp": f"{max(lo, float(qlo))!r}, {min(hi, float(qhi))!r}",
                 "requant": f"{float(isc)!r}, {float(ish)!r}, {q.attr_int('levels', 256) - 1}"}
        consts = [m.add_constant(p, f"{add.name}/int8_dequant_{i}") for i, p in enumerate(deq)]
        name = add.name
        add.name = f"{name}/fp32"
        new = m.add_layer("Add", name, inputs=[m.producer(s.layer, 0) for s in srcs] + consts,
                          outputs=[Port(0, "U8", list(q.outputs[0].dims), list(q.outputs[0].names))],
                          version=INT8, attrs=attrs)
        m.replace_all_uses(_out(q), _out(new))
    m.remove_dead()
    return m


# ------------------------------------------------------------------------------------------ 6. residual
def fuse_residual(model: Model, copy: bool = True) -> Model:
    """INT8 Add (see fuse_add) whose input is an INT8 2-D Convolution's u8 codes, read by nothing else
    => the convolution takes the Add's other input and constants: inputs (codes, weights, epilogue,
    other, pa, pb), the Add's clamp and requant as attributes. The Add is commutative in its float
    arithmetic (the sum of the two dequantized values), so either input may be the convolution's."""
    m = model.copy() if copy else model
    for add in [l for l in m.topological_order() if l.type == "Add" and l.version == INT8]:
        srcs = m.input_values(add)
        for i in (0, 1):
            conv = srcs[i].layer
            if conv.type != "Convolution" or conv.version != INT8 or len(conv.inputs) != 3 \
                    or int(conv.attrs.get("levels", "0")) == 0 or len(conv.outputs[0].dims) != 4 \
                    or len(m.consumers(srcs[i])) != 1 or srcs[1 - i].layer is conv:
                continue
            name = add.name
            add.name = f"{name}/unfused"
            attrs = dict(conv.attrs) | {"clamp": add.attrs["clamp"], "requant": add.attrs["requant"]}
            new = m.add_layer("Convolution", conv.name, version=INT8, attrs=attrs,
                              inputs=[*m.input_values(conv), srcs[1 - i], srcs[2 + i], srcs[3 - i]],
                              outputs=[Port(0, "U8", list(add.outputs[0].dims), list(add.outputs[0].names))])
            conv.name = f"{conv.name}/unfused"
            m.replace_all_uses(_out(add), _out(new))
            break
    m.remove_dead()
    return m


# ------------------------------------------------------------------------------------------ 6b. AvgPool
def fuse_avg_pool(model: Model, copy: bool = True) -> Model:
    """``Dequantize -> AvgPool -> Quantize`` (per tensor, an integer zero point; the pool read by the
    Quantize alone: the next op takes INT8) => one INT8 AvgPool on codes: the exact sum of each
    window through the INT8 epilogue, divided by its cell count there (the FP32 emulation's float
    sums may round differently, by less than a quantization step)."""
    m = model.copy() if copy else model
    for op in [l for l in m.topological_order() if l.type == "AvgPool" and l.version != INT8]:
        src = m.producer(op, 0)
        user = single_user(m, _out(op))
        if src.layer.type != "Dequantize" or user is None or user.layer.type != "Quantize" \
                or len(op.inputs[0].dims) not in (3, 4) or any(d != 1 for d in op.attr_ints("dilations", [])):
            continue  # (dilated AvgPool-16 windows: the INT8 kernel has none)
        act = _per_tensor_zero_point(m, src.layer)
        q = user.layer
        params = [np.asarray(fold(m, s)) for s in m.input_values(q)[1:]]
        if act is None or len(q.inputs) != 5 or any(p.size != 1 for p in params):
            continue
        lo, hi, isc, ish = (float(p.reshape(())) for p in params)
        scale, zero_point = act
        table = m.add_constant(epilogue(1, scale, None, lo, hi, isc, ish), f"{op.name}/int8_epilogue")
        attrs = dict(op.attrs) | {"zero_point": str(zero_point), "levels": str(q.attr_int("levels", 256))}
        name = op.name
        op.name = f"{name}/fp32"
        new = m.add_layer("AvgPool", name, inputs=[m.producer(src.layer, 0), table], version=INT8, attrs=attrs,
                          outputs=[Port(0, "U8", list(q.outputs[0].dims), list(q.outputs[0].names))])
        m.replace_all_uses(_out(q), _out(new))
    m.remove_dead()
    return m


# ------------------------------------------------------------------------------------------ 7. mean
def fuse_mean(model: Model, copy: bool = True) -> Model:
    """``Dequantize -> ReduceMean`` over every spatial axis (a global average pool), and the
    ``Quantize`` after it if there is one (per tensor or per channel) => one INT8 ReduceMean on codes:
    mean(k * osc + osh) = sum(k) * osc / n + osh, from the exact integer sum of each plane, through
    the epilogue of the weighted layers (float32; the FP32 emulation's float sum may round
    differently, by less than a quantization step). Other reductions stay FP32."""
    m = model.copy() if copy else model
    for op in [l for l in m.topological_order() if l.type == "ReduceMean" and l.version != INT8]:
        src = m.producer(op, 0)
        dims = list(src.port.dims)
        if src.layer.type != "Dequantize" or len(dims) < 3 or any(d <= 0 for d in dims) \
                or not is_constant(m, m.producer(op, 1)):
            continue
        axes = sorted(int(a) % len(dims) for a in np.atleast_1d(fold(m, m.producer(op, 1))))
        act = _zero_points(m, src.layer)
        if axes != list(range(2, len(dims))) or act is None:
            continue
        osc, osh = (np.broadcast_to(np.asarray(v, np.float64).reshape(-1), (dims[1],))
                    for v in _dequant_params(m, src.layer))
        n = int(np.prod(dims[2:]))
        ep = epilogue(dims[1], osc / n, osh)
        last, levels = op, 0
        user = single_user(m, _out(op))
        if user is not None and user.layer.type == "Quantize":
            params = [_per_output_channel(fold(m, s), op, dims[1]) for s in m.input_values(user.layer)[1:]]
            if all(p is not None for p in params):
                lo, hi, isc, ish = params
                ep[LO], ep[HI], ep[ISC], ep[ISH] = lo, hi, isc, ish
                last, levels = user.layer, user.layer.attr_int("levels", 256)
        name = op.name
        op.name = f"{name}/fp32"
        table = m.add_constant(ep, f"{name}/int8_epilogue")
        new = m.add_layer("ReduceMean", name, inputs=[m.producer(src.layer, 0), table],
                          outputs=[Port(0, "U8" if levels else "FP32", list(last.outputs[0].dims),
                                        list(last.outputs[0].names))],
                          version=INT8, attrs={"keep_dims": op.attrs.get("keep_dims", "false"), "levels": str(levels)})
        m.replace_all_uses(_out(last), _out(new))
    m.remove_dead()
    return m


# ------------------------------------------------------------------------------------------ 8. scale
def fuse_scale(model: Model, copy: bool = True) -> Model:
    """``Multiply(x, c) -> Quantize`` with ``c`` constant and varying along the last axis only, the
    Quantize per tensor and the Multiply's only reader => ``Quantize(x, ..., c)``: one pass instead of
    two, each element rounded exactly as the two layers round it."""
    m = model.copy() if copy else model
    for q in [l for l in m.topological_order() if l.type == "Quantize" and l.version == INT8 and len(l.inputs) == 5]:
        mul = m.producer(q, 0).layer
        if mul.type != "Multiply" or mul.attrs.get("auto_broadcast", "numpy") != "numpy" \
                or len(m.consumers(_out(mul))) != 1:
            continue
        srcs = m.input_values(mul)
        consts = [i for i, v in enumerate(srcs) if is_constant(m, v)]
        if len(consts) != 1:
            continue
        x, c = srcs[1 - consts[0]], np.asarray(fold(m, srcs[consts[0]]))
        dims = list(x.port.dims)
        params = [np.asarray(fold(m, s)) for s in m.input_values(q)[1:]]
        if c.dtype != np.float32 or not dims or any(p.size != 1 for p in params) or c.ndim > len(dims) \
                or list(mul.outputs[0].dims) != dims or c.size != dims[-1] or (c.ndim and c.shape[-1] != c.size):
            continue
        name = q.name
        q.name = f"{name}/unscaled"
        scale = m.add_constant(np.ascontiguousarray(c.reshape(-1)), f"{name}/scale")
        new = m.add_layer("Quantize", name, inputs=[x, *m.input_values(q)[1:], scale], version=INT8,
                          attrs=dict(q.attrs),
                          outputs=[Port(0, "U8", list(q.outputs[0].dims), list(q.outputs[0].names))])
        m.replace_all_uses(_out(q), _out(new))
    m.remove_dead()
    return m


# ------------------------------------------------------------------------------------------ 9. input
def fuse_input_quantize(model: Model, copy: bool = True) -> Model:
    """``Quantize`` (per tensor, no absorbed scale) read only by an INT8 Convolution without a fused
    residual => the convolution takes the float input and quantizes it first (attribute ``quantize``:
    lo, hi, isc, ish; the same arithmetic as the Quantize kernel). The counters report the
    convolution I8 and the Quantize's layer NOT_RUN."""
    m = model.copy() if copy else model
    for conv in [l for l in m.topological_order() if l.type == "Convolution" and l.version == INT8]:
        src = m.producer(conv, 0)
        q = src.layer
        if q.type != "Quantize" or len(q.inputs) != 5 or len(conv.inputs) != 3 or "quantize" in conv.attrs \
                or len(m.consumers(src)) != 1:
            continue
        params = [np.asarray(fold(m, s)) for s in m.input_values(q)[1:]]
        if any(p.size != 1 for p in params):
            continue
        # as the Quantize kernel takes them: the crop in float32, the scale and shift in float64
        lo, hi = (float(np.float32(p.reshape(()))) for p in params[:2])
        isc, ish = (float(p.reshape(())) for p in params[2:])
        name = conv.name
        conv.name = f"{name}/codes"
        new = m.add_layer("Convolution", name, version=INT8, inputs=[m.producer(q, 0), *m.input_values(conv)[1:]],
                          attrs=dict(conv.attrs) | {"quantize": f"{lo!r}, {hi!r}, {isc!r}, {ish!r}"},
                          outputs=[Port(0, p.precision, list(p.dims), list(p.names)) for p in conv.outputs])
        m.replace_all_uses(_out(conv), _out(new))
    m.remove_dead()
    return m


PASSES = (split_fake_quantize, push_dequantize, fuse_weighted, fuse_matmul_codes, fuse_requantize, fuse_add,
          fuse_residual, fuse_avg_pool, fuse_mean, fuse_scale, fuse_input_quantize)  # low_precision's order
