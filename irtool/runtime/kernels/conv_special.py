"""Convolutions with their own sampling or arithmetic: DeformableConvolution (opset1, opset8) and
BinaryConvolution (opset1), as OpenVINO's CPU plugin computes them. 2-D only (the plugin's limit).

DeformableConvolution: tap ``(kh, kw)`` of output pixel ``(oh, ow)`` reads the input at
``(oh*sh - pad_top + kh*dh + dy, ow*sw - pad_left + kw*dw + dx)`` (float32), ``(dy, dx)`` from the
offsets tensor ``[N, DG*2*KH*KW, OH, OW]`` (y then x per tap, per deformable group of input
channels), bilinearly, each tap scaled by the mask ``[N, DG*KH*KW, OH, OW]`` (opset8) when given.
The plugin's sampling rules (def_conv.cpp, prepareSamplingWeights), which differ from the spec's text:
- without ``bilinear_interpolation_pad`` (opset1 always) a tap counts only at ``0 <= y < H`` and
  ``0 <= x < W``, its corners clamped into the image (so the last row and column are stretched);
- with it, at ``-1 < y < H`` (``int(y) > -1``: truncation) and likewise x, corners outside the image
  weigh 0 (zero padding around the image).
The interpolation weights and the tap values are float32 as there; the sums go through BLAS.

BinaryConvolution (mode xnor-popcount): the input binarized as ``x > 0``, the u1 weights bit 1 for +1;
each output ``matches - mismatches`` over the window. Padding: ``pad_value`` 0 skips the padded taps
(they count neither way); 1.0 pads with bit 1, any other value with bit 0. The plugin reads the u1
weights' bits least significant first within each byte, where OpenVINO (2024+) packs them from the
most significant bit (as irtool's reader decodes them): kernel element ``i`` of the flat weight
tensor is the decoded element ``8*(i//8) + 7 - i%8``. (With input channels not a multiple of 8 the
plugin's results depend on uninitialized memory: they change from run to run.)
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.kernels.conv import conv_out_shape, conv_pads
from irtool.runtime.registry import kernel

_F = np.float32


def _geometry(x_shape, k_sp, strides, dilations, pads_begin, pads_end, auto_pad):
    if len(x_shape) != 4:
        raise ValueError(f"only 2-D (4-D tensor) inputs are supported, got shape {list(x_shape)}")
    strides = [int(s) for s in strides] if strides is not None and len(strides) else [1, 1]
    dilations = [int(d) for d in dilations] if dilations is not None and len(dilations) else [1, 1]
    pb, pe = conv_pads(x_shape[2:], k_sp, strides, dilations, pads_begin, pads_end, auto_pad)
    return strides, dilations, pb, conv_out_shape(x_shape[2:], k_sp, strides, dilations, pb, pe)


# ----------------------------------------------------------------------------- DeformableConvolution
def _axis_taps(pos, size: int, bi_pad: bool):
    """Per coordinate along one axis: (inside, low index, high index, low weight, high weight)."""
    if bi_pad:
        inside = (pos.astype(np.int32) > -1) & (pos.astype(np.int32) < size)  # C++ int(): truncation
        low = np.floor(pos).astype(np.int64)
        high = low + 1
    else:
        inside = (pos >= 0) & (pos < size)
        low = np.maximum(np.floor(pos), 0).astype(np.int64)
        high = np.minimum(np.ceil(pos), size - 1).astype(np.int64)
    frac = (pos - low.astype(_F)).astype(_F)  # weight of the high corner
    w_low = np.where(low >= 0, _F(1) - frac, _F(0))
    w_high = np.where(high < size, frac, _F(0))
    return inside, np.clip(low, 0, size - 1), np.clip(high, 0, size - 1), w_low, w_high


def _deformable(x, offsets, w, mask, strides, dilations, pads_begin, pads_end, auto_pad, group, deformable_group,
                bi_pad):
    x, offsets, w = (np.asarray(a, _F) for a in (x, offsets, w))
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    g, dg = int(group), int(deformable_group)
    if c != cg * g or o % g or c % dg:
        raise ValueError(f"DeformableConvolution: input {list(x.shape)}, weights {list(w.shape)}, group {g} and "
                         f"deformable_group {dg} do not fit")
    (sh, sw), (dh, dw), (pt, pl), (oh, ow) = _geometry(x.shape, (kh, kw), strides, dilations, pads_begin, pads_end,
                                                       auto_pad)
    k = kh * kw
    off = offsets.reshape(n, dg, k, 2, oh, ow)
    # the tap positions: int base + float offset, in float32 as the plugin adds them
    base_y = (np.arange(oh)[None, :] * sh - pt + np.arange(kh)[:, None] * dh).astype(_F)  # [kh, oh]
    base_x = (np.arange(ow)[None, :] * sw - pl + np.arange(kw)[:, None] * dw).astype(_F)  # [kw, ow]
    y = np.repeat(base_y, kw, axis=0)[None, None, :, :, None] + off[:, :, :, 0]  # [n, dg, k, oh, ow]
    xx = np.tile(base_x, (kh, 1))[None, None, :, None, :] + off[:, :, :, 1]
    in_y, y0, y1, wy0, wy1 = _axis_taps(y, h, bi_pad)
    in_x, x0, x1, wx0, wx1 = _axis_taps(xx, wd, bi_pad)
    scale = np.asarray(mask, _F).reshape(n, dg, k, oh, ow) if mask is not None else None
    corners = []
    for yi, wy in ((y1, wy1), (y0, wy0)):
        for xi, wx in ((x1, wx1), (x0, wx0)):  # the plugin's order: (high, high), (high, low), (low, high), (low, low)
            weight = wy * wx if scale is None else wy * wx * scale
            corners.append((yi * wd + xi, np.where(in_y & in_x, weight, _F(0))))
    planes = x.reshape(n, dg, c // dg, h * wd)
    val = np.zeros((n, dg, c // dg, k * oh * ow), _F)
    for idx, weight in corners:  # a zero weight adds 0, whatever the pixel (NaN included), as there
        pix = np.take_along_axis(planes, idx.reshape(n, dg, 1, -1), axis=3)
        wgt = weight.reshape(n, dg, 1, -1)
        val += np.where(wgt != 0, wgt * pix, _F(0))
    cols = val.reshape(n, g, cg, k, oh * ow).reshape(n, g, cg * k, oh * ow)
    out = np.matmul(w.reshape(g, o // g, cg * k), cols)  # [n, g, o/g, oh*ow]
    return out.reshape(n, o, oh, ow)


@kernel("DeformableConvolution", versions=("opset1",))
def deformable_convolution_v1(x, offsets, w, *, strides: list[int], dilations: list[int], pads_begin: list[int],
                              pads_end: list[int], auto_pad: str = "explicit", group: int = 1,
                              deformable_group: int = 1):
    return _deformable(x, offsets, w, None, strides, dilations, pads_begin, pads_end, auto_pad, group,
                       deformable_group, False)


@kernel("DeformableConvolution", versions=("opset8",))
def deformable_convolution(x, offsets, w, mask=None, *, strides: list[int], dilations: list[int],
                           pads_begin: list[int], pads_end: list[int], auto_pad: str = "explicit", group: int = 1,
                           deformable_group: int = 1, bilinear_interpolation_pad: bool = False):
    return _deformable(x, offsets, w, mask, strides, dilations, pads_begin, pads_end, auto_pad, group,
                       deformable_group, bilinear_interpolation_pad)


# --------------------------------------------------------------------------------- BinaryConvolution
def plugin_weight_bits(w: np.ndarray) -> np.ndarray:
    """The bits the CPU plugin uses for decoded u1 weights: each byte's bits in reverse order."""
    flat = np.asarray(w).reshape(-1).astype(np.uint8) & 1
    padded = np.concatenate([flat, np.zeros(-flat.size % 8, np.uint8)])
    return padded.reshape(-1, 8)[:, ::-1].reshape(-1)[:flat.size].reshape(np.shape(w))


@kernel("BinaryConvolution", versions=("opset1",))
def binary_convolution(x, w, *, strides: list[int], dilations: list[int], pads_begin: list[int],
                       pads_end: list[int], mode: str, pad_value: float, auto_pad: str = "explicit"):
    if mode.lower() != "xnor-popcount":
        raise ValueError(f"BinaryConvolution mode '{mode}' is not xnor-popcount")
    x = np.asarray(x)
    wb = plugin_weight_bits(w).astype(np.int8)
    o, c, kh, kw = wb.shape
    (sh, sw), (dh, dw), (pt, pl), (oh, ow) = _geometry(x.shape, (kh, kw), strides, dilations, pads_begin, pads_end,
                                                       auto_pad)
    n, _, h, wd = x.shape
    pad_bit = 1 if pad_value == 1.0 else 0
    # +1 / -1 codes, 0 where a tap is padding that counts neither way (pad_value 0)
    sign = np.where(x > 0, 1, -1).astype(np.int8)
    fill = 0 if pad_value == 0 else (1 if pad_bit else -1)
    span_h, span_w = (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1
    padded = np.full((n, c, max(span_h, pt + h), max(span_w, pl + wd)), fill, np.int8)
    padded[:, :, pt:pt + h, pl:pl + wd] = sign
    wpm = (2 * wb - 1).astype(np.int32)  # bit 1 -> +1, 0 -> -1: a match adds 1, a mismatch -1
    out = np.zeros((n, o, oh, ow), np.int32)
    for a in range(kh):
        for b in range(kw):
            win = padded[:, :, a * dh:a * dh + sh * (oh - 1) + 1:sh, b * dw:b * dw + sw * (ow - 1) + 1:sw]
            out += np.einsum("nchw,oc->nohw", win.astype(np.int32), wpm[:, :, a, b])
    return out.astype(np.float32)
