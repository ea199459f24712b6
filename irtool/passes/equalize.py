"""Cross-layer equalization (Nagel et al., "Data-Free Quantization", 2019) across ReLU.

For ``W1 -> [bias] -> ReLU -> [MaxPool] -> W2``, ReLU and max-pooling are positively homogeneous
(``relu(x / s) = relu(x) / s`` for ``s > 0``), so dividing output channel ``c`` of the first op (its
weights and bias) by ``s_c`` and multiplying input channel ``c`` of the second op by ``s_c``
computes the same function. With ``s_c = sqrt(r1_c / r2_c)`` (``r`` = the channel's max |weight|)
both ops end with equal per-channel ranges: no channel dominates the per-tensor activation range
between them, nor the per-output-channel weight range of the second op. That is what a model with a
few "loud" channels needs to survive per-tensor INT8 activations.

The same rescaling, with chosen factors, makes such a model on purpose (:func:`rescale`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irtool.ir.graph import Input, Layer, Model, Output
from irtool.passes.fold import fold, is_constant
from irtool.passes.patterns import constant_addend, single_user

POSITIVE_HOMOGENEOUS = {"ReLU", "MaxPool"}  # f(x / s) = f(x) / s per channel for s > 0


@dataclass
class Pair:
    """Two weighted ops with a channel-preserving, positively homogeneous path between them."""

    first: Layer  # its output channels are scaled down
    bias: tuple[Layer, int] | None  # the Add after ``first`` and the position of its constant input
    second: Layer  # its input channels are scaled up

    def __str__(self) -> str:
        return f"{self.first.name} -> {self.second.name}"


def pairs(model: Model) -> list[Pair]:
    """Every equalizable pair of ``model``, in topological order of the first op."""
    const: dict = {}
    found = []
    for op in model.topological_order():
        if _out_axis(model, op, const) is None:
            continue
        tail, bias = op, None
        addend = constant_addend(model, op, const)
        if addend is not None and _per_channel(addend[2], _channels(op)):
            bias, tail = (addend[0], addend[1]), addend[0]
        relu = False
        while True:  # walk ReLU / MaxPool readers, each the only reader of what it reads
            user = single_user(model, Output(tail, tail.outputs[0]))
            if user is None:
                break
            if user.layer.type in POSITIVE_HOMOGENEOUS and user.index == 0 and _keeps_channels(op, user.layer):
                relu |= user.layer.type == "ReLU"
                tail = user.layer
                continue
            if relu and user.index == 0 and _in_axis(model, user.layer, const) is not None \
                    and _weights(model, user.layer).shape[_in_axis(model, user.layer, const)] == _channels(op):
                found.append(Pair(op, bias, user.layer))
            break
    return found


def equalize(model: Model, rounds: int = 8, tolerance: float = 1e-3) -> tuple[Model, int]:
    """A copy of ``model`` with every pair equalized (repeated: a layer in a chain belongs to two
    pairs); returns it and the number of pairs. The function the model computes does not change."""
    out = model.copy()
    found = pairs(out)
    for _ in range(rounds):
        worst = 0.0
        for pair in found:
            r1 = _channel_range(_weights(out, pair.first), _out_axis(out, pair.first))
            r2 = _channel_range(_weights(out, pair.second), _in_axis(out, pair.second))
            s = np.ones_like(r1)
            ok = (r1 > 0) & (r2 > 0)
            s[ok] = np.sqrt(r1[ok] / r2[ok])
            rescale(out, pair, s)
            worst = max(worst, float(np.abs(np.log(s)).max(initial=0.0)))
        if worst < tolerance:
            break
    return out, len(found)


def rescale(model: Model, pair: Pair, s: np.ndarray) -> None:
    """In place: output channel ``c`` of ``pair.first`` (and its bias) divided by ``s[c]``, input
    channel ``c`` of ``pair.second`` multiplied by it. ``s`` must be positive."""
    s = np.asarray(s, dtype=np.float64)
    if np.any(s <= 0):
        raise ValueError("channel scales must be positive (ReLU commutes only with positive scaling)")
    _scale_weights(model, pair.first, _out_axis(model, pair.first), 1.0 / s)
    if pair.bias is not None:
        add, index = pair.bias
        b = fold(model, model.producer(add, index))  # one value per channel (checked by pairs())
        _set_input(model, add, index, (b.reshape(-1) / s).astype(b.dtype).reshape(b.shape))
    _scale_weights(model, pair.second, _in_axis(model, pair.second), s)
    model.remove_dead()


# ------------------------------------------------------------------------------------------- layouts
def _out_axis(model: Model, op: Layer, const: dict | None = None) -> int | None:
    """The axis of ``op``'s constant weights that indexes its output channels (None: not weighted)."""
    if not _has_weights(model, op, const):
        return None
    w = model.producer(op, 1).port.dims
    if op.type == "Convolution":
        return 0
    if op.type == "GroupConvolution":
        return 0 if len(w) > 2 and w[1] == 1 and w[2] == 1 else None  # depthwise only
    if op.type == "MatMul" and len(w) == 2:
        return 0 if op.attr_bool("transpose_b", False) else 1
    return None


def _in_axis(model: Model, op: Layer, const: dict | None = None) -> int | None:
    """The axis of ``op``'s constant weights that indexes its input channels."""
    if not _has_weights(model, op, const):
        return None
    w = model.producer(op, 1).port.dims
    if op.type == "Convolution":
        return 1
    if op.type == "GroupConvolution":
        return 0 if len(w) > 2 and w[1] == 1 and w[2] == 1 else None
    if op.type == "MatMul" and len(w) == 2 and not op.attr_bool("transpose_a", False):
        return 1 if op.attr_bool("transpose_b", False) else 0
    return None


def _has_weights(model: Model, op: Layer, const: dict | None) -> bool:
    return (op.type in ("Convolution", "GroupConvolution", "MatMul") and len(op.inputs) == 2
            and not is_constant(model, model.producer(op, 0), const) and is_constant(model, model.producer(op, 1), const))


def _channels(op: Layer) -> int:
    dims = op.outputs[0].dims
    return dims[-1] if op.type == "MatMul" else dims[1]


def _keeps_channels(first: Layer, op: Layer) -> bool:
    return op.type == "ReLU" or first.type != "MatMul"  # MaxPool pools NC* maps: not a MatMul's output


def _per_channel(value: np.ndarray, channels: int) -> bool:
    return value.size == channels and max(value.shape, default=1) == channels


def _weights(model: Model, op: Layer) -> np.ndarray:
    return fold(model, model.producer(op, 1))


def _channel_range(w: np.ndarray, axis: int) -> np.ndarray:
    return np.abs(np.moveaxis(w, axis, 0)).reshape(w.shape[axis], -1).max(axis=1).astype(np.float64)


def _scale_weights(model: Model, op: Layer, axis: int, factor: np.ndarray) -> None:
    w = _weights(model, op)
    shape = [1] * w.ndim
    shape[axis] = w.shape[axis]
    _set_input(model, op, 1, (w * factor.reshape(shape)).astype(w.dtype))


def _set_input(model: Model, op: Layer, index: int, value: np.ndarray) -> None:
    """Feed ``op``'s input ``index`` with a new constant (the caller removes what died)."""
    old = model.producer(op, index)
    name = old.layer.name if old.layer.type == "Const" else f"{op.name}/input_{index}"
    model.connect(model.add_constant(np.ascontiguousarray(value), name), Input(op, op.inputs[index]))
