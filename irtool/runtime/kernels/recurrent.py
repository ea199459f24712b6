"""Recurrent cells and sequences: LSTMCell, LSTMSequence, GRUCell, GRUSequence, RNNCell, RNNSequence.

Semantics of OpenVINO's CPU plugin, measured against it (tests/conformance/ops_recurrent.py):

- Weights hold the gates as row blocks in OpenVINO's order: LSTM ``f, i, c, o`` ([4H, I]), GRU
  ``z, r, h`` ([3H, I]), RNN one block. Cells take ``X [N, I]``; sequences ``X [N, T, I]``, states
  ``[N, D, H]``, weights ``[D, G*H, I]`` with D = 2 for ``bidirectional`` (direction 0 forward, 1
  reverse) and give ``Y [N, D, T, H]``.
- ``clip`` > 0 clamps every gate's pre-activation to [-clip, clip] before its activation.
- ``activations`` are ``sigmoid``, ``tanh`` or ``relu`` (``f, g, h`` for LSTM, ``f, g`` for GRU, ``f``
  for RNN); ``activations_alpha``/``_beta`` are accepted and unused: none of these three takes one.
- ``sequence_lengths`` (i32 or i64): batch item b runs ``len_b`` steps (clamped to [0, T]); ``Y`` is 0
  from step ``len_b`` on, the final states are the states after step ``len_b - 1``, and 0 (not the
  initial states) for a length 0, < 0 or > T. ``reverse`` runs over ``X[b, len_b-1], ..., X[b, 0]`` and
  writes each step's output at its own time index (ReverseSequence semantics), so the final reverse
  state is the one after ``X[b, 0]``. (The plugin's reverse form fails at inference on a length > T;
  irtool computes it as forward does.)
- GRU ``linear_before_reset``: B is [4H] = ``[Wb_z+Rb_z, Wb_r+Rb_r, Wb_h, Rb_h]`` and the candidate
  is ``g(X Wh' + r * (H Rh' + Rb_h) + Wb_h)``; otherwise B is [3H] and it is ``g(X Wh' + (r * H) Rh' + B_h)``.

- LSTMCell-1 is LSTMCell-4: the plugin ignores ``weights_format`` (the rows are f, i, c, o whatever it
  says), ``input_forget`` and a peephole input P (tests/test_recurrent.py).
- f16 data: computed in f32, outputs rounded to f16 once, as the plugin does with f32 inference precision.

The kernel is its own numpy reference: float32 throughout, as the CPU plugin computes f32; ``X Wᵀ + B``
for every time step in one matmul, then a Python loop over the steps with one ``H Rᵀ`` matmul over
the whole batch per step.
"""
from __future__ import annotations

import numpy as np

from irtool.errors import UnsupportedError
from irtool.runtime.registry import kernel, specializer


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.float32(1) / (np.float32(1) + np.exp(-x))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0))


_ACTIVATIONS = {"sigmoid": _sigmoid, "tanh": np.tanh, "relu": _relu}


def _activations(text: str, defaults: tuple[str, ...]) -> list:
    """``"sigmoid, tanh, tanh"`` -> the functions; missing trailing ones take the defaults."""
    names = [a.strip().lower() for a in text.split(",") if a.strip()]
    unknown = [n for n in names if n not in _ACTIVATIONS]
    if unknown:  # the CPU plugin refuses these (hardsigmoid, affine... of ONNX) at compile time
        raise UnsupportedError(f"recurrent activation '{unknown[0]}' is not supported "
                               "(sigmoid, tanh and relu are)")
    names += list(defaults[len(names):])
    return [_ACTIVATIONS[n] for n in names[:len(defaults)]]


def _clipped(g: np.ndarray, clip: float) -> np.ndarray:
    if clip > 0:
        np.clip(g, np.float32(-clip), np.float32(clip), out=g)
    return g


# ------------------------------------------------------------------------------------------- steps
# Each step takes ``gx`` = X_t Wᵀ + (bias) for the whole batch [N, G*H], the states [N, H] and the
# recurrent weights transposed [H, G*H]; it returns the new states, hidden state first.

def _lstm_step(gx, h, c, rt, acts, clip, hs):
    f_act, g_act, h_act = acts
    g = _clipped(gx + h @ rt, clip)
    f = f_act(g[:, :hs])
    i = f_act(g[:, hs:2 * hs])
    z = g_act(g[:, 2 * hs:3 * hs])
    o = f_act(g[:, 3 * hs:])
    c = f * c + i * z
    return o * h_act(c), c


def _gru_step(gx, h, rt, rb_h, lbr, acts, clip, hs):
    f_act, g_act = acts
    if lbr:
        gh = h @ rt
        zr = _clipped(gx[:, :2 * hs] + gh[:, :2 * hs], clip)
        z, r = f_act(zr[:, :hs]), f_act(zr[:, hs:])
        cand = g_act(_clipped(gx[:, 2 * hs:] + r * (gh[:, 2 * hs:] + rb_h), clip))
    else:
        zr = _clipped(gx[:, :2 * hs] + h @ rt[:, :2 * hs], clip)
        z, r = f_act(zr[:, :hs]), f_act(zr[:, hs:])
        cand = g_act(_clipped(gx[:, 2 * hs:] + (r * h) @ rt[:, 2 * hs:], clip))
    return ((np.float32(1) - z) * cand + z * h,)


def _rnn_step(gx, h, rt, acts, clip, hs):
    return (acts[0](_clipped(gx + h @ rt, clip)),)


# ------------------------------------------------------------------------------------- the drivers

def _f32(*arrays):
    return [np.ascontiguousarray(a, dtype=np.float32) for a in arrays]


def _as(dtype, result):
    """The outputs in the data's element type: f16 data are computed in f32 (the CPU plugin's
    inference precision here) and rounded once at the end."""
    if dtype == np.float32 or dtype.kind != "f":
        return result
    if isinstance(result, tuple):
        return tuple(a.astype(dtype) for a in result)
    return result.astype(dtype)


def _gru_bias(b, hs, lbr):
    """(the bias added to X Wᵀ, Rb_h added inside the reset product for linear_before_reset)."""
    if lbr:
        return b[..., :3 * hs], b[..., 3 * hs:4 * hs]
    return b, None


def _sequence(x, states, lengths, w, r, b, direction, step):
    """Run ``step(gx_t, *states_d, d)`` over the time steps of every direction d; Y and final states."""
    n, t_len, _ = x.shape
    hs = r.shape[-1]
    ndir = w.shape[0]
    given = np.broadcast_to(np.asarray(lengths).reshape(-1).astype(np.int64), (n,))
    lengths = np.clip(given, 0, t_len)
    # the CPU plugin (its TensorIterator form, taken whenever a length differs from T) takes a final
    # state only from a step len_b - 1 in [0, T): zeros for a length 0, < 0 or > T (measured)
    has_final = ((given >= 1) & (given <= t_len))[:, None]
    steps = np.arange(t_len)
    mask = steps[None, :] < lengths[:, None]  # [N, T]: the steps each batch item runs
    full = bool(mask.all())
    last = int(lengths.max(initial=0))
    y = np.zeros((n, ndir, t_len, hs), np.float32)
    finals = [np.empty((n, ndir, hs), np.float32) for _ in states]
    rows = np.arange(n)[:, None]
    for d in range(ndir):
        reverse = direction == "reverse" or d == 1
        # reverse: batch item b reads X[b, len_b-1-t] at step t (its own length, as ReverseSequence);
        # the index map is its own inverse, so the same gather puts Y back in time order
        order = np.where(mask, lengths[:, None] - 1 - steps[None, :], steps[None, :]) if reverse else None
        xs = x[rows, order] if reverse else x
        # X Wᵀ + B for all the steps in one GEMM, laid out [T, N, G*H] for the step loop
        gx = (xs.transpose(1, 0, 2).reshape(t_len * n, -1) @ w[d].T + b[d]).reshape(t_len, n, -1)
        rt = np.ascontiguousarray(r[d].T)
        state = [s[:, d] for s in states]
        for t in range(last):
            new = step(gx[t], *state, rt, d)
            if full:
                state = list(new)
                y[:, d, t] = new[0]
            else:
                m = mask[:, t, None]
                state = [np.where(m, a, old) for a, old in zip(new, state)]
                y[:, d, t] = np.where(m, new[0], np.float32(0))
        for out, s in zip(finals, state):
            out[:, d] = np.where(has_final, s, np.float32(0))
        if reverse:
            y[:, d] = y[:, d][rows, order]
    return (y, *finals)


def _check_direction(direction: str, ndir: int) -> None:
    if direction not in ("forward", "reverse", "bidirectional"):
        raise UnsupportedError(f"recurrent direction '{direction}' is not one of forward, reverse, bidirectional")
    if (direction == "bidirectional") != (ndir == 2):
        raise UnsupportedError(f"direction '{direction}' with weights for {ndir} direction(s)")


# ---------------------------------------------------------------------------------------------- LSTM

_LSTM_DEFAULT = ("sigmoid", "tanh", "tanh")


@kernel("LSTMCell", versions=("opset1",))
def lstm_cell_v0(x, h, c, w, r, b, p=None, *, hidden_size: int, activations: str = "sigmoid, tanh, tanh",
                 activations_alpha: str = "", activations_beta: str = "", clip: float = 0.0,
                 input_forget: bool = False, weights_format: str = "fico"):
    """LSTMCell-1 computes as LSTMCell-4. Measured: OpenVINO's CPU plugin ignores ``weights_format``
    (the rows are f, i, c, o whatever it says), ``input_forget`` and the peepholes P (a 7th input,
    which OpenVINO's serializer does not even write); so does irtool."""
    return lstm_cell(x, h, c, w, r, b, hidden_size=hidden_size, activations=activations, clip=clip)


@kernel("LSTMCell", versions=("opset4",))
def lstm_cell(x, h, c, w, r, b, *, hidden_size: int, activations: str = "sigmoid, tanh, tanh",
              activations_alpha: str = "", activations_beta: str = "", clip: float = 0.0):
    """Ho, Co [N, H] after one step from H, C [N, H] with X [N, I]."""
    dtype = np.asarray(x).dtype
    x, h, c, w, r, b = _f32(x, h, c, w, r, b)
    acts = _activations(activations, _LSTM_DEFAULT)
    return _as(dtype, _lstm_step(x @ w.T + b, h, c, np.ascontiguousarray(r.T), acts, clip, hidden_size))


@kernel("LSTMSequence", versions=("opset5",))
def lstm_sequence(x, h0, c0, seq_lengths, w, r, b, *, hidden_size: int, direction: str,
                  activations: str = "sigmoid, tanh, tanh", activations_alpha: str = "",
                  activations_beta: str = "", clip: float = 0.0):
    """Y [N, D, T, H], Ho, Co [N, D, H]."""
    dtype = np.asarray(x).dtype
    x, h0, c0, w, r, b = _f32(x, h0, c0, w, r, b)
    _check_direction(direction, w.shape[0])
    acts = _activations(activations, _LSTM_DEFAULT)
    return _as(dtype, _sequence(x, [h0, c0], seq_lengths, w, r, b, direction,
                                lambda gx, h, c, rt, d: _lstm_step(gx, h, c, rt, acts, clip, hidden_size)))


# ----------------------------------------------------------------------------------------------- GRU

_GRU_DEFAULT = ("sigmoid", "tanh")


@kernel("GRUCell", versions=("opset3",))
def gru_cell(x, h, w, r, b, *, hidden_size: int, activations: str = "sigmoid, tanh", activations_alpha: str = "",
             activations_beta: str = "", clip: float = 0.0, linear_before_reset: bool = False):
    """Ho [N, H] after one step from H [N, H] with X [N, I]."""
    dtype = np.asarray(x).dtype
    x, h, w, r, b = _f32(x, h, w, r, b)
    acts = _activations(activations, _GRU_DEFAULT)
    bx, rb_h = _gru_bias(b, hidden_size, linear_before_reset)
    return _as(dtype, _gru_step(x @ w.T + bx, h, np.ascontiguousarray(r.T), rb_h, linear_before_reset, acts,
                                clip, hidden_size)[0])


@kernel("GRUSequence", versions=("opset5",))
def gru_sequence(x, h0, seq_lengths, w, r, b, *, hidden_size: int, direction: str,
                 activations: str = "sigmoid, tanh", activations_alpha: str = "", activations_beta: str = "",
                 clip: float = 0.0, linear_before_reset: bool = False):
    """Y [N, D, T, H], Ho [N, D, H]."""
    dtype = np.asarray(x).dtype
    x, h0, w, r, b = _f32(x, h0, w, r, b)
    _check_direction(direction, w.shape[0])
    acts = _activations(activations, _GRU_DEFAULT)
    bx, rb_h = _gru_bias(b, hidden_size, linear_before_reset)
    return _as(dtype, _sequence(x, [h0], seq_lengths, w, r, bx, direction,
                                lambda gx, h, rt, d: _gru_step(gx, h, rt, None if rb_h is None else rb_h[d],
                                                               linear_before_reset, acts, clip, hidden_size)))


# ----------------------------------------------------------------------------------------------- RNN

@kernel("RNNCell", versions=("opset1",))
def rnn_cell(x, h, w, r, b, *, hidden_size: int, activations: str = "tanh", activations_alpha: str = "",
             activations_beta: str = "", clip: float = 0.0):
    """Ho [N, H] = f(X Wᵀ + H Rᵀ + B). OpenVINO writes RNNCell-3 as version opset1."""
    dtype = np.asarray(x).dtype
    x, h, w, r, b = _f32(x, h, w, r, b)
    acts = _activations(activations, ("tanh",))
    return _as(dtype, _rnn_step(x @ w.T + b, h, np.ascontiguousarray(r.T), acts, clip, hidden_size)[0])


@kernel("RNNSequence", versions=("opset5",))
def rnn_sequence(x, h0, seq_lengths, w, r, b, *, hidden_size: int, direction: str, activations: str = "tanh",
                 activations_alpha: str = "", activations_beta: str = "", clip: float = 0.0):
    """Y [N, D, T, H], Ho [N, D, H]."""
    dtype = np.asarray(x).dtype
    x, h0, w, r, b = _f32(x, h0, w, r, b)
    _check_direction(direction, w.shape[0])
    acts = _activations(activations, ("tanh",))
    return _as(dtype, _sequence(x, [h0], seq_lengths, w, r, b, direction,
                                lambda gx, h, rt, d: _rnn_step(gx, h, rt, acts, clip, hidden_size)))


# ------------------------------------------------------------------------------------ load-time checks

@specializer(lstm_cell_v0, lstm_cell, lstm_sequence, gru_cell, gru_sequence, rnn_cell, rnn_sequence)
def _check_attributes(consts, *, activations: str | None = None, direction: str | None = None, **_):
    """Refuse at load time what the CPU plugin refuses to compile: an activation other than sigmoid,
    tanh or relu, an unknown direction. (The kernel as is.)"""
    if activations is not None:
        _activations(activations, ())
    if direction is not None and direction not in ("forward", "reverse", "bidirectional"):
        _check_direction(direction, 1)
    return None
