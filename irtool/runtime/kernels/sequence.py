"""Sequence decoding: CTCGreedyDecoder, CTCGreedyDecoderSeqLen (text recognizers' heads), CTCLoss and
GatherTree (beam search back-tracking).

Loops over a batch's time steps in Python: these run once per inference on small tensors
(``[T, N, C]`` logits after the network), and read as the spec does.
"""
from __future__ import annotations

import numpy as np

from irtool.errors import InputError
from irtool.runtime.kernels.elementwise import _numpy_type
from irtool.runtime.registry import kernel


def _greedy(classes: np.ndarray, length: int, blank: int, merge_repeated: bool) -> list[int]:
    """The decoded labels of one sequence: argmax per step, repeats merged, blanks dropped."""
    out, previous = [], -1
    for c in classes[:length]:
        if c != blank and not (merge_repeated and c == previous):
            out.append(int(c))
        previous = c
    return out


@kernel("CTCGreedyDecoder")
def ctc_greedy_decoder(x, seq_mask, *, ctc_merge_repeated: bool = True):
    """``x``: [T, N, C] logits, ``seq_mask``: [T, N] (1 while the sequence goes on); blank is C-1.
    Out: [N, T, 1, 1] labels as floats, -1 after the end."""
    t, n, c = x.shape
    classes = np.argmax(x, axis=2)
    out = np.full((n, t, 1, 1), -1, x.dtype)
    for b in range(n):
        length = int(np.argmin(seq_mask[:, b] != 0)) if not np.all(seq_mask[:, b] != 0) else t
        labels = _greedy(classes[:, b], length, c - 1, ctc_merge_repeated)
        out[b, :len(labels), 0, 0] = labels
    return out


@kernel("CTCGreedyDecoderSeqLen")
def ctc_greedy_decoder_seq_len(x, sequence_length, blank_index=None, *, merge_repeated: bool = True,
                               classes_index_type: str = "i32", sequence_length_type: str = "i32"):
    """``x``: [N, T, C]; out: the labels [N, T] (-1 after the end) and their count per sequence."""
    n, t, c = x.shape
    blank = int(np.asarray(blank_index).reshape(-1)[0]) if blank_index is not None else c - 1
    classes = np.argmax(x, axis=2)
    out = np.full((n, t), -1, _numpy_type(classes_index_type))
    lengths = np.zeros(n, _numpy_type(sequence_length_type))
    for b, length in enumerate(np.asarray(sequence_length).reshape(-1)):
        labels = _greedy(classes[b], min(int(length), t), blank, merge_repeated)
        out[b, :len(labels)], lengths[b] = labels, len(labels)
    return out, lengths


@kernel("GatherTree")
def gather_tree(step_ids, parent_idx, max_seq_len, end_token):
    """Beam search's final sequences: from each beam's last step, follow the parents back; after a
    sequence's end token, the rest is end tokens. All [T, B, W]."""
    t, b, w = step_ids.shape
    end = np.asarray(end_token).reshape(-1)[0]
    out = np.empty_like(step_ids)
    for batch in range(b):
        length = min(max(int(np.asarray(max_seq_len).reshape(-1)[batch]), 0), t)
        out[length:, batch, :] = end
        for beam in range(w):
            parent = beam
            for time in range(length - 1, -1, -1):
                out[time, batch, beam] = step_ids[time, batch, parent]
                parent = int(parent_idx[time, batch, parent])
        finished = np.zeros(w, bool)
        for time in range(length):  # once a beam meets the end token, everything after it is end
            out[time, batch, finished] = end
            finished |= out[time, batch] == end
    return out


# ------------------------------------------------------------------------------------------- CTCLoss
def _log_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(e^a + e^b) in f32 as the CPU plugin's: the larger plus log1p(exp(smaller - larger))."""
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    with np.errstate(invalid="ignore"):
        return np.where(hi == -np.inf, hi, hi + np.log1p(np.exp(lo - hi)))


def _ctc_target(labels: np.ndarray, blank: int, collapse: bool, unique: bool) -> list[int]:
    """The label sequence with a blank before each label and one at the end. ``unique`` keeps each
    label's first occurrence (and wins over ``collapse``, which merges runs of one label)."""
    seq = [int(v) for v in labels]
    if unique:
        seq = list(dict.fromkeys(seq))
    elif collapse:
        seq = [v for i, v in enumerate(seq) if i == 0 or v != seq[i - 1]]
    ext = [blank] * (2 * len(seq) + 1)
    ext[1::2] = seq
    return ext


@kernel("CTCLoss", versions=("opset4",))
def ctc_loss(logits, logit_length, labels, label_length, blank_index=None, *,
             preprocess_collapse_repeated: bool = False, ctc_merge_repeated: bool = True, unique: bool = False):
    """``logits`` [N, T, C], ``labels`` [N, T]: out [N], each sequence's ``-log p(labels | logits)``
    over its first ``logit_length`` steps and ``label_length`` labels (blank: C-1 unless given).

    The CPU plugin's backward recursion over the blank-extended labels, all sequences at once
    (aligned at their last step), one vectorised step per time step. Its log-softmax: ``exp`` in
    f32 summed in f64, no max subtracted. Without ``ctc_merge_repeated`` a label cannot repeat
    across steps (only blanks stay) and a label may follow itself without a blank between."""
    n, t_max, c = logits.shape
    blank = c - 1 if blank_index is None else int(np.asarray(blank_index).reshape(-1)[0])
    steps = np.asarray(logit_length).astype(np.int64).reshape(-1)
    lengths = np.asarray(label_length).astype(np.int64).reshape(-1)
    if ((steps < 0) | (lengths < 0) | (steps > t_max) | (lengths > steps)).any():
        raise InputError("CTCLoss: a logit length is negative or above the steps, or a label length above "
                         "its logit length")
    x = logits.astype(np.float32)
    with np.errstate(over="ignore"):
        log_sum = np.log(np.exp(x).sum(axis=2, dtype=np.float64))  # [N, T]
    targets = [_ctc_target(np.asarray(labels)[b, :lengths[b]], blank, preprocess_collapse_repeated, unique)
               for b in range(n)]
    s_max = max(len(e) for e in targets)
    ext = np.full((n, s_max), blank, np.int64)
    real = np.zeros((n, s_max), bool)
    for b, e in enumerate(targets):
        ext[b, :len(e)], real[b, :len(e)] = e, True
    # log-probabilities of each extended label at each step; the padding states never weigh
    lp = (np.take_along_axis(x, np.broadcast_to(ext[:, None, :], (n, t_max, s_max)), axis=2)
          - log_sum[:, :, None]).astype(np.float32)
    lp = np.where(real[:, None, :], lp, np.float32(-np.inf))
    stay_ok = np.ones((n, s_max), bool) if ctc_merge_repeated else (ext == blank)
    nxt2 = np.concatenate([ext[:, 2:], np.full((n, 2), blank)], axis=1)
    skip_ok = (ext != blank) & ((nxt2 != ext) if ctc_merge_repeated else True)
    skip_ok[:, s_max - 2:] = False
    ninf = np.float32(-np.inf)
    beta = np.full((n, s_max), ninf, np.float32)
    sizes = np.array([len(e) for e in targets])
    rows = np.arange(n)
    beta[rows, sizes - 1] = 0
    beta[rows[sizes > 1], sizes[sizes > 1] - 2] = 0
    for k in range(1, int(steps.max(initial=0))):  # k steps before each sequence's last one
        t = steps - 1 - k
        live = t >= 0
        if not live.any():
            break
        nxt = beta[live] + lp[rows[live], t[live] + 1]
        pad = np.full((nxt.shape[0], 1), ninf, np.float32)
        acc = np.where(stay_ok[live], nxt, ninf)
        acc = _log_add(acc, np.concatenate([nxt[:, 1:], pad], axis=1))
        acc = _log_add(acc, np.where(skip_ok[live], np.concatenate([nxt[:, 2:], pad, pad], axis=1), ninf))
        beta[live] = acc
    first = lp[:, 0, :]
    start = beta[:, 0] + first[:, 0]
    second = beta[:, 1] + first[:, 1] if s_max > 1 else np.full(n, ninf, np.float32)
    loss = -_log_add(start, second)
    loss = np.where(steps == 0, np.where(lengths == 0, 0, np.inf), loss)  # (OpenVINO: undefined)
    return loss.astype(logits.dtype)
