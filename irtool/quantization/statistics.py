"""Streaming statistics of activations: what range estimators need, never the activations themselves.

A :class:`TensorStats` takes one tensor per inference and keeps: the running min/max, the sums of
per-sample min/max (for the mean-of-min/max estimator), the per-channel sum (for bias correction),
and a histogram over ``[-R, R]`` whose range doubles (merging bin pairs) whenever a value falls
outside it. Memory is fixed by the bin count, whatever the number of samples.
"""
from __future__ import annotations

import numpy as np

HIST_BINS = 4096  # over [-R, R]: 2048 bins for |x|, as TensorRT's entropy calibration uses


class TensorStats:
    """Statistics of one activation tensor over a calibration run."""

    def __init__(self, bins: int = HIST_BINS, channel_axis: int | None = 1, histogram: bool = True):
        self.bins = bins
        self.channel_axis = channel_axis
        self.min = np.inf
        self.max = -np.inf
        self.sum_sample_min = 0.0
        self.sum_sample_max = 0.0
        self.samples = 0
        self.channel_sum: np.ndarray | None = None
        self.channel_count = 0
        self.hist = np.zeros(bins, dtype=np.int64) if histogram else None
        self.radius = 0.0  # the histogram covers [-radius, radius]

    def update(self, x: np.ndarray) -> None:
        """Fold one inference's tensor in (axis 0 is the batch: each row is a sample)."""
        x = np.asarray(x, dtype=np.float32)
        rows = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(1, -1)
        if rows.size == 0:
            return
        mins, maxs = rows.min(axis=1), rows.max(axis=1)
        self.min = min(self.min, float(mins.min()))
        self.max = max(self.max, float(maxs.max()))
        self.sum_sample_min += float(mins.sum())
        self.sum_sample_max += float(maxs.sum())
        self.samples += rows.shape[0]
        self._update_channels(x)
        if self.hist is not None:
            self._update_histogram(rows)

    def _update_channels(self, x: np.ndarray) -> None:
        ax = self.channel_axis
        if ax is None or not -x.ndim <= ax < x.ndim:
            return
        ax %= x.ndim
        axes = tuple(i for i in range(x.ndim) if i != ax)
        s = x.sum(axis=axes, dtype=np.float64)
        self.channel_sum = s if self.channel_sum is None else self.channel_sum + s
        self.channel_count += x.size // x.shape[ax]

    def _update_histogram(self, rows: np.ndarray) -> None:
        peak = float(max(abs(self.min), abs(self.max)))
        if peak == 0.0:
            peak = 1e-12
        if self.radius == 0.0:
            self.radius = peak
        while peak > self.radius:  # double the range: pairs of bins merge into the middle half
            merged = self.hist.reshape(-1, 2).sum(axis=1)
            self.hist = np.zeros_like(self.hist)
            q = self.bins // 4
            self.hist[q: q + merged.size] = merged
            self.radius *= 2
        counts, _ = np.histogram(rows, bins=self.bins, range=(-self.radius, self.radius))
        self.hist += counts

    @property
    def channel_mean(self) -> np.ndarray | None:
        return None if self.channel_sum is None else (self.channel_sum / self.channel_count).astype(np.float32)

    @property
    def mean_min(self) -> float:
        return self.sum_sample_min / self.samples

    @property
    def mean_max(self) -> float:
        return self.sum_sample_max / self.samples

    def abs_histogram(self) -> tuple[np.ndarray, float]:
        """|x| histogram (bins//2 bins over [0, radius]) and its bin width."""
        half = self.bins // 2
        folded = self.hist[half:] + self.hist[:half][::-1]
        return folded, self.radius / half

    def nbytes(self) -> int:
        return (self.hist.nbytes if self.hist is not None else 0) + \
            (self.channel_sum.nbytes if self.channel_sum is not None else 0)
