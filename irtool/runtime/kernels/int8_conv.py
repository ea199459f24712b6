"""INT8 Convolution: u8 codes x int16 weights, exact int32 sums on the vpmaddwd micro-kernel.

The input's codes are shifted to int16 ``(k - z)`` and stored as int32 channel pairs (_to_pairs) in a
padded buffer kept per thread; pointwise convolutions without padding or stride, and those of column
stride 1 or 2 with whole vectors of 8 pixels per output row, read shifted windows of it in place (stride
2 by column phases), the others a gathered patch matrix (_gather_pairs; see :func:`_plan`). The tiles of
4 output channels x 16 pixels run _int8_codegen's block, the epilogue in registers, into float32 or u8
codes. A layer may absorb an input Quantize (lpt.fuse_input_quantize) or a residual Add after it
(lpt.fuse_residual). Its setup is computed once per input shape (_conv_setup) and its call bound once
per shape and thread (_int8_bound). The numpy reference: conv.convolution_reference of the shifted
codes, then int8_epilogue.epilogue_reference (tests/test_int8.py).
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numba
import numpy as np

from irtool.runtime.kernels._int8_bound import _Bound, _NO_COMP, _NO_RESIDUAL, _STUB_Q1, _bound_runner, _frozen, _zero_points
from irtool.runtime.kernels._int8_codegen import LANES, TILE_O, TILE_V, _conv_block, _from_scratch
from irtool.runtime.kernels.conv import _to3, conv_out_shape, conv_pads
from irtool.runtime.kernels.int8_epilogue import INT8, _JIT, _U1, compose, compose_residual
from irtool.runtime.kernels.int8_quantize import _quantize_plane
from irtool.runtime.cpu import int8_exec_isa, int8_isa
from irtool.runtime.registry import kernel, specializer


def pack_conv_weights(w: np.ndarray) -> np.ndarray:
    """int16 [O, (kh,) kw, C] (channels last) -> int32 [O/4, C/2, kh, kw, 4]: for each block of 4
    output channels, each (channel pair, kernel position) holds 4 int16 pairs, zero padded."""
    O, C = w.shape[0], w.shape[-1]
    w4 = w.reshape(O, -1, w.shape[-2], C)
    kh, kw = w4.shape[1:3]
    nob, cp = -(-O // TILE_O), -(-C // 2)
    p = np.zeros((nob * TILE_O, kh, kw, cp * 2), np.int16)
    p[:O, ..., :C] = w4
    p = p.reshape(nob, TILE_O, kh, kw, cp, 2).transpose(0, 4, 2, 3, 1, 5)
    return np.ascontiguousarray(p).view(np.int32).reshape(nob, cp, kh, kw, TILE_O)


def unpack_conv_weights(packed: np.ndarray) -> np.ndarray:
    """:func:`pack_conv_weights`' inverse: int16 [O', kh, kw, C'] (O' and C' padded to 4 and 2)."""
    nob, cp, kh, kw, _ = packed.shape
    p = np.ascontiguousarray(packed).view(np.int16).reshape(nob, cp, kh, kw, TILE_O, 2).transpose(0, 4, 2, 3, 1, 5)
    return p.reshape(nob * TILE_O, kh, kw, cp * 2)


def pack_conv_weights_vnni(w: np.ndarray) -> np.ndarray | None:
    """int16 [O, (kh,) kw, C] -> int32 [O/4, C/4, kh, kw, 4]: for each block of 4 output channels,
    each (channel quad, kernel position) holds 4 s8 quads (bytes: channels 4q .. 4q + 3), zero padded;
    None when a weight is outside s8 (vpdpbusd multiplies u8 by s8)."""
    if w.size and (w.min() < -128 or w.max() > 127):
        return None
    O, C = w.shape[0], w.shape[-1]
    w4 = w.reshape(O, -1, w.shape[-2], C)
    kh, kw = w4.shape[1:3]
    nob, cq = -(-O // TILE_O), -(-C // 4)
    p = np.zeros((nob * TILE_O, kh, kw, cq * 4), np.int8)
    p[:O, ..., :C] = w4
    p = p.reshape(nob, TILE_O, kh, kw, cq, 4).transpose(0, 4, 2, 3, 1, 5)
    return np.ascontiguousarray(p).view(np.int32).reshape(nob, cq, kh, kw, TILE_O)


def zero_point_share(w: np.ndarray, z: np.ndarray, n_out: int) -> np.ndarray:
    """comp[o] = sum over taps and channels of z[c] * w[o, ..., c] (int32, ``n_out`` entries, zero
    past O): what the raw codes' sums hold beyond the shifted codes' (k - z) ones, the padding read
    as z. (Past int32 only beyond 2**31 / (255 * 128) = 65,793 taps x channels: refused.)"""
    O, C = w.shape[0], w.shape[-1]
    comp = np.zeros(n_out, np.int64)
    comp[:O] = (w.reshape(O, -1, C).astype(np.int64) * np.asarray(z, np.int64)[:C]).sum(axis=(1, 2))
    if np.abs(comp).max(initial=0) >= 2**31:
        raise ValueError("the zero point's share of a convolution's sums does not fit int32")
    return comp.astype(np.int32)


@numba.njit(inline="always")
def _conv_tile(t, src, offs, wf, comp, nob, nvr, Wp, ep, levels, R, dq, df, sq, sf, other, rp, so):  # pragma: no cover (jit)
    """Tile ``t`` of _conv_tiles: pixel vectors 2t and 2t + 1, every block of 4 output channels, into
    the flat [O, R] outputs dq/df (with the residual Add of ``other`` [O, R] when ``rp`` is not empty);
    a last partial tile goes through the scratch sq/sf/so ([4 * 16]). ``comp`` not empty: quads (VNNI)."""
    nkp, O = offs.size, ep.size // 4
    nv = (R + LANES - 1) // LANES
    v0 = t * TILE_V
    v1 = min(v0 + 1, nv - 1)
    b0 = (v0 // nvr) * Wp + (v0 % nvr) * LANES
    b1 = (v1 // nvr) * Wp + (v1 % nvr) * LANES
    r0 = v0 * LANES
    n = min(TILE_V * LANES, R - r0)
    for ob in range(nob):
        o0 = ob * TILE_O
        no = min(TILE_O, O - o0)
        if n == TILE_V * LANES:
            _conv_block(src, offs, wf, o0 * nkp, nkp, b0, b1, ep, o0, no, levels, dq, df, o0 * R + r0, R, other, rp,
                        comp)
        else:
            if rp.size:
                for oi in range(no):
                    for j in range(n):
                        so[oi * TILE_V * LANES + j] = other[(o0 + oi) * R + r0 + j]
            _conv_block(src, offs, wf, o0 * nkp, nkp, b0, b1, ep, o0, no, levels, sq, sf, 0, TILE_V * LANES, so, rp,
                        comp)
            _from_scratch(no, n, levels, sq, sf, dq, df, o0 * R + r0, R)


@numba.njit(inline="always")
def _ntiles(R):  # pragma: no cover (jit)
    return ((R + LANES - 1) // LANES + TILE_V - 1) // TILE_V


@numba.njit(cache=True, nogil=True)
def _conv_tiles(src, offs, w, comp, nvr, Wp, ep, levels, dq, df, other, rp):  # pragma: no cover (jit)
    """out[o, r] = epilogue(sum_kp pmadd(src[base(r) + offs[kp]], w[o, kp])) for the output pixels r
    in vectors of 8 (flat dq/df: [O, R]): vector v starts at src[(v // nvr) * Wp + (v % nvr) * 8]
    (nvr vectors an output row); then the residual Add of ``other`` (flat [O, R] u8) when ``rp`` is
    not empty. On the calling thread."""
    R = (dq.size if levels > 0 else df.size) // (ep.size // 4)
    sq, sf = np.empty(TILE_O * TILE_V * LANES, np.uint8), np.empty(TILE_O * TILE_V * LANES, np.float32)
    so = np.empty(TILE_O * TILE_V * LANES, np.uint8)
    wf = w.reshape(-1)
    for t in range(_ntiles(R)):
        _conv_tile(t, src, offs, wf, comp, w.shape[0], nvr, Wp, ep, levels, R, dq, df, sq, sf, other, rp, so)


@numba.njit(**_JIT)
def _conv_tiles_parallel(src, offs, w, comp, nvr, Wp, ep, levels, dq, df, other, rp):  # pragma: no cover (jit)
    """_conv_tiles with the tiles spread over numba's threads (layers of over threads.PARALLEL_MACS)."""
    R = (dq.size if levels > 0 else df.size) // (ep.size // 4)
    nt = _ntiles(R)
    sq, sf = np.empty((nt, TILE_O * TILE_V * LANES), np.uint8), np.empty((nt, TILE_O * TILE_V * LANES), np.float32)
    so = np.empty((nt, TILE_O * TILE_V * LANES), np.uint8)
    wf = w.reshape(-1)
    for t in numba.prange(nt):
        _conv_tile(t, src, offs, wf, comp, w.shape[0], nvr, Wp, ep, levels, R, dq, df, sq[t], sf[t], other, rp, so[t])


@numba.njit(inline="always")
def _pair_run(src, s_lo, s_hi, step, n, z0, z1, keep, dst, d):  # pragma: no cover (jit)
    """dst[d + i] = the pair (src[s_lo + i*step] - z0, src[s_hi + i*step] - z1), i < n; flat arrays,
    unsigned offsets (no wraparound, no slice: see _U1); ``step`` constant where inlined."""
    for i in range(n):
        j = i * step
        pair = ((np.int32(src[s_lo + j]) - z0) & 0xFFFF) | (((np.int32(src[s_hi + j]) - z1) & keep) << 16)
        dst[d + i] = np.int32(pair)


@numba.njit(nogil=True)
def _to_pairs(k, z, ph, pw, out):  # pragma: no cover (jit)
    """out[col % S, c // 2, h + ph, col // S] = (k[c, h, w] - z[c]) at padded column col = w + pw, as
    int16 halves of an int32 (even channel in the low half, little endian), inside the zero border
    ``out`` has: shifted codes as channel pairs, the columns split into S = 1 or 2 phases (a stride-2
    convolution reads each phase's pixels contiguously). Without padding or phases a channel pair is
    one run over the whole plane."""
    C, H, W = k.shape
    S, Cp, Hp, Wq = out.shape
    src, dst = k.reshape(-1), out.reshape(-1)
    plane = H * W
    whole = S == 1 and Wq == W and ph == 0  # the pair's plane is one flat run
    for cp in range(Cp):
        c0, c1 = 2 * cp, min(2 * cp + 1, C - 1)
        z0, z1 = np.int32(z[c0]), np.int32(z[c1])
        keep = np.int32(-1 if 2 * cp + 1 < C else 0)  # an odd channel count pads with zeros
        if whole:
            _pair_run(src, np.uint64(c0 * plane), np.uint64(c1 * plane), _U1, np.uint64(plane), z0, z1, keep, dst,
                      np.uint64(cp * Hp * Wq))
            continue
        for h in range(H):
            row0, row1 = c0 * plane + h * W, c1 * plane + h * W
            if S == 1:
                _pair_run(src, np.uint64(row0), np.uint64(row1), _U1, np.uint64(W), z0, z1, keep, dst,
                          np.uint64((cp * Hp + h + ph) * Wq + pw))
            else:
                for phase in range(2):
                    w0 = (phase - pw) % 2  # the first input column of this phase
                    n, j0 = (W - w0 + 1) // 2, (w0 + pw) // 2
                    _pair_run(src, np.uint64(row0 + w0), np.uint64(row1 + w0), np.uint64(2), np.uint64(n), z0, z1, keep,
                              dst, np.uint64(((phase * Cp + cp) * Hp + h + ph) * Wq + j0))


@numba.njit(inline="always")
def _quad_run(src, s0, s1, s2, s3, step, n, keep, dst, d):  # pragma: no cover (jit)
    """dst[d + i] = the u8 quad (src[s0 + i*step], src[s1 + ...], src[s2 + ...], src[s3 + ...]) as
    the bytes of an int32, byte j kept where bit j of ``keep`` is set (channels past C are 0)."""
    for i in range(n):
        j = i * step
        q = np.int64(src[s0 + j])
        if keep & 2:
            q |= np.int64(src[s1 + j]) << 8
        if keep & 4:
            q |= np.int64(src[s2 + j]) << 16
        if keep & 8:
            q |= np.int64(src[s3 + j]) << 24
        dst[d + i] = np.int32(q)


@numba.njit(nogil=True)
def _to_quads(k, ph, pw, out):  # pragma: no cover (jit)
    """_to_pairs for the VNNI kernel: out[col % S, c // 4, h + ph, col // S] holds k[c, h, w] as byte
    c % 4 of an int32, the raw u8 codes (not shifted: the zero point's share is subtracted from the
    sums, and ``out``'s border holds each channel's zero point, see _quad_border)."""
    C, H, W = k.shape
    S, Cq, Hp, Wq = out.shape
    src, dst = k.reshape(-1), out.reshape(-1)
    plane = H * W
    whole = S == 1 and Wq == W and ph == 0
    for cq in range(Cq):
        c = [min(4 * cq + j, C - 1) for j in range(4)]
        keep = 0
        for j in range(4):
            if 4 * cq + j < C:
                keep |= 1 << j
        if whole:
            _quad_run(src, np.uint64(c[0] * plane), np.uint64(c[1] * plane), np.uint64(c[2] * plane),
                      np.uint64(c[3] * plane), _U1, np.uint64(plane), keep, dst, np.uint64(cq * Hp * Wq))
            continue
        for h in range(H):
            r0, r1, r2, r3 = c[0] * plane + h * W, c[1] * plane + h * W, c[2] * plane + h * W, c[3] * plane + h * W
            if S == 1:
                _quad_run(src, np.uint64(r0), np.uint64(r1), np.uint64(r2), np.uint64(r3), _U1, np.uint64(W), keep,
                          dst, np.uint64((cq * Hp + h + ph) * Wq + pw))
            else:
                for phase in range(2):
                    w0 = (phase - pw) % 2
                    n, j0 = (W - w0 + 1) // 2, (w0 + pw) // 2
                    _quad_run(src, np.uint64(r0 + w0), np.uint64(r1 + w0), np.uint64(r2 + w0), np.uint64(r3 + w0),
                              np.uint64(2), np.uint64(n), keep, dst, np.uint64(((phase * Cq + cq) * Hp + h + ph) * Wq + j0))


def _quad_border(z: np.ndarray, C: int, dims: np.ndarray, size: int) -> np.ndarray:
    """The VNNI kernel's input buffer (``size`` int32) with every channel quad's plane filled with its
    zero points' quad: padding reads as z, whose share comp removes (the inside is rewritten by every
    call, the border never)."""
    S, Cq, Hp, width = (int(v) for v in dims[12:16])
    zb = np.zeros(Cq * 4, np.uint8)
    zb[:C] = np.asarray(z, np.int64)[:C]
    flat = np.zeros(size, np.int32)
    planes = flat[:S * Cq * Hp * width].reshape(S, Cq, Hp * width)
    planes[:] = zb.view(np.int32).reshape(1, Cq, 1)
    return flat


@numba.njit(nogil=True)
def _gather_pairs(x, kh, kw, sh, sw, dh, dw, Ho, Wo, cols):  # pragma: no cover (jit)
    """cols[(cp, a, b), oh*Wo + ow] = x[cp, oh*sh + a*dh, ow*sw + b*dw]: the patch matrix, one int32
    channel pair per entry, for the convolutions that cannot read the input in place."""
    Cp = x.shape[0]
    for cp in range(Cp):
        for a in range(kh):
            for b in range(kw):
                dst = cols[(cp * kh + a) * kw + b]
                for oh in range(Ho):
                    src = x[cp, oh * sh + a * dh]
                    for ow in range(Wo):
                        dst[oh * Wo + ow] = src[ow * sw + b * dw]


class _Geometry(NamedTuple):
    """A 1-D or 2-D convolution seen as 2-D: input, padded input and output sizes, strides, dilations,
    padding at the beginning; ``out_sp`` the output's spatial shape as the model has it."""
    out_sp: tuple[int, ...]
    H: int
    W: int
    Hp: int
    Wp: int
    Ho: int
    Wo: int
    sh: int
    sw: int
    dh: int
    dw: int
    ph: int
    pw: int


@functools.lru_cache(maxsize=512)
def _geometry(in_sp, k_sp, strides, dilations, pads_begin, pads_end, auto_pad) -> _Geometry:
    """The geometry of a convolution (all arguments tuples), computed once per shape and attributes."""
    pb, pe = conv_pads(in_sp, k_sp, strides, dilations, pads_begin, pads_end, auto_pad)
    out_sp = conv_out_shape(in_sp, k_sp, strides, dilations, pb, pe)
    (_, H, W), (_, Ho, Wo), (_, sh, sw), (_, dh, dw), (_, ph, pw), (_, qh, qw) = (
        _to3(v, d) for v, d in ((in_sp, 1), (out_sp, 1), (strides, 1), (dilations, 1), (pb, 0), (pe, 0)))
    return _Geometry(tuple(out_sp), H, W, H + ph + qh, W + pw + qw, Ho, Wo, sh, sw, dh, dw, ph, pw)


@numba.njit(inline="always")
def _conv_image(n, k, z, dims, flat, cols):  # pragma: no cover (jit)
    """Image ``n``'s channel pairs into ``flat`` (as [phases, Cp, Hp, width], slack after it), and
    the patch matrix into ``cols`` when the plan gathers one (``cols.size`` > 0): what the tiles read.
    ``dims``: see _conv_setup."""
    ph, pw, kh, kw, sh, sw, dh, dw, Ho, Wo, nvr, pitch, S, Cp, Hp, width, quads = dims
    x = flat[:S * Cp * Hp * width].reshape((S, Cp, Hp, width))
    if quads:
        _to_quads(k[n], ph, pw, x)
    else:
        _to_pairs(k[n], z, ph, pw, x)
    if cols.size:
        _gather_pairs(x[0], kh, kw, sh, sw, dh, dw, Ho, Wo, cols)
    return flat if cols.size == 0 else cols.reshape(-1)


@numba.njit(inline="always")
def _conv_image_outputs(n, k, z, dims, flat, cols, levels, out_q, out_f):  # pragma: no cover (jit)
    """Image ``n``: _conv_image, and its flat output and the other type's stub (``out_q``/``out_f``
    [N, O, ...], the one not written a stub of one element)."""
    src = _conv_image(n, k, z, dims, flat, cols)
    if levels > 0:
        return src, out_q[n].reshape(-1), out_f.reshape(-1)
    return src, out_q.reshape(-1), out_f[n].reshape(-1)


# Each driver below comes serial and parallel as two functions, not one with a flag: a layer then
# compiles only the tiles it runs (a parallel region's compilation takes seconds on a cold cache).
@numba.njit(cache=True, nogil=True)
def _conv_int8(k, z, dims, flat, cols, offs, w, comp, ep, levels, out_q, out_f):  # pragma: no cover (jit)
    """Each image: _conv_image, then the tiles, on the calling thread."""
    for n in range(k.shape[0]):
        src, dq, df = _conv_image_outputs(n, k, z, dims, flat, cols, levels, out_q, out_f)
        _conv_tiles(src, offs, w, comp, dims[10], dims[11], ep, levels, dq, df, _STUB_Q1, _NO_RESIDUAL)


@numba.njit(cache=True, nogil=True)
def _conv_int8_parallel(k, z, dims, flat, cols, offs, w, comp, ep, levels, out_q, out_f):  # pragma: no cover (jit)
    """_conv_int8 with the tiles on every thread (over threads.PARALLEL_MACS multiply-adds an image)."""
    for n in range(k.shape[0]):
        src, dq, df = _conv_image_outputs(n, k, z, dims, flat, cols, levels, out_q, out_f)
        _conv_tiles_parallel(src, offs, w, comp, dims[10], dims[11], ep, levels, dq, df, _STUB_Q1, _NO_RESIDUAL)


@numba.njit(inline="always")
def _quantize_into(x, qf, qd, k):  # pragma: no cover (jit)
    """k = quantize_codes(x) with per-tensor parameters qf (lo, hi: float32) and qd (isc, ish:
    float64), as the Quantize kernel computes them."""
    _quantize_plane(0, 1, x.size, x.reshape(-1), qf[0:1], qf[1:2], qd[0:1], qd[1:2], k.reshape(-1))


@numba.njit(cache=True, nogil=True)
def _conv_int8_quantized(x, qf, qd, k, z, dims, flat, cols, offs, w, comp, ep, levels, out_q, out_f):  # pragma: no cover (jit)
    """_conv_int8 of the float input ``x`` quantized first into the thread's codes ``k`` (an input
    Quantize absorbed, see lpt.fuse_input_quantize)."""
    _quantize_into(x, qf, qd, k)
    _conv_int8(k, z, dims, flat, cols, offs, w, comp, ep, levels, out_q, out_f)


@numba.njit(cache=True, nogil=True)
def _conv_int8_quantized_parallel(x, qf, qd, k, z, dims, flat, cols, offs, w, comp, ep, levels, out_q,
                                  out_f):  # pragma: no cover (jit)
    """_conv_int8_quantized with the tiles on every thread."""
    _quantize_into(x, qf, qd, k)
    _conv_int8_parallel(k, z, dims, flat, cols, offs, w, comp, ep, levels, out_q, out_f)


@numba.njit(cache=True, nogil=True)
def _conv_int8_add(k, z, dims, flat, cols, offs, w, comp, ep, levels, out_q, out_f, other, rp):  # pragma: no cover (jit)
    """_conv_int8 into u8 codes with the residual Add that read them in the tiles' epilogue (``other``
    [N, O, ...] u8 codes, ``rp`` its :func:`compose_residual` map): the Add's step, its output
    allocation and a pass over memory go."""
    for n in range(k.shape[0]):
        src, dq, df = _conv_image_outputs(n, k, z, dims, flat, cols, levels, out_q, out_f)
        _conv_tiles(src, offs, w, comp, dims[10], dims[11], ep, levels, dq, df, other[n].reshape(-1), rp)


@numba.njit(cache=True, nogil=True)
def _conv_int8_add_parallel(k, z, dims, flat, cols, offs, w, comp, ep, levels, out_q, out_f, other,
                            rp):  # pragma: no cover (jit)
    """_conv_int8_add with the tiles on every thread."""
    for n in range(k.shape[0]):
        src, dq, df = _conv_image_outputs(n, k, z, dims, flat, cols, levels, out_q, out_f)
        _conv_tiles_parallel(src, offs, w, comp, dims[10], dims[11], ep, levels, dq, df, other[n].reshape(-1), rp)


class _Setup(NamedTuple):
    """What a convolution call needs beyond its arrays, computed once per shape and attributes."""
    k4: tuple[int, ...]  # the input as [N, C, H, W]
    out_sp: tuple[int, ...]
    out_hw: tuple[int, int]  # (Ho, Wo)
    z: np.ndarray  # one int16 zero point per input channel
    dims: np.ndarray  # int64: ph, pw, kh, kw, sh, sw, dh, dw, Ho, Wo, nvr, pitch, phases, Cp, Hp, width, quads
    flat: int  # size of the channel pairs buffer (slack included)
    cols: tuple[int, int]  # shape of the patch matrix ((0, 0): read in place)
    offs: np.ndarray
    parallel: bool  # over threads.PARALLEL_MACS multiply-adds an image: tiles on every thread


@functools.lru_cache(maxsize=512)
def _conv_setup(k_shape, w_shape, strides, dilations, pads_begin, pads_end, auto_pad, zero_point,
                quads=False) -> _Setup:
    """The setup of convolution_int8 (arguments as tuples; ``w_shape`` the packed weights', of
    channel quads when ``quads``: the VNNI kernel's, else pairs)."""
    from irtool.runtime.threads import PARALLEL_MACS

    (N, C), (nob, Cp, kh, kw) = k_shape[:2], w_shape[:4]
    g = _geometry(k_shape[2:], (kh, kw) if len(k_shape) == 4 else (kw,), strides, dilations, pads_begin, pads_end,
                  auto_pad)
    plan = _plan(Cp, kh, kw, g.sh, g.sw, g.dh, g.dw, g.Hp, g.Wp, g.Ho, g.Wo)
    phases = max(plan.phases, 1)
    width = -(-g.Wp // phases)
    dims = (g.ph, g.pw, kh, kw, g.sh, g.sw, g.dh, g.dw, g.Ho, g.Wo, plan.nvr, plan.pitch, phases, Cp, g.Hp, width,
            int(quads))
    macs = nob * TILE_O * g.Ho * g.Wo * Cp * (4 if quads else 2) * kh * kw
    return _Setup((N, C, g.H, g.W), g.out_sp, (g.Ho, g.Wo), _zero_points(zero_point, C), _frozen(np.array(dims)),
                  phases * Cp * g.Hp * width + LANES, (0, 0) if plan.phases else (Cp * kh * kw, plan.nvr * LANES),
                  plan.offs, macs >= PARALLEL_MACS)


def prepare_convolution_int8(w, ep, *, zero_point, strides, dilations, pads_begin, pads_end, auto_pad="explicit",
                             levels=0, residual=None, quantize=None):
    """``k -> y`` for convolution_int8 with these constants: weights packed and the epilogue composed
    once, the setup once per input shape, the padded-pairs buffer kept per thread (its zero border is
    never written, its inside rewritten by every call). ``residual``: (pa, pb, clamp, requant) of an
    INT8 Add absorbed after the layer (see lpt.fuse_residual); the runner then takes
    ``(k, w, ep, other, ...)`` and adds ``other``. ``quantize``: (lo, hi, isc, ish) of a per-tensor
    Quantize absorbed before it (lpt.fuse_input_quantize); the runner then takes float32 input."""
    if residual is not None and quantize is not None:
        raise ValueError("a convolution takes either a residual Add or an input Quantize, not both")
    w16 = w if w.dtype != np.int32 else unpack_conv_weights(w)
    if int8_isa() == "amx":
        from irtool.runtime.kernels.int8_amx import prepare_convolution_amx

        run = prepare_convolution_amx(w16[:ep.shape[1]], ep, zero_point=zero_point, strides=strides, dilations=dilations,
                                      pads_begin=pads_begin, pads_end=pads_end, auto_pad=auto_pad, levels=levels,
                                      residual=residual, quantize=quantize)
        if run is not None:
            return run
    packed, comp, quads = _weights_for(w16, zero_point)
    ep32 = compose(ep, levels).reshape(-1)
    attrs = (tuple(strides), tuple(dilations), tuple(pads_begin), tuple(pads_end), auto_pad, tuple(zero_point), quads)
    O = ep.shape[1]

    def make(shape) -> _Bound:
        st = _conv_setup(shape, packed.shape, *attrs)
        # the border: zeros for the shifted pairs (k - z), z itself for the raw quads
        flat = _quad_border(st.z, shape[1], st.dims, st.flat) if quads else np.zeros(st.flat, np.int32)
        cols = np.zeros(st.cols, np.int32)
        return _Bound(_conv_int8_parallel if st.parallel else _conv_int8, None if len(shape) == 4 else st.k4,
                      (st.z, st.dims, flat, cols, st.offs, packed, comp, ep32, levels), (), (shape[0], O, *st.out_sp),
                      levels)
    isa = int8_exec_isa("vnni" if quads else "avx2")
    if quantize is not None:
        qf, qd = np.array(quantize[:2], np.float32), np.array(quantize[2:4], np.float64)

        def make_quantized(shape) -> _Bound:
            b = make(shape)
            codes = np.empty(b.k_shape or shape, np.uint8)
            fn = _conv_int8_quantized_parallel if b.fn is _conv_int8_parallel else _conv_int8_quantized
            return b._replace(fn=fn, head=(qf, qd, codes, *b.head))
        return _bound_runner(make_quantized, isa=isa)
    if residual is None:
        return _bound_runner(make, isa=isa)
    if levels == 0:
        raise ValueError("a residual Add on codes needs the convolution's u8 codes (levels > 0)")
    rp = compose_residual(*residual)

    def make_add(shape) -> _Bound:
        b = make(shape)
        return b._replace(fn=_conv_int8_add_parallel if b.fn is _conv_int8_parallel else _conv_int8_add, tail=(rp,))
    return _bound_runner(make_add, extra=2, isa=isa)  # (k, w, ep, other, pa, pb)


def _weights_for(w16: np.ndarray, zero_point) -> tuple[np.ndarray, np.ndarray, bool]:
    """(packed weights, zero-point compensation, quads?) for the micro-kernel this CPU runs
    (cpu.int8_isa): s8 quads and their comp on VNNI when the weights fit s8 and the zero points u8,
    else int16 pairs (no comp). Both give the same exact sums."""
    if int8_isa() in ("vnni", "amx"):
        zp = np.asarray(zero_point, np.int64).reshape(-1)
        z = np.zeros(w16.shape[-1], np.int64)  # (channels past C, padding, have zero weights)
        z[:] = zp[0] if zp.size == 1 else np.pad(zp, (0, max(0, z.size - zp.size)))[:z.size]
        quads = pack_conv_weights_vnni(w16) if z.size and 0 <= z.min() and z.max() <= 255 else None
        if quads is not None:
            return quads, zero_point_share(w16, z, quads.shape[0] * TILE_O), True
    return np.ascontiguousarray(pack_conv_weights(w16)), _NO_COMP, False


@kernel("Convolution", versions=(INT8,), impl="jit")
def convolution_int8(k, w, ep, other=None, pa=None, pb=None, *, zero_point: list[int], strides: list[int],
                     dilations: list[int], pads_begin: list[int], pads_end: list[int], auto_pad: str = "explicit",
                     levels: int = 0, clamp: list[float] | None = None, requant: list[float] | None = None,
                     quantize: list[float] | None = None):
    """u8 codes [N, C, (H,) W] x weights -> f32 [N, O, ...] (or u8 when requantizing). Weights: int16
    [O, (kh,) kw, C] (channels last), or those packed by :func:`pack_conv_weights` (at load time);
    ``ep`` an :func:`epilogue` table. With ``other`` (u8 codes of the output's shape), ``pa``, ``pb``,
    ``clamp`` and ``requant``: then the residual Add of :func:`add_int8` (through
    :func:`compose_residual`), the codes made here as its first input. With ``quantize`` (lo, hi, isc, ish), ``k`` is float32 and quantized first (see
    :func:`quantize`)."""
    residual = None if other is None else (pa, pb, clamp, requant)
    run = prepare_convolution_int8(w, ep, zero_point=zero_point, strides=strides, dilations=dilations,
                                   pads_begin=pads_begin, pads_end=pads_end, auto_pad=auto_pad, levels=levels,
                                   residual=residual, quantize=quantize)
    return run(k) if other is None else run(k, w, ep, other)


@specializer(convolution_int8)
def _prepare_convolution_int8(consts, clamp=None, requant=None, **attrs):
    if any(c is None for c in consts[1:3] + consts[4:]):
        return None
    residual = (consts[4], consts[5], clamp, requant) if len(consts) > 3 else None
    return prepare_convolution_int8(consts[1], consts[2], residual=residual, **attrs)


class _Plan(NamedTuple):
    """How _conv_tiles reads a convolution's input: ``phases`` 0 (from a gathered patch matrix), or 1
    or 2 (in place, the padded input's columns split into that many phases); ``nvr`` vectors of 8
    pixels an output row, ``pitch`` between output rows, ``offs`` the offset of each k step."""
    phases: int
    nvr: int
    pitch: int
    offs: np.ndarray


@functools.lru_cache(maxsize=256)
def _plan(Cp, kh, kw, sh, sw, dh, dw, Hp, Wp, Ho, Wo) -> _Plan:
    """In place: a pointwise convolution without padding or stride (the input is the patch matrix,
    pixels flat), or strides 1 or 2 across with whole vectors per output row (output column ow of
    tap b reads column ow*sw + b*dw = phase (b*dw) % sw, column ow + (b*dw) // sw of that phase:
    shifted windows again). Otherwise a patch matrix [k step, pixel] is gathered first."""
    cp, a, b = (v.reshape(-1) for v in np.meshgrid(np.arange(Cp), np.arange(kh), np.arange(kw), indexing="ij"))
    nv = -(-Ho * Wo // LANES)
    if kh == kw == 1 and sh == sw == 1 and (Hp, Wp) == (Ho, Wo):
        return _Plan(1, nv, 0, _frozen(cp * (Hp * Wp)))
    if sw in (1, 2) and Wo % LANES == 0:
        width = -(-Wp // sw)
        col = b * dw
        return _Plan(sw, Wo // LANES, sh * width, _frozen((col % sw) * (Cp * Hp * width) + (cp * Hp + a * dh) * width
                                                          + col // sw))
    return _Plan(0, nv, 0, _frozen(np.arange(Cp * kh * kw, dtype=np.int64) * (nv * LANES)))


__all__ = ["pack_conv_weights", "pack_conv_weights_vnni", "unpack_conv_weights", "zero_point_share"]
