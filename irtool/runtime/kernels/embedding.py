"""Bags of embedding rows summed (or averaged) without the rows in between: EmbeddingBagOffsetsSum,
EmbeddingBagPackedSum, EmbeddingSegmentsSum (opset3), EmbeddingBagOffsets and EmbeddingBagPacked
(opset15, reduction sum or mean), with the semantics of OpenVINO's CPU plugin.

One gather of every row the bags name, weighted, and one ``np.add.reduceat`` over the bags: the
kernel is its own reference. Measured on OpenVINO's CPU plugin:

- an empty bag is the ``default_index`` row, unweighted (and not divided: a bag of one), or zeros
  without one or with ``default_index`` -1 (offsets ops; EmbeddingSegmentsSum refuses -1);
- integer tables sum in their own type (wrapping) and ``mean`` divides truncating toward zero;
- EmbeddingSegmentsSum reads each segment's ``count`` indices (and weights) *contiguously* from the
  segment's first occurrence, which is the spec's meaning for sorted segment ids (the spec's
  requirement) and OpenVINO's actual answer for unsorted ones; ids outside ``[0, num_segments)``
  count for nothing;
- an index outside the table, or an offset past the indices (an empty last bag too), is an error.
"""
from __future__ import annotations

import numpy as np

from irtool.errors import InputError
from irtool.runtime.registry import kernel


def _scalar(x, default: int | None = None) -> int | None:
    return default if x is None else int(np.asarray(x).reshape(-1)[0])


def _work_type(table: np.ndarray) -> np.dtype:
    # f16/bf16 tables are computed in f32 by the CPU plugin; integer tables in their own type
    return np.dtype(np.float32) if table.dtype.kind == "f" and table.dtype.itemsize < 4 else table.dtype


def _rows(table: np.ndarray, indices: np.ndarray) -> np.ndarray:
    idx = np.asarray(indices).astype(np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= table.shape[0]):
        bad = idx[(idx < 0) | (idx >= table.shape[0])][0]
        raise InputError(f"embedding bag index {bad} is outside the table of {table.shape[0]} rows")
    return table[idx].astype(_work_type(table), copy=False)


def _bags(table, indices, starts, counts, weights, default, mean: bool) -> np.ndarray:
    """Bag b sums rows ``indices[starts[b] : starts[b] + counts[b]]`` (times the weights there);
    empty bags are the default row or zeros."""
    work = _work_type(table)
    rows = _rows(table, indices)
    if weights is not None:
        w = np.asarray(weights).astype(work, copy=False).reshape((-1,) + (1,) * (table.ndim - 1))
        rows = rows * w
    nbags = starts.size
    out = np.zeros((nbags,) + table.shape[1:], work)
    full = counts > 0
    if full.any():
        # the rows laid out bag after bag (bags may overlap or leave gaps), then one reduceat
        sizes = counts[full]
        laid = np.cumsum(sizes) - sizes  # where each bag starts in the layout
        pos = np.arange(int(sizes.sum())) - np.repeat(laid, sizes) + np.repeat(starts[full], sizes)
        sums = np.add.reduceat(rows[pos], laid, axis=0, dtype=work)  # integers wrap in their type
        if mean:
            n = sizes.reshape((-1,) + (1,) * (table.ndim - 1))
            if work.kind == "f":
                sums = (sums / n.astype(work)).astype(work)
            else:  # C's integer division: toward zero
                s = sums.astype(np.int64)
                sums = (np.sign(s) * (np.abs(s) // n)).astype(work)
        out[full] = sums
    if default is not None and default != -1 and (~full).any():
        out[~full] = _rows(table, [default])[0]
    return out.astype(table.dtype, copy=False)


# ------------------------------------------------------------------------------------------- offsets
def _offsets(table, indices, offsets, default_index, per_sample_weights, mean: bool):
    idx = np.asarray(indices).reshape(-1)
    starts = np.asarray(offsets).astype(np.int64).reshape(-1)
    if starts.size and (starts.min() < 0 or starts.max() >= idx.size):
        raise InputError(f"embedding bag offset {int(starts.max())} is not below the {idx.size} indices")
    ends = np.append(starts[1:], idx.size)
    counts = ends - starts
    if (counts < 0).any():
        raise InputError("embedding bag offsets decrease")
    return _bags(table, idx, starts, counts, per_sample_weights, _scalar(default_index), mean)


@kernel("EmbeddingBagOffsetsSum", versions=("opset3",))
def embedding_bag_offsets_sum(table, indices, offsets, default_index=None, per_sample_weights=None):
    """Bag b: the rows ``indices[offsets[b]:offsets[b+1]]`` (the last bag: to the end), weighted."""
    return _offsets(table, indices, offsets, default_index, per_sample_weights, mean=False)


@kernel("EmbeddingBagOffsets", versions=("opset15",))
def embedding_bag_offsets(table, indices, offsets, default_index=None, per_sample_weights=None, *,
                          reduction: str = "sum"):
    """EmbeddingBagOffsetsSum, or the bags' means (weights come only with sum)."""
    return _offsets(table, indices, offsets, default_index, per_sample_weights, mean=reduction.lower() == "mean")


# ------------------------------------------------------------------------------------------- packed
def _packed(table, indices, per_sample_weights, mean: bool):
    idx = np.asarray(indices)
    nbags, per_bag = idx.shape
    starts = np.arange(nbags, dtype=np.int64) * per_bag
    counts = np.full(nbags, per_bag, np.int64)
    return _bags(table, idx.reshape(-1), starts, counts, per_sample_weights, None, mean)


@kernel("EmbeddingBagPackedSum", versions=("opset3",))
def embedding_bag_packed_sum(table, indices, per_sample_weights=None):
    """``indices`` [B, L]: bag b is the rows of its L indices, weighted by ``per_sample_weights[b]``."""
    return _packed(table, indices, per_sample_weights, mean=False)


@kernel("EmbeddingBagPacked", versions=("opset15",))
def embedding_bag_packed(table, indices, per_sample_weights=None, *, reduction: str = "sum"):
    return _packed(table, indices, per_sample_weights, mean=reduction.lower() == "mean")


# ------------------------------------------------------------------------------------------- segments
@kernel("EmbeddingSegmentsSum", versions=("opset3",))
def embedding_segments_sum(table, indices, segment_ids, num_segments, default_index=None, per_sample_weights=None):
    """Out [num_segments, ...]: segment s sums the rows of the indices whose id is s, weighted."""
    idx = np.asarray(indices).reshape(-1)
    ids = np.asarray(segment_ids).astype(np.int64).reshape(-1)
    nseg = _scalar(num_segments)
    inside = (ids >= 0) & (ids < nseg)
    counts = np.bincount(ids[inside], minlength=nseg)[:nseg].astype(np.int64)
    first = np.zeros(nseg, np.int64)
    positions = np.flatnonzero(inside)
    # the first occurrence of each id: the reversed assignment leaves the smallest position
    first[ids[positions][::-1]] = positions[::-1]
    default = _scalar(default_index)
    if default == -1 and (counts == 0).any():
        raise InputError("EmbeddingSegmentsSum: an empty segment's default_index -1 is not a row of the table")
    return _bags(table, idx, first, counts, per_sample_weights, default, mean=False)
