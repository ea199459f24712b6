"""Conformance cases: recurrent cells and sequences (LSTM, GRU, RNN).

Weights are Consts as converters write them; OpenVINO's CPU plugin then runs its oneDNN RNN node for
default activations, no clip and (sequences) every length = T, and decomposes the op into plain ops
(cells) or a TensorIterator (sequences) otherwise: weights or lengths as Parameters, clip, other
activations, shorter lengths. Both forms are swept. Data are N(0, 1), weights N(0, 0.5^2): gates
neither all saturated nor all linear. f16 cases: both sides compute in f32 and round once, so they may
differ by one f16 ulp (2^-11 relative): rel 1e-3 there.
"""
from __future__ import annotations

import numpy as np
from openvino import opset1, opset3, opset4, opset5

from tests.conformance._build import C, case, f32, refused

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
SEQUENCE = {"lstm": opset5.lstm_sequence, "gru": opset5.gru_sequence, "rnn": opset5.rnn_sequence}


def _wire(op_fn, args, **attrs):
    """``args``: the op's inputs in order, each ``(True, array)`` for a Parameter or ``(False, array)``
    for a Const. The case's build function and its Parameter inputs."""
    inputs = [a for is_param, a in args if is_param]

    def build(*params):
        it = iter(params)
        return op_fn(*[next(it) if is_param else C(a, a.dtype) for is_param, a in args], **attrs)
    return build, inputs


def _weights(kind, d, hs, i, lbr=False, dtype=np.float32, scale=0.5):
    g = GATES[kind]
    shape = (d,) if d else ()
    return (f32(*shape, g * hs, i, scale=scale).astype(dtype), f32(*shape, g * hs, hs, scale=scale).astype(dtype),
            f32(*shape, (g + int(lbr)) * hs, scale=scale).astype(dtype))


def cell(kind, version, label, n=3, i=4, hs=5, params_w=False, lbr=False, dtype=np.float32, rel=1e-4,
         declare=case, **attrs):
    op = {("lstm", "opset1"): opset1.lstm_cell, ("lstm", "opset4"): opset4.lstm_cell,
          ("gru", "opset3"): opset3.gru_cell, ("rnn", "opset1"): opset3.rnn_cell}[kind, version]
    states = [f32(n, hs) for _ in range(2 if kind == "lstm" else 1)]
    if kind == "gru":
        attrs["linear_before_reset"] = lbr
    if kind == "rnn":
        attrs.setdefault("activations", ["tanh"])
        attrs.setdefault("activations_alpha", [])
        attrs.setdefault("activations_beta", [])
    args = [(True, a.astype(dtype)) for a in [f32(n, i), *states]]
    args += [(params_w, a) for a in _weights(kind, 0, hs, i, lbr, dtype)]
    build, inputs = _wire(op, args, hidden_size=hs, **attrs)
    op_name = {"lstm": "LSTMCell", "gru": "GRUCell", "rnn": "RNNCell"}[kind]
    if declare is refused:
        refused(op_name, version, label, build, *inputs)
    else:
        case(op_name, version, label, build, *inputs, rel=rel)


def sequence(kind, label, n=3, t=4, i=4, hs=5, direction="forward", lengths=None, params_w=False,
             params_len=False, lbr=False, dtype=np.float32, len_type=np.int32, w_scale=0.5, rel=1e-4, declare=case,
             **attrs):
    d = 2 if direction == "bidirectional" else 1
    lengths = np.full(n, t, len_type) if lengths is None else np.array(lengths, len_type)
    if kind == "gru":
        attrs["linear_before_reset"] = lbr
    data = [f32(n, t, i)] + [f32(n, d, hs) for _ in range(2 if kind == "lstm" else 1)]
    args = [(True, a.astype(dtype)) for a in data]
    args += [(params_len, lengths)] + [(params_w, a) for a in _weights(kind, d, hs, i, lbr, dtype, w_scale)]
    build, inputs = _wire(SEQUENCE[kind], args, hidden_size=hs, direction=direction, **attrs)
    op_name = {"lstm": "LSTMSequence", "gru": "GRUSequence", "rnn": "RNNSequence"}[kind]
    if declare is refused:
        refused(op_name, "opset5", label, build, *inputs)
    else:
        case(op_name, "opset5", label, build, *inputs, rel=rel)


# ------------------------------------------------------------------------------------------- cells
ACTS = {"lstm": [["tanh", "relu", "sigmoid"], ["relu", "sigmoid", "relu"]],
        "gru": [["tanh", "relu"], ["relu", "sigmoid"]],
        "rnn": [["relu"], ["sigmoid"]]}
for kind, version in (("lstm", "opset1"), ("lstm", "opset4"), ("gru", "opset3"), ("rnn", "opset1")):
    cell(kind, version, "basic")
    cell(kind, version, "batch1-h8", n=1, i=6, hs=8)
    cell(kind, version, "clip", clip=0.7)
    cell(kind, version, "params-w", params_w=True)
    for acts in ACTS[kind]:
        cell(kind, version, "acts-" + "-".join(acts), activations=acts)
        cell(kind, version, "params-w-acts-" + "-".join(acts), params_w=True, activations=acts)
    cell(kind, version, "params-w-clip", params_w=True, clip=0.7)
    cell(kind, version, "f16", dtype=np.float16, rel=1e-3)
    # activations_alpha/beta: none of sigmoid, tanh, relu takes one; the CPU plugin ignores them
    cell(kind, version, "alpha-beta-ignored", activations_alpha=[0.5, 2.0], activations_beta=[0.25])
    cell(kind, version, "hardsigmoid", declare=refused, activations=["hardsigmoid"] * len(ACTS[kind][0]),
         activations_alpha=[0.2], activations_beta=[0.5])
cell("gru", "opset3", "lbr", lbr=True)
cell("gru", "opset3", "lbr-clip", lbr=True, clip=0.7)
cell("gru", "opset3", "params-w-lbr", lbr=True, params_w=True)

# --------------------------------------------------------------------------------------- sequences
SEQ_ACTS = {"lstm": [["tanh", "relu", "sigmoid"], ["relu", "sigmoid", "relu"]],
            "gru": [["tanh", "relu"], ["sigmoid", "relu"]],
            "rnn": [["relu"], ["sigmoid"]]}
for kind in ("lstm", "gru", "rnn"):
    for direction in ("forward", "reverse", "bidirectional"):
        sequence(kind, f"{direction}", direction=direction)
        sequence(kind, f"{direction}-lengths", direction=direction, lengths=[4, 2, 3])
        sequence(kind, f"{direction}-lengths-param", direction=direction, lengths=[1, 4, 3], params_len=True)
        # a length 0: Y all 0 and, as the CPU plugin does, final states 0 (not the initial ones)
        sequence(kind, f"{direction}-length0", direction=direction, lengths=[0, 2, 4])
        sequence(kind, f"{direction}-params-w", direction=direction, params_w=True)
        sequence(kind, f"{direction}-params-w-lengths", direction=direction, lengths=[3, 1, 4], params_w=True)
        sequence(kind, f"{direction}-t1", t=1, direction=direction)
        sequence(kind, f"{direction}-clip", direction=direction, clip=0.7)
        if kind == "gru":
            sequence(kind, f"{direction}-lbr", direction=direction, lbr=True)
            sequence(kind, f"{direction}-lbr-lengths", direction=direction, lbr=True, lengths=[2, 4, 3])
            sequence(kind, f"{direction}-lbr-params-w", direction=direction, lbr=True, params_w=True)
    for acts in SEQ_ACTS[kind]:
        sequence(kind, "acts-" + "-".join(acts), direction="bidirectional", activations=acts)
    # lengths past T (forward: the CPU plugin's reverse form fails at inference on them): Y over all T
    # steps, final states 0 for those items
    sequence(kind, "lengths-past-t", lengths=[5, 9, 4])
    sequence(kind, "lengths-i64", direction="bidirectional", lengths=[2, 4, 1], len_type=np.int64)
    sequence(kind, "alpha-beta-ignored", direction="bidirectional", activations_alpha=[0.5], activations_beta=[2.0])
    sequence(kind, "f16", direction="bidirectional", dtype=np.float16, rel=1e-3)
    sequence(kind, "f16-lengths", direction="bidirectional", lengths=[4, 2, 3], dtype=np.float16, rel=1e-3)
    sequence(kind, "batch1", n=1, t=5, direction="bidirectional")
    # larger: weights ~ 1/sqrt(H) as trained and initialised nets have them. With N(0, 0.5^2) at H = 64 the
    # pre-activations reach +-10 for outputs within +-1, and the f32 rounding of those 128-term dot products
    # (oneDNN's summation order vs BLAS's, each ~3e-5 off float64) reaches 2e-4 of max|Y|: conditioning,
    # not semantics
    sequence(kind, "larger", n=4, t=12, i=24, hs=32, direction="bidirectional", lengths=[12, 7, 1, 10],
             w_scale=32 ** -0.5)
    sequence(kind, "larger-full", n=8, t=16, i=64, hs=64, direction="bidirectional", w_scale=64 ** -0.5)
    sequence(kind, "hardsigmoid", declare=refused, activations=["hardsigmoid"] * len(ACTS[kind][0]),
             activations_alpha=[0.2], activations_beta=[0.5])

# ------------------------------------------------------------------------- in a model, as converters write it
# Parameter -> LSTMSequence (weights Consts, lengths a Const of T) -> Squeeze(num_directions) -> MatMul
N_, T_, I_, H_ = 2, 6, 8, 16
W_, R_, B_ = _weights("lstm", 1, H_, I_)
FC_ = f32(H_, 3, scale=0.5)


def _lstm_model(x):
    h0 = opset1.constant(np.zeros((N_, 1, H_), np.float32))
    seq = opset5.lstm_sequence(x, h0, h0, C([T_] * N_, np.int32), C(W_, np.float32), C(R_, np.float32),
                               C(B_, np.float32), H_, "forward")
    y = opset1.squeeze(seq.output(0), C([1]))
    return opset1.matmul(y, C(FC_, np.float32), False, False)


case("LSTMSequence", "opset5", "model-squeeze-matmul", _lstm_model, f32(N_, T_, I_))
