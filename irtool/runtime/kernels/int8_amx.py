"""INT8 Convolution and MatMul on AMX tiles, where the CPU has them (cpu.int8_isa() == "amx").

The same exact int32 sums as the pairs (vpmaddwd) and quads (vpdpbusd) paths, 16 x 16 x 64 products
an instruction (_amx): a block of 32 output channels x 32 pixels (convolution, ``tdpbsud``: s8 weight
rows times u8 activation quads) or 32 rows x 32 output channels (MatMul, ``tdpbusd``: u8 rows times
s8 weight quads), the zero point's share ``comp`` subtracted before the epilogue (int8_epilogue's,
operation for operation: the results are bit-identical to the other paths').

A convolution reads its input as int8_conv's channel quads (raw u8 codes, the border holding the zero
points) in place: each B tile is 16 pixels of one tap and up to 16 channel quads, the quads' planes
apart. Stride 1 runs over the padded grid (an output row of the padded width, its last columns
computed and dropped), other strides over 16-pixel vectors per output row (phases for stride 2 across,
as int8_conv); the sums' epilogue goes to a grid buffer, and from there (with a fused residual Add)
to the output. The numpy references are int8_conv's and int8_matmul's (tests/test_int8_isa.py).
"""
from __future__ import annotations

import functools

import numba
import numpy as np

from irtool.runtime.kernels import _amx
from irtool.runtime.kernels._int8_bound import _Bound, _STUB_Q, _NO_RESIDUAL, _bound_runner, _frozen
from irtool.runtime.kernels.int8_conv import _geometry, _to_quads, zero_point_share
from irtool.runtime.kernels.int8_epilogue import _JIT, RA, RB, RC, RHI, RLO, compose, compose_residual
from irtool.runtime.kernels.int8_quantize import _quantize_plane

ISA = "avx512_core_amx"  # the counters' name of these kernels (OpenVINO's)
_EMPTY_F, _EMPTY_D = np.zeros(0, np.float32), np.zeros(0, np.float64)
# geo (int64) of a convolution: ph, pw, S, Cqp, Hp, width, G, Wg, Ho, Wo, nobp, ob_bytes, nvp, direct
PH, PW, S_, CQP, HP, WIDTH, G_, WG, HO, WO, NOBP, OBB, NVP, DIRECT = range(14)


# ------------------------------------------------------------------------------------- convolution
@numba.njit(inline="always")
def _conv_pair(vp, x, pbase, boffs, bstride, wa, aoffs, astride, comp, t, geo, levels, O, pad_q, pad_f,
               cbuf):  # pragma: no cover (jit)
    """Vector pair ``vp`` (pixels 32vp .. 32vp + 31 of the grid) for every block of 32 output
    channels: the sums, then the epilogue into the grid buffers pad_q (u8) / pad_f (float32), [O, G]
    (rows of 32: the loop vectorizes; _from_grid drops the grid's columns past Wo), or, where the grid
    is the output's layout (``direct``: no columns to drop), into the output itself (G = Ho * Wo, the
    last pair cut)."""
    nobp, obb, G = geo[NOBP], geo[OBB], geo[G_]
    b0, b1 = pbase[2 * vp] * 4, pbase[2 * vp + 1] * 4
    for obp in range(nobp):
        a0 = 2 * obp * obb
        _amx.block_su(wa, a0, a0 + obb, aoffs, astride, x, b0, b1, boffs, bstride, cbuf, 0, 128)
        for o in range(min(32, O - obp * 32)):
            oc = obp * 32 + o
            ca, cb, lo, hi, cm = t[0, oc], t[1, oc], t[2, oc], t[3, oc], comp[oc]
            row, base, m = o * 32, oc * G + vp * 32, min(32, G - vp * 32)
            if levels > 0:
                for i in range(m):
                    y = np.float32(cbuf[row + i] - cm) * ca + cb
                    pad_q[base + i] = np.uint8(np.int32(min(max(np.rint(y), lo), hi)))
            else:
                for i in range(m):
                    y = np.float32(cbuf[row + i] - cm) * ca + cb
                    pad_f[base + i] = min(max(y, lo), hi)


@numba.njit(inline="always")
def _from_grid(oc, geo, levels, pad_q, pad_f, dq, df, oq, rp):  # pragma: no cover (jit)
    """Output channel ``oc``'s pixels from the grid (each row's first Wo columns), through the fused
    residual Add's map when ``rp`` is not empty (residual_reference's operations)."""
    G, Wg, Ho, Wo = geo[G_], geo[WG], geo[HO], geo[WO]
    for oh in range(Ho):
        s, d = oc * G + oh * Wg, (oc * Ho + oh) * Wo
        if levels > 0:
            if rp.size:
                ra, rb, rc, rlo, rhi = rp[RA], rp[RB], rp[RC], rp[RLO], rp[RHI]
                for ow in range(Wo):
                    y = np.float32(pad_q[s + ow]) * ra + (np.float32(oq[d + ow]) * rb + rc)
                    dq[d + ow] = np.uint8(np.int32(min(max(np.rint(y), rlo), rhi)))
            else:
                for ow in range(Wo):
                    dq[d + ow] = pad_q[s + ow]
        else:
            for ow in range(Wo):
                df[d + ow] = pad_f[s + ow]


@numba.njit(nogil=True)  # (not inlined: in a parallel function its slices would become parallel loops)
def _image_in(n, x, qf, qd, codes, geo, buf):  # pragma: no cover (jit)
    """Image ``n``'s channel quads into ``buf`` (its float input quantized first when ``qf`` is not
    empty: an absorbed input Quantize)."""
    S, Cqp, Hp, width = geo[S_], geo[CQP], geo[HP], geo[WIDTH]
    quads = buf[:S * Cqp * Hp * width].reshape((S, Cqp, Hp, width))
    if qf.size:  # (each branch types on its own: x is float32 here, u8 codes in the other)
        _quantize_plane(0, 1, codes[n].size, x[n].reshape(-1), qf[0:1], qf[1:2], qd[0:1], qd[1:2], codes[n].reshape(-1))
        _to_quads(codes[n], geo[PH], geo[PW], quads)
    else:
        _to_quads(x[n], geo[PH], geo[PW], quads)


@numba.njit(inline="always")
def _image_out(n, levels, out_q, out_f, other, rp):  # pragma: no cover (jit)
    """Image ``n``'s flat outputs (the type not written a stub) and the residual's other codes."""
    dq = out_q[n].reshape(-1) if levels > 0 else out_q.reshape(-1)
    df = out_f.reshape(-1) if levels > 0 else out_f[n].reshape(-1)
    oq = other[n].reshape(-1) if rp.size else other.reshape(-1)
    return dq, df, oq


@numba.njit(cache=True, nogil=True)
def _amx_conv(x, qf, qd, codes, buf, cfg, pbase, boffs, bstride, wa, aoffs, astride, comp, t, geo, levels, pad_q,
              pad_f, out_q, out_f, other, rp):  # pragma: no cover (jit)
    """Each image: quads in, the vector pairs into the grid, the outputs from it. On the calling thread."""
    O = t.shape[1]
    cbuf = np.empty(32 * 32, np.int32)
    for n in range(x.shape[0]):
        _image_in(n, x, qf, qd, codes, geo, buf)
        dq, df, oq = _image_out(n, levels, out_q, out_f, other, rp)
        gq, gf = (dq, df) if geo[DIRECT] else (pad_q, pad_f)
        _amx.tile_config(cfg)
        for vp in range(geo[NVP]):
            _conv_pair(vp, buf, pbase, boffs, bstride, wa, aoffs, astride, comp, t, geo, levels, O, gq, gf, cbuf)
        _amx.tile_release()
        if not geo[DIRECT]:
            for oc in range(O):
                _from_grid(oc, geo, levels, pad_q, pad_f, dq, df, oq, rp)


@numba.njit(**_JIT)
def _amx_conv_parallel(x, qf, qd, codes, buf, cfg, pbase, boffs, bstride, wa, aoffs, astride, comp, t, geo, levels,
                       pad_q, pad_f, out_q, out_f, other, rp):  # pragma: no cover (jit)
    """_amx_conv with the vector pairs, then the output channels, on every thread (each thread
    configures its own tiles)."""
    O = t.shape[1]
    nvp = geo[NVP]
    cbufs = np.empty((nvp, 32 * 32), np.int32)
    for n in range(x.shape[0]):
        _image_in(n, x, qf, qd, codes, geo, buf)
        dq, df, oq = _image_out(n, levels, out_q, out_f, other, rp)
        gq, gf = (dq, df) if geo[DIRECT] else (pad_q, pad_f)
        for vp in numba.prange(nvp):
            _amx.tile_config(cfg)
            _conv_pair(vp, buf, pbase, boffs, bstride, wa, aoffs, astride, comp, t, geo, levels, O, gq, gf, cbufs[vp])
            _amx.tile_release()
        if not geo[DIRECT]:
            for oc in numba.prange(O):
                _from_grid(oc, geo, levels, pad_q, pad_f, dq, df, oq, rp)


def pack_conv_weights_amx(w: np.ndarray, kq: int, cqp: int) -> np.ndarray:
    """s8-valued int16 [O, kh, kw, C] -> the A tiles, int8 [O/32 * 2, taps, Cqp/kq, 16, 4kq]: tile
    (ob, tap, q) holds output channels 16ob .. 16ob + 15 (rows) x the channels of quads
    q*kq .. (q+1)*kq - 1 at that tap (bytes), zero padded."""
    O, kh, kw, C = w.shape
    nob = -(-O // 32) * 2
    p = np.zeros((nob * 16, kh * kw, cqp * 4), np.int8)
    p[:O, :, :C] = w.reshape(O, kh * kw, C)
    p = p.reshape(nob, 16, kh * kw, cqp // kq, 4 * kq).transpose(0, 2, 3, 1, 4)
    return np.ascontiguousarray(p).reshape(-1)


@functools.lru_cache(maxsize=256)
def _conv_geo(k_shape, O, kh, kw, strides, dilations, pads_begin, pads_end, auto_pad, kq, cqp):
    """(geo, pbase, boffs, buffer size and quad plane in int32, output spatial shape, multiply-adds)
    of a 2-D convolution on AMX (stride 1 or 2 across)."""
    N, C = k_shape[:2]
    g = _geometry(k_shape[2:], (kh, kw), strides, dilations, pads_begin, pads_end, auto_pad)
    flat = g.sh == g.sw == 1
    S = 1 if g.sw == 1 else 2
    width = -(-g.Wp // S)
    plane = g.Hp * width
    if flat:  # the padded grid: output (oh, ow) at oh * Wp + ow, its tap (a, b) at + a*dh*Wp + b*dw
        Wg, nv = g.Wp, -(-g.Ho * g.Wp // 16)
        pbase = np.arange(nv, dtype=np.int64) * 16
    else:  # 16-pixel vectors per output row
        nbr = -(-g.Wo // 16)
        Wg, nv = nbr * 16, g.Ho * nbr
        oh, j = np.divmod(np.arange(nv, dtype=np.int64), nbr)
        pbase = oh * g.sh * width + j * 16
    pbase = np.concatenate([pbase, [0] * (nv % 2)])  # (an odd count: a junk vector, dropped)
    nvp = pbase.size // 2
    a, b = (v.reshape(-1) for v in np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij"))
    col = b * g.dw
    toff = (col % S) * (cqp * plane) + a * g.dh * width + col // S
    q = np.arange(cqp // kq)
    boffs = ((toff[:, None] + q[None, :] * kq * plane) * 4).reshape(-1)
    need = int(pbase.max() + toff.max() + (cqp - 1) * plane + 16)
    size = max(S * cqp * plane, need) + 16
    G = nvp * 32
    nob = -(-O // 32) * 2
    geo = np.array([g.ph, g.pw, S, cqp, g.Hp, width, G, Wg, g.Ho, g.Wo, nob // 2, kh * kw * (cqp // kq) * 16 * 4 * kq,
                    nvp, 0])
    return (_frozen(geo), _frozen(pbase), _frozen(boffs), size, plane, g.out_sp,
            g.Ho * g.Wo * kh * kw * C * O)


def prepare_convolution_amx(w16, ep, *, zero_point, strides, dilations, pads_begin, pads_end, auto_pad="explicit",
                            levels=0, residual=None, quantize=None):
    """prepare_convolution_int8 on AMX: ``w16`` int16 [O, kh, kw, C]; None where AMX does not take the
    layer (1-D, weights past s8, zero points past u8, under 128 products a pixel, stride over 2 across)."""
    from irtool.runtime.threads import PARALLEL_MACS

    O, C = w16.shape[0], w16.shape[-1]
    w4 = w16.reshape(O, -1, w16.shape[-2], C)
    kh, kw = w4.shape[1:3]
    zp = np.asarray(zero_point, np.int64).reshape(-1)
    small = kh * kw * C < 128  # (too few products a block to pay for the tiles: VNNI's in-register epilogue wins)
    if not _amx.request_permission() or len(w16.shape) != 4 or strides[-1] > 2 or small or w4.min(initial=0) < -128 or w4.max(initial=0) > 127 or zp.min() < 0 or zp.max() > 255:
        return None
    cq = -(-C // 4)
    kq = min(16, cq)
    cqp = -(-cq // kq) * kq
    wa = pack_conv_weights_amx(w4, kq, cqp)
    z = np.zeros(C, np.int64)  # (packed weights may have a zero channel more than the input: z 0 there)
    z[:] = zp[0] if zp.size == 1 else np.pad(zp, (0, max(0, C - zp.size)))[:C]
    comp = zero_point_share(w4, z, -(-O // 32) * 32)
    table = compose(ep, levels)
    cfg = _amx.config(4 * kq)
    astride = 4 * kq
    attrs = (tuple(strides), tuple(dilations), tuple(pads_begin), tuple(pads_end), auto_pad)
    rp = _NO_RESIDUAL if residual is None else compose_residual(*residual)
    qf, qd = ((np.array(quantize[:2], np.float32), np.array(quantize[2:4], np.float64)) if quantize is not None
              else (_EMPTY_F, _EMPTY_D))
    nsteps = kh * kw * (cqp // kq)
    aoffs = _frozen(np.arange(nsteps) * 16 * astride)

    def make(shape) -> _Bound:
        geo, pbase, boffs, size, plane, out_sp, macs = _conv_geo(shape, O, kh, kw, *attrs, kq, cqp)
        buf = _quad_buffer(z, C, geo, size, plane)
        codes = np.empty(shape, np.uint8) if quantize is not None else _STUB_Q
        if residual is None and geo[WG] == geo[WO]:  # the grid is the output's layout: written in place
            geo = geo.copy()
            geo[G_], geo[DIRECT] = geo[HO] * geo[WO], 1
            geo = _frozen(geo)
        G = 1 if geo[DIRECT] else int(geo[G_])
        pad_q = np.empty(O * G if levels else 1, np.uint8)  # (the grid: see _conv_pair)
        pad_f = np.empty(1 if levels else O * G, np.float32)
        fn = _amx_conv_parallel if macs >= PARALLEL_MACS else _amx_conv
        return _Bound(fn, None, (qf, qd, codes, buf, cfg, pbase, boffs, np.int64(plane * 4), wa,
                                                       aoffs, np.int64(astride), comp, table, geo, levels, pad_q, pad_f), () if residual is not None else (_STUB_Q, rp),
                      (shape[0], O, *out_sp), levels)
    if residual is not None:
        return _bound_runner(lambda shape: make(shape)._replace(tail=(rp,)), extra=2, isa=ISA)
    return _bound_runner(make, isa=ISA)


def _quad_buffer(z: np.ndarray, C: int, geo: np.ndarray, size: int, plane: int) -> np.ndarray:
    """The channel quads' buffer, every quad plane filled with its zero points' quad (the padding)."""
    S, cqp = int(geo[S_]), int(geo[CQP])
    zb = np.zeros(cqp * 4, np.uint8)
    zb[:C] = np.asarray(z, np.int64)[:C]
    buf = np.zeros(size, np.int32)
    buf[:S * cqp * plane].reshape(S, cqp, plane)[:] = zb.view(np.int32).reshape(1, cqp, 1)
    return buf


# ------------------------------------------------------------------------------------------ MatMul
@numba.njit(inline="always")
def _mm_pair(p, rowsbuf, wb, aoffs, astride, boffs, comp, t, levels, R, O, nobp, rb_bytes, ob_bytes, dq, df,
             cbuf):  # pragma: no cover (jit)
    """Block pair ``p`` (32 rows x 32 output channels): the sums, the epilogue into dq/df [R, O]."""
    rbp, obp = p // nobp, p % nobp
    a0 = 2 * rbp * rb_bytes
    b0 = 2 * obp * ob_bytes
    _amx.block_us(rowsbuf, a0, a0 + rb_bytes, aoffs, astride, wb, b0, b0 + ob_bytes, boffs, 64, cbuf, 0, 128)
    o0 = obp * 32
    for r in range(32):
        row = rbp * 32 + r
        if row < R:
            base = row * O
            if levels > 0:
                for j in range(min(32, O - o0)):
                    oc = o0 + j
                    y = np.float32(cbuf[r * 32 + j] - comp[oc]) * t[0, oc] + t[1, oc]
                    dq[base + oc] = np.uint8(np.int32(min(max(np.rint(y), t[2, oc]), t[3, oc])))
            else:
                for j in range(min(32, O - o0)):
                    oc = o0 + j
                    y = np.float32(cbuf[r * 32 + j] - comp[oc]) * t[0, oc] + t[1, oc]
                    df[base + oc] = min(max(y, t[2, oc]), t[3, oc])


@numba.njit(nogil=True)  # (not inlined: in a parallel function its slices would become parallel loops)
def _rows_in(rows, buf, Kp):  # pragma: no cover (jit)
    R, K = rows.shape
    src = rows.reshape(-1)
    for r in range(R):
        buf[r * Kp:r * Kp + K] = src[r * K:(r + 1) * K]


@numba.njit(cache=True, nogil=True)
def _amx_gemm(rows, rowsbuf, Kp, cfg, wb, aoffs, astride, boffs, comp, t, levels, nobp, rb_bytes, ob_bytes, out_q,
              out_f):  # pragma: no cover (jit)
    R, O = rows.shape[0], t.shape[1]
    _rows_in(rows, rowsbuf, Kp)
    cbuf = np.empty(32 * 32, np.int32)
    _amx.tile_config(cfg)
    for p in range(-(-R // 32) * nobp):
        _mm_pair(p, rowsbuf, wb, aoffs, astride, boffs, comp, t, levels, R, O, nobp, rb_bytes, ob_bytes,
                 out_q.reshape(-1), out_f.reshape(-1), cbuf)
    _amx.tile_release()


@numba.njit(**_JIT)
def _amx_gemm_parallel(rows, rowsbuf, Kp, cfg, wb, aoffs, astride, boffs, comp, t, levels, nobp, rb_bytes, ob_bytes,
                       out_q, out_f):  # pragma: no cover (jit)
    R, O = rows.shape[0], t.shape[1]
    _rows_in(rows, rowsbuf, Kp)
    n = -(-R // 32) * nobp
    cbufs = np.empty((n, 32 * 32), np.int32)
    dq, df = out_q.reshape(-1), out_f.reshape(-1)
    for p in numba.prange(n):
        _amx.tile_config(cfg)
        _mm_pair(p, rowsbuf, wb, aoffs, astride, boffs, comp, t, levels, R, O, nobp, rb_bytes, ob_bytes, dq, df,
                 cbufs[p])
        _amx.tile_release()


def pack_gemm_weights_amx(w: np.ndarray, kq: int, kqp: int) -> np.ndarray:
    """s8-valued int16 [O, K] -> the B tiles, int8 [O/32 * 2, Kqp/kq, kq, 16, 4]: tile (ob, s) holds
    inputs 4(s*kq + r) + j (row r, byte j) of output channels 16ob + column, zero padded."""
    O, K = w.shape
    nob = -(-O // 32) * 2
    p = np.zeros((nob * 16, kqp * 4), np.int8)
    p[:O, :K] = w
    return np.ascontiguousarray(p.reshape(nob, 16, kqp // kq, kq, 4).transpose(0, 2, 3, 1, 4)).reshape(-1)


def prepare_gemm_amx(w16: np.ndarray, table: np.ndarray, levels: int, zero_point: int):
    """``rows [R, K] u8 -> [R, O]`` on AMX (int8_matmul.prepare_gemm_int8's contract, ``table`` its
    compose()d epilogue [4, O]); None where AMX does not take it (weights past s8, fewer than 16
    inputs)."""
    from irtool.runtime.threads import PARALLEL_MACS

    O, K = w16.shape
    if not _amx.request_permission() or K < 16 or w16.min(initial=0) < -128 or w16.max(initial=0) > 127 or not 0 <= zero_point <= 255:
        return None
    kq = min(16, -(-K // 4))
    kqp = -(-(-(-K // 4)) // kq) * kq
    Kp = kqp * 4
    wb = pack_gemm_weights_amx(w16, kq, kqp)
    nsteps = kqp // kq
    comp = np.zeros(-(-O // 32) * 32, np.int64)
    comp[:O] = int(zero_point) * w16.astype(np.int64).sum(axis=1)
    comp = comp.astype(np.int32)
    cfg = _amx.config(4 * kq)
    aoffs = _frozen(np.arange(nsteps) * 4 * kq)
    boffs = _frozen(np.arange(nsteps) * kq * 64)
    nobp = -(-O // 32)
    ob_bytes = nsteps * kq * 64

    def make(shape) -> _Bound:
        R = shape[0]
        rowsbuf = np.zeros(-(-R // 32) * 32 * Kp + 64, np.uint8)  # (rows past R read zeros, dropped)
        fn = _amx_gemm_parallel if R * O * K >= PARALLEL_MACS else _amx_gemm
        return _Bound(fn, None, (rowsbuf, np.int64(Kp), cfg, wb, aoffs, np.int64(Kp), boffs, comp, table, levels,
                                 np.int64(nobp), np.int64(16 * Kp), np.int64(ob_bytes)), (), (R, O), levels)
    return _bound_runner(make, isa=ISA)


__all__ = ["pack_conv_weights_amx", "pack_gemm_weights_amx", "prepare_convolution_amx", "prepare_gemm_amx"]
