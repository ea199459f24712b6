"""Integer kernels of the INT8 path: quantize, dequantize, u8 x s8 convolution and matrix product.

Activations travel as u8 codes ``k`` with a zero point ``z`` (real value ``(k - z) * s``); weights as
integer codes with a per-output-channel scale. Products accumulate exactly in int32: inputs are
widened to int16 ``(k - z)`` and multiplied with int16 weights by ``vpmaddwd`` (pairs of int16
products summed into int32), never the saturating ``vpmaddubsw``, so results do not depend on the
CPU. Convolutions run a register-blocked micro-kernel (4 output channels x 16 pixels) written in
plain LLVM IR, on channel pairs read in place from the padded input; the epilogue turns each
accumulator into FP32 ``acc * scale[oc] + bias[oc]``, applies a clamp (ReLU, ReLU6...) and, when the
next layer takes INT8, requantizes to u8 on the spot, vectorized along the output pixels.

Quantize followed by Dequantize is bit-identical to FakeQuantize (same float32/FMA arithmetic as
``kernels/fake_quantize.py``); the integer products are exact; what differs from the FP32 emulation
of the same IR is only the order of float rounding in the epilogue: at most one quantization step.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from irtool.runtime.kernels.conv import _to3, conv_out_shape, conv_pads
from irtool.runtime.registry import kernel

INT8 = "irtool-int8"  # the opset of irtool's internal INT8 layers (never written to a file)
_JIT = dict(parallel=True, cache=True, nogil=True)


# ------------------------------------------------------------------------------------------ quantize
def quantize_codes(x: np.ndarray, lo, hi, isc, ish) -> np.ndarray:
    """FakeQuantize's first half: ``rint(clip(x) * isc + ish)`` with one rounding (FMA), as u8."""
    y = np.clip(x.astype(np.float32, copy=False), lo, hi).astype(np.float64)
    return np.rint((y * isc + ish).astype(np.float32)).astype(np.uint8)


def dequantize_codes(k: np.ndarray, osc, osh) -> np.ndarray:
    """FakeQuantize's second half: ``k * osc + osh`` with one rounding (FMA), as float32."""
    return (k.astype(np.float64) * osc + osh).astype(np.float32)


@numba.njit(**_JIT)
def _quantize(x, lo, hi, isc, ish, out):  # pragma: no cover (jit)
    """One pass of quantize_codes over x [N, C, R] with per-channel (or broadcast) parameters."""
    N, C, R = x.shape
    for nc in numba.prange(N * C):
        n, c = nc // C, nc % C
        a, b, s, t = lo[c % lo.size], hi[c % hi.size], isc[c % isc.size], ish[c % ish.size]
        for r in range(R):
            v = min(max(x[n, c, r], a), b)
            out[n, c, r] = np.uint8(np.rint(np.float32(np.float64(v) * s + t)))


def _channel_params(v, x: np.ndarray, dtype) -> np.ndarray | None:
    """A quantization parameter as one value, or one per channel (axis 1), flat; None if it varies
    along another axis. The kernels read channel c's at [c % size]."""
    v = np.asarray(v, dtype)
    if v.size == 1:
        return v.reshape(1)
    if x.ndim > 1 and v.size == x.shape[1] and v.ndim == x.ndim and v.shape[1] == v.size:
        return np.ascontiguousarray(v.reshape(-1))
    return None


@kernel("Quantize", versions=(INT8,), impl="jit")
def quantize(x, lo, hi, isc, ish):
    params = [_channel_params(v, x, d) for v, d in ((lo, np.float32), (hi, np.float32), (isc, np.float64),
                                                     (ish, np.float64))]
    if x.dtype != np.float32 or x.ndim < 2 or any(p is None for p in params):
        return quantize_codes(x, lo, hi, isc, ish)
    x3 = np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)
    out = np.empty(x3.shape, np.uint8)
    _quantize(x3, *params, out)
    return out.reshape(x.shape)


@numba.njit(**_JIT)
def _dequantize(k, osc, osh, out):  # pragma: no cover (jit)
    N, C, R = k.shape
    for nc in numba.prange(N * C):
        n, c = nc // C, nc % C
        s, t = osc[c % osc.size], osh[c % osh.size]
        for r in range(R):
            out[n, c, r] = np.float32(np.float64(k[n, c, r]) * s + t)


@kernel("Dequantize", versions=(INT8,), impl="jit")
def dequantize(k, osc, osh):
    params = [_channel_params(v, k, np.float64) for v in (osc, osh)]
    if k.ndim < 2 or any(p is None for p in params):
        return dequantize_codes(k, osc, osh)
    k3 = np.ascontiguousarray(k).reshape(k.shape[0], k.shape[1], -1)
    out = np.empty(k3.shape, np.float32)
    _dequantize(k3, *params, out)
    return out.reshape(k.shape)


# ------------------------------------------------------------------------------------------ GEMM core
# The epilogue of every INT8 layer is one float64 table, a column per output channel:
SCALE, BIAS, LO, HI, ISC, ISH = range(6)  # y = clip(acc * scale + bias, lo, hi); q = rint(y * isc + ish)


def epilogue(n_out: int, scale, bias=None, lo=-np.inf, hi=np.inf, isc=0.0, ish=0.0) -> np.ndarray:
    """The [6, n_out] epilogue table; each entry a scalar or one value per output channel."""
    table = np.empty((6, n_out), np.float64)
    for row, v in zip(range(6), (scale, 0.0 if bias is None else bias, lo, hi, isc, ish)):
        table[row] = np.broadcast_to(np.asarray(v, np.float64).reshape(-1), (n_out,))
    return table


@numba.njit(inline="always")
def _store(acc, r, o, ch, ep, levels, channel_major, out_f, out_q):  # pragma: no cover (jit)
    """Epilogue of one accumulator of output channel ``ch``, stored at [r, o] (or [o, r] when
    ``channel_major``, as convolutions want it); requantized to u8 codes when ``levels`` > 0."""
    y = np.float32(np.float64(acc) * ep[0, ch] + ep[1, ch])
    y = min(max(y, np.float32(ep[2, ch])), np.float32(ep[3, ch]))
    if levels > 0:
        q = np.uint8(min(max(np.rint(np.float32(np.float64(y) * ep[4, ch] + ep[5, ch])), 0.0), levels - 1))
        if channel_major:
            out_q[o, r] = q
        else:
            out_q[r, o] = q
    elif channel_major:
        out_f[o, r] = y
    else:
        out_f[r, o] = y


@numba.njit(**_JIT)
def _gemm_rows(rows, w, ep, levels, channel_major, out_f, out_q):  # pragma: no cover (jit)
    """acc[r, o] = sum_k rows[r, k] * w[o, k], int16 x int16 -> exact int32, then the epilogue.

    Four rows at a time share each weight row loaded (register blocking); the k loops vectorize to
    vpmaddwd. A final partial block runs row by row."""
    R, K = rows.shape
    O = w.shape[0]
    for blk in numba.prange((R + 3) // 4):
        r0 = blk * 4
        if r0 + 4 <= R:
            a0, a1, a2, a3 = rows[r0], rows[r0 + 1], rows[r0 + 2], rows[r0 + 3]
            for o in range(O):
                wo = w[o]
                s0 = np.int32(0)
                s1 = np.int32(0)
                s2 = np.int32(0)
                s3 = np.int32(0)
                for k in range(K):
                    wk = np.int32(wo[k])
                    s0 = np.int32(s0 + np.int32(a0[k]) * wk)
                    s1 = np.int32(s1 + np.int32(a1[k]) * wk)
                    s2 = np.int32(s2 + np.int32(a2[k]) * wk)
                    s3 = np.int32(s3 + np.int32(a3[k]) * wk)
                _store(s0, r0, o, o, ep, levels, channel_major, out_f, out_q)
                _store(s1, r0 + 1, o, o, ep, levels, channel_major, out_f, out_q)
                _store(s2, r0 + 2, o, o, ep, levels, channel_major, out_f, out_q)
                _store(s3, r0 + 3, o, o, ep, levels, channel_major, out_f, out_q)
        else:
            for r in range(r0, R):
                for o in range(O):
                    acc = np.int32(0)
                    for k in range(K):
                        acc = np.int32(acc + np.int32(rows[r, k]) * np.int32(w[o, k]))
                    _store(acc, r, o, o, ep, levels, channel_major, out_f, out_q)


def _outputs(shape, levels: int):
    """(float output, u8 output): the one the epilogue writes has ``shape``, the other is a stub."""
    return (np.empty(shape if levels == 0 else (1, 1), np.float32),
            np.empty(shape if levels > 0 else (1, 1), np.uint8))


def gemm_int8(rows: np.ndarray, w: np.ndarray, ep: np.ndarray, levels: int = 0,
              channel_major: bool = False) -> np.ndarray:
    """``rows`` int16 [R, K] (activation codes minus zero point), ``w`` int16 [O, K] -> [R, O] (or
    [O, R] when ``channel_major``): the float32 epilogue, or u8 codes when ``levels`` > 0."""
    R, O = rows.shape[0], w.shape[0]
    out_f, out_q = _outputs((O, R) if channel_major else (R, O), levels)
    _gemm_rows(np.ascontiguousarray(rows), np.ascontiguousarray(w), np.ascontiguousarray(ep, np.float64),
               levels, channel_major, out_f, out_q)
    return out_q if levels else out_f


def gemm_int8_reference(rows, w, ep, levels=0, channel_major=False):
    acc = rows.astype(np.int64) @ w.astype(np.int64).T
    y = (acc.astype(np.float64) * ep[SCALE] + ep[BIAS]).astype(np.float32)
    y = np.minimum(np.maximum(y, ep[LO].astype(np.float32)), ep[HI].astype(np.float32))
    if levels:
        y = np.clip(np.rint((y.astype(np.float64) * ep[ISC] + ep[ISH]).astype(np.float32)), 0, levels - 1)
        y = y.astype(np.uint8)
    return np.ascontiguousarray(y.T) if channel_major else y


# ------------------------------------------------------------------------------------------ convolution
# Convolutions run as tiles of 4 output channels x 16 output pixels (8 int32 vectors of 8 lanes, in
# registers). Activations are stored as int32 *pairs* of int16 (two input channels at one pixel), and
# weights as pairs too, so one k step is: load 8 pixels' pairs, broadcast one channel's weight pair,
# ``vpmaddwd`` (pair products summed exactly into int32), ``vpaddd``. The pairs layout makes the 8
# pixels of an output row contiguous in the (padded) input, so stride-1 convolutions read shifted
# windows of the input directly: no patch matrix.
TILE_O, TILE_V, LANES = 4, 2, 8  # output channels, pixel vectors, pixels per vector


def _pmadd(builder, a, b):
    """Exact ``vpmaddwd``: sext 16 x i16 to i32, multiply, add even and odd lanes. Plain LLVM IR
    (portable), which LLVM's x86 backend selects as one vpmaddwd."""
    i32x8, i32x16 = ir.VectorType(ir.IntType(32), 8), ir.VectorType(ir.IntType(32), 16)
    p = builder.mul(builder.sext(a, i32x16), builder.sext(b, i32x16))
    even = builder.shuffle_vector(p, p, ir.Constant(i32x8, list(range(0, 16, 2))))
    odd = builder.shuffle_vector(p, p, ir.Constant(i32x8, list(range(1, 16, 2))))
    return builder.add(even, odd)


@intrinsic
def _madd_tile(typingctx, src, offs, w, wbase, nkp, b0, b1, tile):
    """tile[o*16 + v*8 + j] = sum_kp pmadd(src[bv + offs[kp] + j], w[wbase + kp*4 + o]) over int16
    pairs: the 4 x 16 accumulators of one tile (pixel vectors at src[b0:], src[b1:])."""
    sig = types.void(src, offs, w, wbase, nkp, b0, b1, tile)

    def codegen(context, builder, sig, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        i16x16, i32x8 = ir.VectorType(ir.IntType(16), 16), ir.VectorType(i32, 8)
        psrc, poffs, pw, ptile = (context.make_array(sig.args[i])(context, builder, args[i]).data for i in (0, 1, 2, 7))
        wbase, nkp, b0, b1 = (context.cast(builder, args[i], sig.args[i], types.int64) for i in (3, 4, 5, 6))
        accs = [cgutils.alloca_once_value(builder, ir.Constant(i32x8, None)) for _ in range(TILE_O * TILE_V)]
        with cgutils.for_range(builder, nkp) as loop:
            kp = loop.index
            off = builder.load(builder.gep(poffs, [kp]))
            xs = [builder.bitcast(builder.load(builder.bitcast(builder.gep(psrc, [builder.add(b, off)]),
                                                               i32x8.as_pointer()), align=4), i16x16) for b in (b0, b1)]
            wk = builder.add(wbase, builder.mul(kp, ir.Constant(i64, TILE_O)))
            for o in range(TILE_O):
                wv = builder.load(builder.gep(pw, [builder.add(wk, ir.Constant(i64, o))]))
                wb = builder.insert_element(ir.Constant(i32x8, ir.Undefined), wv, ir.Constant(i32, 0))
                wb = builder.bitcast(builder.shuffle_vector(wb, wb, ir.Constant(i32x8, [0] * LANES)), i16x16)
                for v in range(TILE_V):
                    acc = accs[o * TILE_V + v]
                    builder.store(builder.add(builder.load(acc), _pmadd(builder, xs[v], wb)), acc)
        for i, acc in enumerate(accs):
            dst = builder.bitcast(builder.gep(ptile, [ir.Constant(i64, i * LANES)]), i32x8.as_pointer())
            builder.store(builder.load(acc), dst, align=4)
        return context.get_dummy_value()
    return sig, codegen


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


@numba.njit(inline="always")
def _epilogue_run(tile, t, n, o, r0, ep, levels, out_f, out_q):  # pragma: no cover (jit)
    """The epilogue of ``n`` accumulators tile[t:t+n] of channel ``o`` into out[o, r0:r0+n]; a full
    tile (n == 16) runs with a constant trip count, which LLVM turns into straight vector code."""
    if n == TILE_V * LANES:
        _epilogue_loop(tile, t, TILE_V * LANES, o, r0, ep, levels, out_f, out_q)
    else:
        _epilogue_loop(tile, t, n, o, r0, ep, levels, out_f, out_q)


@numba.njit(inline="always")
def _epilogue_loop(tile, t, n, o, r0, ep, levels, out_f, out_q):  # pragma: no cover (jit)
    s, b = ep[0, o], ep[1, o]
    lo, hi = np.float32(ep[2, o]), np.float32(ep[3, o])
    acc = tile[t:t + n]  # slices: indices provably >= 0, so the stores stay vector stores
    if levels > 0:
        isc, ish, top = ep[4, o], ep[5, o], np.float32(levels - 1)
        dst = out_q[o, r0:r0 + n]
        for j in range(n):
            y = min(max(np.float32(np.float64(acc[j]) * s + b), lo), hi)
            q = min(max(np.rint(np.float32(np.float64(y) * isc + ish)), np.float32(0.0)), top)
            dst[j] = np.uint8(np.int32(q))
    else:
        dst = out_f[o, r0:r0 + n]
        for j in range(n):
            dst[j] = min(max(np.float32(np.float64(acc[j]) * s + b), lo), hi)


@numba.njit(inline="always")
def _conv_tile(t, src, offs, wf, nob, nvr, Wp, ep, levels, tile, out_f, out_q):  # pragma: no cover (jit)
    """Tile ``t`` of _conv_tiles: pixel vectors 2t and 2t + 1, every block of 4 output channels."""
    nkp, O = offs.size, ep.shape[1]
    R = out_f.shape[1] if levels == 0 else out_q.shape[1]
    nv = (R + LANES - 1) // LANES
    v0 = t * TILE_V
    v1 = min(v0 + 1, nv - 1)
    b0 = (v0 // nvr) * Wp + (v0 % nvr) * LANES
    b1 = (v1 // nvr) * Wp + (v1 % nvr) * LANES
    r0 = v0 * LANES
    n = min(TILE_V * LANES, R - r0)
    for ob in range(nob):
        _madd_tile(src, offs, wf, ob * nkp * TILE_O, nkp, b0, b1, tile)
        for oi in range(min(TILE_O, O - ob * TILE_O)):
            _epilogue_run(tile, oi * TILE_V * LANES, n, ob * TILE_O + oi, r0, ep, levels, out_f, out_q)


@numba.njit(**_JIT)
def _conv_tiles(src, offs, w, nvr, Wp, ep, levels, out_f, out_q):  # pragma: no cover (jit)
    """out[o, r] = epilogue(sum_kp pmadd(src[base(r) + offs[kp]], w[o, kp])) for the output pixels r
    in vectors of 8: vector v starts at src[(v // nvr) * Wp + (v % nvr) * 8] (nvr vectors an output row).
    Tiles in parallel (on one thread too: the same loop compiled serially ran up to 40% slower, its
    epilogue loops optimized worse)."""
    R = out_f.shape[1] if levels == 0 else out_q.shape[1]
    ntile = ((R + LANES - 1) // LANES + TILE_V - 1) // TILE_V
    tiles = np.empty((ntile, TILE_O * TILE_V * LANES), np.int32)
    for t in numba.prange(ntile):
        _conv_tile(t, src, offs, w.reshape(-1), w.shape[0], nvr, Wp, ep, levels, tiles[t], out_f, out_q)


@numba.njit(inline="always")
def _pair_run(lo, hi, w0, step, n, z0, z1, keep, dst):  # pragma: no cover (jit)
    """dst[i] = the pair (lo - z0, hi - z1) of input column w0 + i*step (``step`` constant where inlined)."""
    for i in range(n):
        w = w0 + i * step
        pair = ((np.int32(lo[w]) - z0) & 0xFFFF) | (((np.int32(hi[w]) - z1) & keep) << 16)
        dst[i] = np.int32(pair)


@numba.njit(nogil=True)
def _to_pairs(k, z, ph, pw, out):  # pragma: no cover (jit)
    """out[col % S, c // 2, h + ph, col // S] = (k[c, h, w] - z[c]) at padded column col = w + pw, as
    int16 halves of an int32 (even channel in the low half, little endian), inside the zero border
    ``out`` has: shifted codes as channel pairs, the columns split into S = 1 or 2 phases (a stride-2
    convolution reads each phase's pixels contiguously)."""
    C, H, W = k.shape
    S = out.shape[0]
    for cp in range((C + 1) // 2):
        c0, c1 = 2 * cp, min(2 * cp + 1, C - 1)
        z0, z1 = np.int32(z[c0]), np.int32(z[c1])
        keep = np.int32(-1 if 2 * cp + 1 < C else 0)  # an odd channel count pads with zeros
        for h in range(H):
            lo, hi = k[c0, h], k[c1, h]
            if S == 1:
                _pair_run(lo, hi, 0, 1, W, z0, z1, keep, out[0, cp, h + ph, pw:pw + W])
            else:
                for phase in range(2):
                    w0 = (phase - pw) % 2  # the first input column of this phase
                    n, j0 = (W - w0 + 1) // 2, (w0 + pw) // 2
                    _pair_run(lo, hi, w0, 2, n, z0, z1, keep, out[phase, cp, h + ph, j0:j0 + n])


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


def _conv_geometry(k, k_sp, strides, dilations, pads_begin, pads_end, auto_pad) -> _Geometry:
    return _geometry(k.shape[2:], tuple(k_sp), tuple(strides), tuple(dilations), tuple(pads_begin),
                     tuple(pads_end), auto_pad)


@functools.lru_cache(maxsize=512)
def _zero_points(zero_point: tuple[int, ...], C: int) -> np.ndarray:
    """One int16 zero point per channel (read-only, cached)."""
    return _frozen(np.broadcast_to(np.asarray(zero_point, np.int16), (C,)), np.int16)


@numba.njit(inline="always")
def _conv_image(n, k, z, dims, flat, cols, out_f, out_q):  # pragma: no cover (jit)
    """Image ``n``'s channel pairs into ``flat`` (as [phases, Cp, Hp, width], slack after it), and
    the patch matrix into ``cols`` when the plan gathers one (``cols.size`` > 0): (what the tiles
    read, the image's outputs as [O, pixels]). ``dims``: see _conv_setup."""
    ph, pw, kh, kw, sh, sw, dh, dw, Ho, Wo, nvr, pitch, S, Cp, Hp, width = dims
    x = flat[:S * Cp * Hp * width].reshape((S, Cp, Hp, width))
    _to_pairs(k[n], z, ph, pw, x)
    if cols.size:
        _gather_pairs(x[0], kh, kw, sh, sw, dh, dw, Ho, Wo, cols)
    src = flat if cols.size == 0 else cols.reshape(-1)
    return src, out_f[n].reshape(out_f.shape[1], -1), out_q[n].reshape(out_q.shape[1], -1)


@numba.njit(cache=True, nogil=True)
def _conv_int8(k, z, dims, flat, cols, offs, w, ep, levels, out_f, out_q):  # pragma: no cover (jit)
    """Each image: _conv_image, then the tiles."""
    for n in range(k.shape[0]):
        src, of, oq = _conv_image(n, k, z, dims, flat, cols, out_f, out_q)
        _conv_tiles(src, offs, w, dims[10], dims[11], ep, levels, of, oq)


class _Setup(NamedTuple):
    """What a convolution call needs beyond its arrays, computed once per shape and attributes."""
    k4: tuple[int, ...]  # the input as [N, C, H, W]
    out_sp: tuple[int, ...]
    out_hw: tuple[int, int]  # (Ho, Wo)
    z: np.ndarray  # one int16 zero point per input channel
    dims: np.ndarray  # int64: ph, pw, kh, kw, sh, sw, dh, dw, Ho, Wo, nvr, pitch, phases, Cp, Hp, width
    flat: int  # size of the channel pairs buffer (slack included)
    cols: tuple[int, int]  # shape of the patch matrix ((0, 0): read in place)
    offs: np.ndarray


@functools.lru_cache(maxsize=512)
def _conv_setup(k_shape, w_shape, strides, dilations, pads_begin, pads_end, auto_pad, zero_point) -> _Setup:
    """The setup of convolution_int8 (arguments as tuples; ``w_shape`` the packed weights')."""
    (N, C), (Cp, kh, kw) = k_shape[:2], w_shape[1:4]
    g = _geometry(k_shape[2:], (kh, kw) if len(k_shape) == 4 else (kw,), strides, dilations, pads_begin, pads_end,
                  auto_pad)
    plan = _plan(Cp, kh, kw, g.sh, g.sw, g.dh, g.dw, g.Hp, g.Wp, g.Ho, g.Wo)
    phases = max(plan.phases, 1)
    width = -(-g.Wp // phases)
    dims = (g.ph, g.pw, kh, kw, g.sh, g.sw, g.dh, g.dw, g.Ho, g.Wo, plan.nvr, plan.pitch, phases, Cp, g.Hp, width)
    return _Setup((N, C, g.H, g.W), g.out_sp, (g.Ho, g.Wo), _zero_points(zero_point, C), _frozen(np.array(dims)),
                  phases * Cp * g.Hp * width + LANES, (0, 0) if plan.phases else (Cp * kh * kw, plan.nvr * LANES),
                  plan.offs)


@kernel("Convolution", versions=(INT8,), impl="jit")
def convolution_int8(k, w, ep, *, zero_point: list[int], strides: list[int], dilations: list[int],
                     pads_begin: list[int], pads_end: list[int], auto_pad: str = "explicit", levels: int = 0):
    """u8 codes [N, C, (H,) W] x weights -> f32 [N, O, ...] (or u8 when requantizing). Weights: int16
    [O, (kh,) kw, C] (channels last), or those packed by :func:`pack_conv_weights` (at load time)."""
    packed = pack_conv_weights(w) if w.dtype != np.int32 else w
    st = _conv_setup(k.shape, packed.shape, tuple(strides), tuple(dilations), tuple(pads_begin), tuple(pads_end),
                     auto_pad, tuple(zero_point))
    out = np.empty((k.shape[0], ep.shape[1], *st.out_hw), np.float32 if levels == 0 else np.uint8)
    stub = np.empty((1, 1, 1, 1), np.uint8 if levels == 0 else np.float32)
    _conv_int8(k.reshape(st.k4), st.z, st.dims, np.zeros(st.flat, np.int32),  # zero border (exact: codes are shifted)
               np.empty(st.cols, np.int32), st.offs, packed, ep, levels, *((out, stub) if levels == 0 else (stub, out)))
    return out.reshape(k.shape[0], ep.shape[1], *st.out_sp)


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


def _frozen(a: np.ndarray, dtype=np.int64) -> np.ndarray:
    """A cached array nobody may write to (a copy)."""
    a = np.array(a, dtype)
    a.flags.writeable = False
    return a


# ------------------------------------------------------------------------------------------ depthwise, MatMul, Add
@numba.njit(cache=True, nogil=True)
def _pad_shift(k, z, ph, pw, out):  # pragma: no cover (jit)
    """out[c, h + ph, w + pw] = k[c, h, w] - z[c]: shifted codes inside the zero border ``out`` has."""
    C, H, W = k.shape
    for c in range(C):  # memory bound: not worth a parallel region
        zc = z[c]
        for h in range(H):
            src, dst = k[c, h], out[c, h + ph, pw:pw + W]  # a slice: indices provably >= 0, the loop vectorizes
            for w in range(W):
                dst[w] = np.int16(src[w]) - zc


@numba.njit(**_JIT)
def _depthwise(xp, w, sh, sw, dh, dw, Ho, Wo, ep, levels, out_f, out_q):  # pragma: no cover (jit)
    """One channel per group: acc[c, oh, ow] = sum_ab xp[c, oh*sh + a*dh, ow*sw + b*dw] * w[c, a, b];
    the epilogue as in _conv_tiles, on one output row at a time (out_f/out_q are [C, Ho*Wo])."""
    C, kh, kw = w.shape
    for c in numba.prange(C):
        acc = np.zeros(Wo, np.int32)
        for oh in range(Ho):
            acc[:] = 0
            for a in range(kh):
                src = xp[c, oh * sh + a * dh]
                for b in range(kw):
                    wk = np.int32(w[c, a, b])
                    base = b * dw
                    if sw == 1:  # contiguous: the loop vectorizes
                        run = src[base: base + Wo]
                        for ow in range(Wo):
                            acc[ow] = np.int32(acc[ow] + np.int32(run[ow]) * wk)
                    else:
                        for ow in range(Wo):
                            acc[ow] = np.int32(acc[ow] + np.int32(src[base + ow * sw]) * wk)
            _epilogue_loop(acc, 0, Wo, c, oh * Wo, ep, levels, out_f, out_q)


@numba.njit(inline="always")
def _dw3_row(r0, r1, r2, sw, Wo, wt, c, base, ep, levels, out_f, out_q):  # pragma: no cover (jit)
    """One output row of a 3x3 depthwise layer (stride ``sw``, a constant where it is inlined): the
    nine taps and the epilogue in one loop, which LLVM vectorizes across the row (int32 products are
    exact: |code - z| * |w| < 2^16)."""
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = wt
    s, b = ep[0, c], ep[1, c]
    lo, hi = np.float32(ep[2, c]), np.float32(ep[3, c])
    isc, ish, top = ep[4, c], ep[5, c], np.float32(max(levels - 1, 0))
    dq, df = out_q[c, base:base + Wo], out_f[c, base:base + Wo]
    for ow in range(Wo):
        i = ow * sw
        acc = np.int32(np.int32(np.int32(r0[i]) * w0 + np.int32(r0[i + 1]) * w1 + np.int32(r0[i + 2]) * w2)
                       + np.int32(np.int32(r1[i]) * w3 + np.int32(r1[i + 1]) * w4 + np.int32(r1[i + 2]) * w5)
                       + np.int32(np.int32(r2[i]) * w6 + np.int32(r2[i + 1]) * w7 + np.int32(r2[i + 2]) * w8))
        y = min(max(np.float32(np.float64(acc) * s + b), lo), hi)
        if levels > 0:
            q = min(max(np.rint(np.float32(np.float64(y) * isc + ish)), np.float32(0.0)), top)
            dq[ow] = np.uint8(np.int32(q))
        else:
            df[ow] = y


@numba.njit(inline="always")
def _dw3_channel(c, xp, w, sh, sw, Ho, Wo, ep, levels, out_f, out_q):  # pragma: no cover (jit)
    """Channel ``c`` of _depthwise3x3, row by row."""
    wt = (np.int32(w[c, 0, 0]), np.int32(w[c, 0, 1]), np.int32(w[c, 0, 2]), np.int32(w[c, 1, 0]),
          np.int32(w[c, 1, 1]), np.int32(w[c, 1, 2]), np.int32(w[c, 2, 0]), np.int32(w[c, 2, 1]),
          np.int32(w[c, 2, 2]))
    for oh in range(Ho):
        r0, r1, r2 = xp[c, oh * sh], xp[c, oh * sh + 1], xp[c, oh * sh + 2]
        if sw == 1:
            _dw3_row(r0, r1, r2, 1, Wo, wt, c, oh * Wo, ep, levels, out_f, out_q)
        else:
            _dw3_row(r0, r1, r2, 2, Wo, wt, c, oh * Wo, ep, levels, out_f, out_q)


@numba.njit(**_JIT)
def _depthwise3x3(xp, w, sh, sw, Ho, Wo, ep, levels, out_f, out_q):  # pragma: no cover (jit)
    """_depthwise for 3x3 kernels, stride 1 or 2 across, no dilation: one vectorized loop a row."""
    for c in numba.prange(w.shape[0]):
        _dw3_channel(c, xp, w, sh, sw, Ho, Wo, ep, levels, out_f, out_q)


@kernel("GroupConvolution", versions=(INT8,), impl="jit")
def depthwise_int8(k, w, ep, *, zero_point: list[int], strides: list[int], dilations: list[int],
                   pads_begin: list[int], pads_end: list[int], auto_pad: str = "explicit", levels: int = 0):
    """Depthwise (one input channel per group) on u8 codes [N, C, (H,) W], int16 weights [C, (kh,) kw];
    the activation may be quantized per channel (one zero point each; ``scale`` folds both scales)."""
    N, C = k.shape[:2]
    g = _conv_geometry(k, w.shape[1:], strides, dilations, pads_begin, pads_end, auto_pad)
    w3 = w.reshape(C, -1, w.shape[-1])
    xp = np.zeros((C, g.Hp, g.Wp), np.int16)  # zero border: exact, codes are shifted
    out = np.empty((N, C, g.Ho * g.Wo), np.float32 if levels == 0 else np.uint8)
    stub_f, stub_q = np.empty((1, 1), np.float32), np.empty((1, 1), np.uint8)
    z = _zero_points(tuple(zero_point), C)
    for n in range(N):
        _pad_shift(k[n].reshape(C, g.H, g.W), z, g.ph, g.pw, xp)
        outs = (out[n], stub_q) if levels == 0 else (stub_f, out[n])
        if w3.shape[1:] == (3, 3) and g.sw in (1, 2) and g.dh == g.dw == 1:
            _depthwise3x3(xp, w3, g.sh, g.sw, g.Ho, g.Wo, ep, levels, *outs)
        else:
            _depthwise(xp, w3, g.sh, g.sw, g.dh, g.dw, g.Ho, g.Wo, ep, levels, *outs)
    return out.reshape(N, C, *g.out_sp)


@numba.njit(cache=True, nogil=True)
def _matmul_codes(k, z, w, ep, levels, out_f, out_q):  # pragma: no cover (jit)
    """_gemm_rows on u8 codes [R, K]: the shift by the zero point and the GEMM in one call."""
    rows = np.empty(k.shape, np.int16)
    for r in range(k.shape[0]):
        src, dst = k[r], rows[r]
        for c in range(k.shape[1]):
            dst[c] = np.int16(src[c]) - z
    _gemm_rows(rows, w, ep, levels, False, out_f, out_q)


@kernel("MatMul", versions=(INT8,), impl="jit")
def matmul_int8(k, w, ep, *, zero_point: list[int], levels: int = 0):
    """u8 codes [..., K] x int16 weights [O, K] -> [..., O]."""
    lead, O = k.shape[:-1], w.shape[0]
    k2 = k.reshape(-1, k.shape[-1])
    out_f, out_q = _outputs((k2.shape[0], O), levels)
    _matmul_codes(k2, np.int16(zero_point[0]), w, ep, levels, out_f, out_q)
    return (out_q if levels else out_f).reshape(*lead, O)


@numba.njit(inline="always")
def _add_one(i, a, b, pa, pb, lo, hi, isc, ish, top, out):  # pragma: no cover (jit)
    """out[i] = quantize(clip(dequantize(a[i]) + dequantize(b[i]))), each step rounded exactly as the
    separate Dequantize, Add, Clamp and Quantize layers round it."""
    da = np.float32(np.float64(a[i]) * pa[0] + pa[1])
    db = np.float32(np.float64(b[i]) * pb[0] + pb[1])
    y = min(max(np.float32(da + db), lo), hi)
    out[i] = np.uint8(np.int32(min(max(np.rint(np.float32(np.float64(y) * isc + ish)), np.float32(0.0)), top)))


@numba.njit(**_JIT)
def _add_codes(a, b, pa, pb, lo, hi, isc, ish, top, out):  # pragma: no cover (jit)
    for i in numba.prange(a.size):
        _add_one(i, a, b, pa, pb, lo, hi, isc, ish, top, out)


@kernel("Add", versions=(INT8,), impl="jit")
def add_int8(a, b, pa, pb, *, clamp: list[float], requant: list[float]):
    """Residual Add on u8 codes of equal shape: ``pa``/``pb`` are (scale, shift) of each input's
    dequantization; ``clamp`` the fused activation; ``requant`` (isc, ish, max code) the next FQ."""
    out = np.empty(a.size, np.uint8)
    _add_codes(np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1), pa, pb,
               np.float32(clamp[0]), np.float32(clamp[1]), requant[0], requant[1], np.float32(requant[2]), out)
    return out.reshape(a.shape)


__all__ = ["INT8", "dequantize_codes", "epilogue", "gemm_int8", "gemm_int8_reference", "pack_conv_weights",
           "quantize_codes"]
