"""Rearranging elements between axes: Roll, ReverseSequence, BatchToSpace/SpaceToBatch,
ExtractImagePatches.

No arithmetic: numpy reshapes, transposes and slices are the kernel and the reference.
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.registry import kernel


def _ints(a) -> list[int]:
    return [int(v) for v in np.asarray(a).reshape(-1)]


@kernel("Roll")
def roll(x, shift, axes):
    """Shift elements along ``axes`` cyclically; an axis named twice is shifted by the sum."""
    sh, ax = _ints(shift), [a + x.ndim if a < 0 else a for a in _ints(axes)]
    if len(sh) == 1 and len(ax) > 1:
        sh = sh * len(ax)  # one shift for every axis
    return np.roll(x, sh, ax) if ax else x.copy()


@kernel("ReverseSequence")
def reverse_sequence(x, seq_lengths, *, batch_axis: int = 0, seq_axis: int = 1):
    """For batch item ``b``, the first ``seq_lengths[b]`` elements along ``seq_axis`` reversed."""
    b_ax = batch_axis + x.ndim if batch_axis < 0 else batch_axis
    s_ax = seq_axis + x.ndim if seq_axis < 0 else seq_axis
    out = x.copy()
    for b, length in enumerate(_ints(seq_lengths)):
        length = min(max(length, 0), x.shape[s_ax])
        if length <= 1:
            continue
        src = [slice(None)] * x.ndim
        src[b_ax], src[s_ax] = b, slice(length - 1, None, -1)
        dst = [slice(None)] * x.ndim
        dst[b_ax], dst[s_ax] = b, slice(0, length)
        out[tuple(dst)] = x[tuple(src)]
    return out


@kernel("BatchToSpace")
def batch_to_space(x, block_shape, crops_begin, crops_end):
    """Batch blocks moved into the spatial axes, then cropped (TensorFlow's batch_to_space_nd)."""
    block, n = _ints(block_shape), x.ndim
    inner = x.shape[0] // int(np.prod(block))
    y = x.reshape(tuple(block) + (inner,) + x.shape[1:])
    order = [n, 0] + [i for d in range(1, n) for i in (n + d, d)]
    y = y.transpose(order).reshape((inner * block[0],) + tuple(x.shape[d] * block[d] for d in range(1, n)))
    begin, end = _ints(crops_begin), _ints(crops_end)
    return np.ascontiguousarray(y[tuple(slice(b, y.shape[d] - e) for d, (b, e) in enumerate(zip(begin, end)))])


@kernel("SpaceToBatch")
def space_to_batch(x, block_shape, pads_begin, pads_end):
    """Zero-padded spatial axes cut into blocks that move to the batch axis (space_to_batch_nd)."""
    block, n = _ints(block_shape), x.ndim
    y = np.pad(x, list(zip(_ints(pads_begin), _ints(pads_end))))
    split = tuple(v for d in range(n) for v in (y.shape[d] // block[d], block[d]))
    y = y.reshape(split)  # [d0/b0, b0, d1/b1, b1, ...]
    order = [2 * d + 1 for d in range(n)] + [2 * d for d in range(n)]  # the block offsets first
    y = y.transpose(order)
    return np.ascontiguousarray(y.reshape((int(np.prod(block)) * (y.shape[n]),) + y.shape[n + 1:]))


@kernel("ExtractImagePatches")
def extract_image_patches(x, *, sizes: list[int], strides: list[int], rates: list[int], auto_pad: str):
    """Patches of ``sizes`` every ``strides`` (dilated by ``rates``) as channels: NCHW ->
    ``[N, C * kh * kw, out_h, out_w]``, ordered (kh, kw, C) like TensorFlow's."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (rh, rw) = sizes, strides, rates
    eh, ew = (kh - 1) * rh + 1, (kw - 1) * rw + 1  # the window's extent
    pad = auto_pad.lower()
    if pad == "valid":
        oh, ow = (h - eh) // sh + 1, (w - ew) // sw + 1
        top = left = 0
    else:
        oh, ow = -(-h // sh), -(-w // sw)
        ph, pw = max(0, (oh - 1) * sh + eh - h), max(0, (ow - 1) * sw + ew - w)
        top, left = (ph // 2, pw // 2) if pad == "same_upper" else (ph - ph // 2, pw - pw // 2)
    padded = np.zeros((n, c, max(h + top, (oh - 1) * sh + eh), max(w + left, (ow - 1) * sw + ew)), x.dtype)
    padded[:, :, top:top + h, left:left + w] = x
    out = np.empty((n, kh, kw, c, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, i, j] = padded[:, :, i * rh:i * rh + (oh - 1) * sh + 1:sh, j * rw:j * rw + (ow - 1) * sw + 1:sw]
    return out.reshape(n, kh * kw * c, oh, ow)
