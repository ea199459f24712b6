"""Rows grouped by an id: SegmentMax and SparseFillEmptyRows (opset16), with the semantics of
OpenVINO's CPU plugin.

numpy does each in one pass: ``np.fmax.at`` into the segments, a stable ``np.lexsort`` of the
sparse entries, so the kernel is its own reference. Measured on OpenVINO's CPU plugin:

- SegmentMax starts every segment at the type's lowest value and takes a value only when it is
  larger, so NaNs are skipped (a segment of NaNs only is the lowest value, not NaN); an empty
  segment is 0 (``fill_mode`` zero) or the lowest value: f16 data gets f32's lowest (-inf once
  in f16) and i64 data i32's (the plugin computes both in the 32-bit type); ids past
  ``num_segments`` count for nothing; without ``num_segments`` there are ``max(id) + 1``.
- SparseFillEmptyRows sorts the entries by (row, column), stably (duplicates keep their order),
  and adds ``(row, 0) = default_value`` for each row with none.
"""
from __future__ import annotations

import numpy as np

from irtool.errors import InputError
from irtool.runtime.registry import kernel


def _lowest(dtype: np.dtype):
    if dtype.kind == "f":
        return np.finfo(np.float32).min  # f16 too: -FLT_MAX, which is -inf in f16
    if dtype == np.int64:
        return np.iinfo(np.int32).min
    return np.iinfo(dtype).min


@kernel("SegmentMax", versions=("opset16",))
def segment_max(data, segment_ids, num_segments=None, *, fill_mode: str = "zero"):
    """``data`` [N, ...], ``segment_ids`` [N] (sorted): out [S, ...], segment s the elementwise
    maximum of the rows with id s."""
    ids = np.asarray(segment_ids).astype(np.int64).reshape(-1)
    count = int(np.asarray(num_segments).reshape(-1)[0]) if num_segments is not None else (
        int(ids.max()) + 1 if ids.size else 0)
    inner = data.shape[1:]
    rows = data.reshape(data.shape[0], -1)
    with np.errstate(over="ignore"):
        lowest = np.asarray(_lowest(data.dtype)).astype(data.dtype)
    out = np.full((count, rows.shape[1]), lowest, data.dtype)
    keep = (ids >= 0) & (ids < count)
    np.fmax.at(out, ids[keep], rows[keep])  # fmax: a NaN never wins over the lowest value
    empty = np.bincount(ids[keep], minlength=count)[:count] == 0
    if fill_mode.lower() == "zero":
        out[empty] = 0
    return out.reshape((count,) + inner)


@kernel("SparseFillEmptyRows", versions=("opset16",))
def sparse_fill_empty_rows(values, dense_shape, indices, default_value):
    """A 2-D sparse tensor (``indices`` [M, 2], ``values`` [M]) with ``default_value`` at column 0
    of every row that has no entry: (the new indices, the new values, which rows were empty)."""
    rows_total = int(np.asarray(dense_shape).reshape(-1)[0])
    idx = np.asarray(indices).reshape(-1, 2)
    vals = np.asarray(values).reshape(-1)
    row = idx[:, 0].astype(np.int64)
    if row.size and (row.min() < 0 or row.max() >= rows_total):
        raise InputError(f"SparseFillEmptyRows: a row index is outside the {rows_total} rows")
    empty = np.ones(rows_total, bool)
    empty[row] = False
    fill = np.flatnonzero(empty)
    all_idx = np.concatenate([idx, np.stack([fill, np.zeros_like(fill)], axis=1).astype(idx.dtype)])
    all_vals = np.concatenate([vals, np.full(fill.size, np.asarray(default_value).reshape(-1)[0], vals.dtype)])
    order = np.lexsort((all_idx[:, 1], all_idx[:, 0]))  # stable: duplicates keep their order
    return all_idx[order], all_vals[order], empty
