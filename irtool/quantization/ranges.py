"""Range estimators: statistics -> (low, high) of an activation. Pure functions.

``minmax`` and ``mean_minmax`` as NNCF's MinMax; ``percentile`` cuts the tails of the histogram;
``kl`` is TensorRT's entropy calibration (Migacz, GTC 2017: 2048 bins of |x|, 128 levels);
``mse`` picks the clipping threshold that minimizes the expected quantization error.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from irtool.errors import InputError
from irtool.quantization.statistics import TensorStats

Estimator = Callable[[TensorStats], tuple[float, float]]
MAX_CLIPPED = 0.01  # the KL search never clips away more than this fraction of the values


def minmax(s: TensorStats) -> tuple[float, float]:
    return s.min, s.max


def mean_minmax(s: TensorStats) -> tuple[float, float]:
    return s.mean_min, s.mean_max


def percentile(s: TensorStats, p: float = 99.99) -> tuple[float, float]:
    """The (100-p)% and p% points of the distribution (from the histogram, edges interpolated)."""
    cdf = np.cumsum(s.hist) / s.hist.sum()
    edges = np.linspace(-s.radius, s.radius, s.bins + 1)
    lo = float(np.interp((100 - p) / 100, np.concatenate([[0], cdf]), edges))
    hi = float(np.interp(p / 100, np.concatenate([[0], cdf]), edges))
    return max(lo, s.min), min(hi, s.max)


def kl_threshold(hist: np.ndarray, bin_width: float, levels: int = 128) -> float:
    """TensorRT's entropy calibration on an |x| histogram: the clip threshold minimizing KL(P||Q)."""
    hist = hist.astype(np.float64)
    # The first bin holds the exact zeros (half of a ReLU output): they quantize without error and,
    # left in, their spike drives the search to absurdly small thresholds.
    hist[0] = 0
    n = hist.size
    if hist[levels:].sum() == 0:  # everything already fits in `levels` bins: no clipping helps
        nonzero = np.flatnonzero(hist)
        return (nonzero[-1] + 1) * bin_width if nonzero.size else bin_width
    best, best_i = np.inf, n
    cumsum_tail = np.cumsum(hist[::-1])[::-1]  # cumsum_tail[i] = hist[i:].sum()
    total = cumsum_tail[0]
    for i in range(levels, n + 1):
        if i < n and cumsum_tail[i] > MAX_CLIPPED * total:
            # Folding most of the mass into the last bin makes P and Q the same spike (KL = 0): a
            # degenerate optimum for distributions far from zero. Never clip more than 1% away.
            continue
        p = hist[:i].copy()
        if i < n:
            p[-1] += cumsum_tail[i]  # outliers folded into the last bin
        if p.sum() == 0:
            continue
        q = _quantize_expand(hist[:i], levels)
        kl = _kl(p / p.sum(), q / q.sum() if q.sum() else q)
        if kl < best:
            best, best_i = kl, i
    return (best_i + 0.5) * bin_width


def _quantize_expand(h: np.ndarray, levels: int) -> np.ndarray:
    """Merge ``h`` into ``levels`` chunks, then spread each chunk's mass evenly over its nonzero bins."""
    starts = (np.arange(levels) * h.size) // levels  # the chunks np.array_split makes
    sums = np.add.reduceat(h, starts)
    nonzero = np.add.reduceat((h > 0).astype(np.float64), starts)
    per_bin = np.divide(sums, nonzero, out=np.zeros_like(sums), where=nonzero > 0)
    lengths = np.diff(np.append(starts, h.size))
    return np.where(h > 0, np.repeat(per_bin, lengths), 0.0)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    if np.any(q[mask] == 0):
        return np.inf
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def kl(s: TensorStats) -> tuple[float, float]:
    """Signed tensors get 128 levels per side (TensorRT); never-negative ones all 256 (u8)."""
    hist, width = s.abs_histogram()
    t = kl_threshold(_rebin(hist, 2048), width * hist.size / 2048, levels=256 if s.min >= 0 else 128)
    return (0.0 if s.min >= 0 else max(-t, s.min)), min(t, max(abs(s.min), abs(s.max)))


def mse(s: TensorStats, levels: int = 256, candidates: int = 100) -> tuple[float, float]:
    """The symmetric clip threshold with the least expected squared error (rounding + clipping)."""
    hist, width = s.abs_histogram()
    centers = (np.arange(hist.size) + 0.5) * width
    peak = max(abs(s.min), abs(s.max))
    signed = s.min < 0
    steps = (levels - 1) / (2 if signed else 1)
    best_t, best_err = peak, np.inf
    for t in np.linspace(peak / candidates, peak, candidates):
        step = t / steps
        inside = centers <= t
        err = np.sum(hist[inside]) * step * step / 12 + np.sum(hist[~inside] * (centers[~inside] - t) ** 2)
        if err < best_err:
            best_t, best_err = t, err
    return (0.0 if not signed else -best_t), best_t


def _rebin(hist: np.ndarray, bins: int) -> np.ndarray:
    return hist.reshape(bins, -1).sum(axis=1) if hist.size > bins else hist


ESTIMATORS: dict[str, Estimator] = {"minmax": minmax, "mean_minmax": mean_minmax, "percentile": percentile,
                                    "kl": kl, "mse": mse}


def parse_estimator(spec: str) -> tuple[str, Estimator]:
    """``"percentile:99.9"`` -> the estimator with its argument; unknown names are an error."""
    name, _, arg = spec.partition(":")
    if name not in ESTIMATORS:
        raise InputError(f"--range '{spec}': unknown estimator (choose from {', '.join(ESTIMATORS)})")
    if not arg:
        return name, ESTIMATORS[name]
    if name != "percentile":
        raise InputError(f"--range '{spec}': only percentile takes an argument (percentile:99.99)")
    try:
        p = float(arg)
    except ValueError:
        raise InputError(f"--range '{spec}': '{arg}' is not a number") from None
    if not 50 < p <= 100:
        raise InputError(f"--range '{spec}': the percentile must be in (50, 100]")
    return name, lambda s: percentile(s, p)
