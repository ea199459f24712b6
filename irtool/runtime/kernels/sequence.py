"""Sequence decoding: CTCGreedyDecoder, CTCGreedyDecoderSeqLen (text recognizers' heads) and
GatherTree (beam search back-tracking).

Loops over a batch's time steps in Python: these run once per inference on small tensors
(``[T, N, C]`` logits after the network), and read as the spec does.
"""
from __future__ import annotations

import numpy as np

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
