"""Normalizations across channels and groups: LRN, GRN, GroupNormalization (MVN, NormalizeL2 and
BatchNormInference live with the reductions they are made of, in ``reduce``).

One numpy expression each, computed in float32 like OpenVINO's CPU kernels, so the kernel is its
own reference.
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.registry import kernel


def _axes(axes, rank: int) -> list[int]:
    return sorted({int(a) + rank if int(a) < 0 else int(a) for a in np.asarray(axes).reshape(-1)})


def _window_sums(sq: np.ndarray, axis: int, size: int) -> np.ndarray:
    """Sum over the window ``[i - (size-1)//2, i + (size-1)//2]`` along ``axis``, clipped at the
    edges. OpenVINO's CPU plugin (oneDNN) keeps the window symmetric, so an even ``size`` sums
    ``size - 1`` elements while alpha is still divided by ``size``: measured, not the spec's text."""
    before = after = (size - 1) // 2
    pad = [(0, 0)] * sq.ndim
    pad[axis] = (before + 1, after)
    csum = np.cumsum(np.pad(sq, pad), axis=axis, dtype=np.float64)
    n = sq.shape[axis]
    hi = np.take(csum, np.arange(n) + before + after + 1, axis=axis)
    lo = np.take(csum, np.arange(n), axis=axis)
    return hi - lo


@kernel("LRN")
def lrn(x, axes, *, alpha: float, beta: float, bias: float, size: int):
    """``x / (bias + alpha / size^len(axes) * sum over the window of x^2) ^ beta``; the window spans
    ``size`` elements along every axis in ``axes`` (channels: AlexNet/GoogLeNet's across-channel LRN)."""
    ax = _axes(axes, x.ndim)
    total = np.square(x.astype(np.float64))
    for a in ax:
        total = _window_sums(total, a, size)
    scale = bias + alpha / float(size) ** len(ax) * total
    return (x / np.power(scale, beta)).astype(x.dtype)


@kernel("GRN")
def grn(x, *, bias: float):
    """Global response normalization: ``x / sqrt(bias + sum over channels of x^2)``."""
    norm = np.sqrt(bias + np.sum(np.square(x, dtype=np.float32), axis=1, keepdims=True, dtype=np.float32))
    return (x / norm).astype(x.dtype)


@kernel("GroupNormalization")
def group_normalization(x, scale, bias, *, num_groups: int, epsilon: float):
    """Per sample and group of ``C / num_groups`` channels: ``(x - mean) / sqrt(var + epsilon)``, then
    the per-channel ``scale`` and ``bias``."""
    n, c = x.shape[0], x.shape[1]
    groups = x.reshape(n, num_groups, -1).astype(np.float32)
    mean = groups.mean(axis=2, keepdims=True)
    var = np.square(groups - mean).mean(axis=2, keepdims=True)
    normed = ((groups - mean) / np.sqrt(var + np.float32(epsilon))).reshape(x.shape)
    channel = (1, c) + (1,) * (x.ndim - 2)
    return (normed * scale.reshape(channel) + bias.reshape(channel)).astype(x.dtype)
