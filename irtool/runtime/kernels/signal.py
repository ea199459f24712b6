"""Short-time Fourier transforms: STFT (opset15) and its inverse ISTFT (opset16), with the semantics
of OpenVINO's CPU plugin (PyTorch's ``stft(center=False, onesided=True)`` and ``istft``).

Complex values are a trailing axis of 2 (real, imaginary), as in the DFT ops. All frames at once:
one strided gather into [..., frames, frame_size], numpy's pocketfft in float64 along the last
axis, one overlap-add per frame offset: the kernel is its own reference. Measured on OpenVINO's
CPU plugin: a window shorter than ``frame_size`` sits in the middle (``(frame_size - len) // 2``
zeros before it); ISTFT divides the overlap-added, windowed frames by the overlap-added squared
window, and gives 0 where that sum is 0; ``center`` drops ``frame_size // 2`` samples at each end
(odd sizes too); a given ``signal_length`` cuts the result or pads it with zeros (with
``center``, the samples of the end margin come first).
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.registry import kernel


def _scalar(x) -> int:
    return int(np.asarray(x).reshape(-1)[0])


def _padded_window(window: np.ndarray, frame_size: int) -> np.ndarray:
    w = np.asarray(window, np.float64).reshape(-1)[:frame_size]
    out = np.zeros(frame_size)
    start = (frame_size - w.size) // 2
    out[start:start + w.size] = w
    return out


@kernel("STFT", versions=("opset15",))
def stft(signal, window, frame_size, frame_step, *, transpose_frames: bool = False):
    """``signal`` [B, L] or [L] -> [B, frames, frame_size // 2 + 1, 2] (``transpose_frames``:
    [B, bins, frames, 2]), ``frames = (L - frame_size) // frame_step + 1``: each frame times the
    window, then its one-sided DFT."""
    size, step = _scalar(frame_size), _scalar(frame_step)
    x = np.asarray(signal, np.float64)
    frames = (x.shape[-1] - size) // step + 1
    idx = np.arange(frames)[:, None] * step + np.arange(size)[None, :]
    spectrum = np.fft.rfft(x[..., idx] * _padded_window(window, size), axis=-1)  # [..., frames, bins]
    out = np.stack([spectrum.real, spectrum.imag], axis=-1)
    if transpose_frames:
        out = np.swapaxes(out, -3, -2)
    return np.ascontiguousarray(out).astype(signal.dtype)


@kernel("ISTFT", versions=("opset16",))
def istft(data, window, frame_size, frame_step, signal_length=None, *, center: bool = False,
          normalized: bool = False):
    """``data`` [B, bins, frames, 2] or [bins, frames, 2] (STFT's transposed layout) -> [B, length]
    or [length]: each frame's inverse one-sided DFT (times sqrt(frame_size) when ``normalized``),
    windowed and overlap-added, over the overlap-added squared window."""
    size, step = _scalar(frame_size), _scalar(frame_step)
    z = np.asarray(data, np.float64)
    batched = z.ndim == 4
    if not batched:
        z = z[None]
    batch, _, frames, _ = z.shape
    spectrum = np.swapaxes(z[..., 0] + 1j * z[..., 1], 1, 2)  # [B, frames, bins]
    pieces = np.fft.irfft(spectrum, n=size, axis=-1)  # [B, frames, size]
    if normalized:
        pieces = pieces * np.sqrt(size)
    w = _padded_window(window, size)
    full = (frames - 1) * step + size
    total = np.zeros((batch, full))
    envelope = np.zeros(full)
    # frame f lands on [f*step, f*step + size): one strided add per offset j within the frame
    # (the frames at one offset never collide)
    stop = (frames - 1) * step + 1
    for j in range(size):
        total[:, j:j + stop:step] += pieces[:, :, j] * w[j]
        envelope[j:j + stop:step] += w[j] * w[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(envelope != 0, total / np.where(envelope != 0, envelope, 1), 0.0)
    margin = size // 2 if center else 0
    length = _scalar(signal_length) if signal_length is not None and _scalar(signal_length) > 0 else (
        full - 2 * margin)
    out = np.zeros((batch, length))
    kept = result[:, margin:margin + length]
    out[:, :kept.shape[1]] = kept
    out = out.astype(data.dtype)
    return out if batched else out[0]
