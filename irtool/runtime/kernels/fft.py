"""Discrete Fourier transforms: DFT, IDFT (complex in, complex out), RDFT (real in), IRDFT (real out).

OpenVINO stores a complex tensor as a real one with a trailing axis of 2 (real, imaginary); axes
count over the other axes; ``signal_size`` crops or zero-pads each transformed axis first (-1: as
it is). numpy's pocketfft, in float64, then the input's type, is the kernel and the reference.
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.registry import kernel


def _complex(x: np.ndarray) -> np.ndarray:
    return x[..., 0].astype(np.float64) + 1j * x[..., 1].astype(np.float64)


def _real_pair(z: np.ndarray, dtype) -> np.ndarray:
    return np.stack([z.real, z.imag], axis=-1).astype(dtype)


def _axes_and_sizes(axes, signal_size, rank: int, shape, last=None) -> tuple[list[int], list[int]]:
    """Normalized axes and each one's length after crop/pad; ``last(n)``: the last axis's length
    when ``signal_size`` leaves it (-1 or absent)."""
    ax = [int(a) + rank if int(a) < 0 else int(a) for a in np.asarray(axes).reshape(-1)]
    given = [int(v) for v in np.asarray(signal_size).reshape(-1)] if signal_size is not None else [-1] * len(ax)
    sizes = [shape[a] if v == -1 else v for a, v in zip(ax, given)]
    if last is not None and given[-1] == -1:
        sizes[-1] = last(shape[ax[-1]])
    return ax, sizes


@kernel("DFT")
def dft(x, axes, signal_size=None):
    ax, s = _axes_and_sizes(axes, signal_size, x.ndim - 1, x.shape)
    return _real_pair(np.fft.fftn(_complex(x), s, ax), x.dtype)


@kernel("IDFT")
def idft(x, axes, signal_size=None):
    ax, s = _axes_and_sizes(axes, signal_size, x.ndim - 1, x.shape)
    return _real_pair(np.fft.ifftn(_complex(x), s, ax), x.dtype)


@kernel("RDFT")
def rdft(x, axes, signal_size=None):
    """Real input; the last transformed axis keeps its ``n // 2 + 1`` non-redundant terms."""
    ax, s = _axes_and_sizes(axes, signal_size, x.ndim, x.shape)
    return _real_pair(np.fft.rfftn(x.astype(np.float64), s, ax), x.dtype)


@kernel("IRDFT")
def irdft(x, axes, signal_size=None):
    """Half spectrum in, real signal out: the last axis is ``2 (n - 1)`` long unless ``signal_size``
    says otherwise."""
    ax, s = _axes_and_sizes(axes, signal_size, x.ndim - 1, x.shape, last=lambda n: 2 * (n - 1))
    return np.fft.irfftn(_complex(x), s, ax).astype(x.dtype)
