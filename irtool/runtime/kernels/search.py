"""Searching and sorting into indices: Bucketize, SearchSorted, NonZero, Unique.

Their outputs are indices (and for NonZero and Unique, shapes known only from the data); numpy's
searchsorted/nonzero/unique are the kernel and the reference.
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.kernels.elementwise import _numpy_type
from irtool.runtime.registry import kernel


@kernel("Bucketize")
def bucketize(x, buckets, *, output_type: str = "i64", with_right_bound: bool = True):
    """The bucket of each value: with right bounds, ``buckets[i-1] < x <= buckets[i]`` is bucket i."""
    side = "left" if with_right_bound else "right"
    return np.searchsorted(np.asarray(buckets).reshape(-1), x, side=side).astype(_numpy_type(output_type))


@kernel("SearchSorted")
def search_sorted(sorted_sequence, values, *, right_mode: bool = False, output_type: str = "i64"):
    """Where each value would go in the sorted last axis: a 1-D sequence for every value, or one row per
    leading index of ``values``."""
    side = "right" if right_mode else "left"
    out_type = _numpy_type(output_type)
    if sorted_sequence.ndim == 1:
        return np.searchsorted(sorted_sequence, values, side=side).astype(out_type)
    rows = sorted_sequence.reshape(-1, sorted_sequence.shape[-1])
    vals = values.reshape(rows.shape[0], -1)
    out = np.stack([np.searchsorted(r, v, side=side) for r, v in zip(rows, vals)])
    return out.reshape(values.shape).astype(out_type)


@kernel("NonZero")
def non_zero(x, *, output_type: str = "i64"):
    """``[rank, count]``: the coordinates of the non-zero elements in row-major order."""
    if x.ndim == 0:
        return np.zeros((0, int(bool(x))), _numpy_type(output_type))
    return np.stack(np.nonzero(x)).astype(_numpy_type(output_type)).reshape(x.ndim, -1)


@kernel("Unique")
def unique(x, axis=None, *, sorted: bool = True, index_element_type: str = "i64", count_element_type: str = "i64"):
    """Unique elements (or slices along ``axis``), the index of each one's first occurrence, the index
    of every input element's unique, and the counts. Unsorted: in order of first occurrence."""
    ax = None if axis is None else int(np.asarray(axis).reshape(-1)[0])
    data = x.reshape(-1) if ax is None else x
    if ax is not None and ax < 0:
        ax += x.ndim
    values, first, inverse, counts = np.unique(data, return_index=True, return_inverse=True, return_counts=True,
                                               axis=ax)
    inverse = inverse.reshape(-1)
    if not sorted:  # renumber by first occurrence
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        values = values[order] if ax is None else np.take(values, order, axis=ax)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    it, ct = _numpy_type(index_element_type), _numpy_type(count_element_type)
    return values, first.astype(it), inverse.astype(it), counts.astype(ct)
