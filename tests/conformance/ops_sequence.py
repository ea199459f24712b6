"""Conformance cases: sequence."""
from __future__ import annotations

import numpy as np
from openvino import opset1, opset4, opset6

from tests.conformance._build import C, case, f32, ints

# ------------------------------------------------------------------------------------------- sequence
MASK = np.ones((6, 3), np.float32)
MASK[4:, 1] = 0
MASK[2:, 2] = 0
for merge in (True, False):
    case("CTCGreedyDecoder", "opset1", f"merge{int(merge)}", lambda x, m, r=merge: opset1.ctc_greedy_decoder(x, m, r),
         np.repeat(f32(3, 3, 4), 2, axis=0), MASK)
    case("CTCGreedyDecoderSeqLen", "opset6", f"merge{int(merge)}", lambda x, n, r=merge: (
        opset6.ctc_greedy_decoder_seq_len(x, n, merge_repeated=r)), np.repeat(f32(3, 4, 5), 2, axis=1),
        np.array([8, 3, 5], np.int32))
case("CTCGreedyDecoderSeqLen", "opset6", "blank0-i64", lambda x, n: opset6.ctc_greedy_decoder_seq_len(
    x, n, C(0, np.int32), True, "i64", "i64"), np.repeat(f32(2, 3, 4), 2, axis=1), np.array([6, 2], np.int32))
case("GatherTree", "opset1", "f32", lambda s, p, n: opset1.gather_tree(s, p, n, C(2.0, np.float32)),
     ints(0, 5, 5, 2, 3).astype(np.float32), ints(0, 3, 5, 2, 3).astype(np.float32), np.array([5, 3], np.float32))
case("GatherTree", "opset1", "i32", lambda s, p, n: opset1.gather_tree(s, p, n, C(1, np.int32)),
     ints(0, 4, 4, 3, 2), ints(0, 2, 4, 3, 2), np.array([4, 2, 1], np.int32))  # (OpenVINO leaves a length-0 item unwritten)

# ------------------------------------------------------------------------------------------- CTCLoss
CTC_LOGITS = f32(4, 8, 5, scale=2.0)
CTC_STEPS = np.array([8, 6, 5, 3], np.int32)
CTC_LABELS = np.array([[1, 1, 2, 0, 0, 3, 1, 2], [2, 2, 2, 1, 0, 0, 0, 0], [0, 1, 0, 1, 3, 3, 3, 3],
                       [3, 3, 1, 1, 1, 1, 1, 1]], np.int32)  # runs: collapse/merge/unique differ
CTC_LENGTHS = np.array([5, 3, 2, 1], np.int32)
for collapse in (False, True):
    for merge in (False, True):
        for unique in (False, True):
            label = f"collapse{int(collapse)}-merge{int(merge)}-unique{int(unique)}"
            case("CTCLoss", "opset4", label, lambda x, a, b, c, p=collapse, m=merge, u=unique: opset4.ctc_loss(
                x, a, b, c, None, p, m, u), CTC_LOGITS, CTC_STEPS, CTC_LABELS, CTC_LENGTHS)
            case("CTCLoss", "opset4", f"{label}-blank0", lambda x, a, b, c, p=collapse, m=merge, u=unique: (
                opset4.ctc_loss(x, a, b, c, C(0, np.int32), p, m, u)), CTC_LOGITS, CTC_STEPS,
                np.where(CTC_LABELS == 0, 4, CTC_LABELS).astype(np.int32), CTC_LENGTHS)
case("CTCLoss", "opset4", "blank2-i64", lambda x, a, b, c: opset4.ctc_loss(x, a, b, c, C(2)), CTC_LOGITS,
     CTC_STEPS.astype(np.int64), np.where(CTC_LABELS == 2, 4, CTC_LABELS).astype(np.int64),
     CTC_LENGTHS.astype(np.int64))
case("CTCLoss", "opset4", "constant-lengths", lambda x: opset4.ctc_loss(
    x, C([6, 6], np.int32), C(CTC_LABELS[:2, :6], np.int32), C([4, 3], np.int32)), f32(2, 6, 5))
