"""INT8 MatMul: u8 codes x int16 weights on the vpmaddwd micro-kernel, or two activations' codes.

With constant weights the rows become int16 pair blocks (_rows_to_blocks) and _int8_codegen's
_gemm_block runs with the roles turned: the weights' output channels along the vector lanes, the output
written row-major in place (:func:`gemm_int8`, its numpy reference :func:`gemm_int8_reference`; the call
bound once per shape and thread, _int8_bound). A product of two activations (attention) takes
:func:`matmul_codes`: exact sums through BLAS, float32 up to EXACT_F32_TERMS terms and float64 past
them, then the per-tensor epilogue (:func:`matmul_codes_reference` in int64).
"""
from __future__ import annotations

import numba
import numpy as np

from irtool.runtime.kernels._int8_bound import _Bound, _NO_COMP, _NO_RESIDUAL, _STUB_F1, _STUB_Q1, _bound_runner, _frozen
from irtool.runtime.kernels._int8_codegen import LANES, TILE_O, TILE_V, _from_scratch, _gemm_block
from irtool.runtime.kernels.int8_epilogue import INT8, _JIT, _U1, compose, epilogue_reference
from irtool.runtime.registry import kernel, specializer


@numba.njit(inline="always")
def _rows_to_blocks(rows, z, out):  # pragma: no cover (jit)
    """out[r // 4, c // 2, r % 4] = the int16 pair (rows[r, c] - z, rows[r, c + 1] - z) (zero past the
    last column): rows [R, K] (u8 codes, or int16 with z = 0) as _gemm_block's broadcast operand
    (``out`` [ceil(R/4), ceil(K/2), 4])."""
    R, K = rows.shape
    Kp = out.shape[1]
    src, dst = rows.reshape(-1), out.reshape(-1)
    four = np.uint64(TILE_O)
    for r in range(R):
        s0 = np.uint64(r * K)
        d0 = np.uint64((r // TILE_O) * Kp * TILE_O + r % TILE_O)
        for cp in range(np.uint64(K // 2)):
            lo = (np.int32(src[s0 + cp + cp]) - z) & 0xFFFF
            hi = (np.int32(src[s0 + cp + cp + _U1]) - z) << 16
            dst[d0 + cp * four] = np.int32(lo | hi)
        if K % 2:
            dst[d0 + np.uint64(K // 2) * four] = np.int32((np.int32(src[s0 + np.uint64(K - 1)]) - z) & 0xFFFF)


@numba.njit(inline="always")
def _rows_to_quads(rows, out):  # pragma: no cover (jit)
    """out[r // 4, c // 4, r % 4] = the u8 quad rows[r, c .. c + 3] as an int32 (bytes in column
    order, zero past the last column): the VNNI kernel's broadcast operand, raw codes (the zero
    point's share is the weights' comp). ``out`` [ceil(R/4), ceil(K/4), 4]."""
    R, K = rows.shape
    Kq = out.shape[1]
    src, dst = rows.reshape(-1), out.reshape(-1)
    four = np.uint64(TILE_O)
    for r in range(R):
        s0 = np.uint64(r * K)
        d0 = np.uint64((r // TILE_O) * Kq * TILE_O + r % TILE_O)
        for cq in range(np.uint64(K // 4)):
            c = s0 + cq * four
            q = (np.int64(src[c]) | (np.int64(src[c + _U1]) << 8) | (np.int64(src[c + np.uint64(2)]) << 16)
                 | (np.int64(src[c + np.uint64(3)]) << 24))
            dst[d0 + cq * four] = np.int32(q)
        if K % 4:
            q = np.int64(0)
            for j in range(K % 4):
                q |= np.int64(src[s0 + np.uint64(K - K % 4 + j)]) << (8 * j)
            dst[d0 + np.uint64(K // 4) * four] = np.int32(q)


@numba.njit(inline="always")
def _gemm_tile(t, a, offs, wt, comp, ep, levels, R, O, dq, df, sq, sf):  # pragma: no cover (jit)
    """Output columns 16t .. 16t + 15 of every block of 4 rows: _gemm_block; a last partial tile
    through the scratch sq/sf ([4 * 16])."""
    nkp = offs.size
    p0 = t * TILE_V * LANES
    n = min(TILE_V * LANES, O - p0)
    for rb in range((R + TILE_O - 1) // TILE_O):
        r0 = rb * TILE_O
        no = min(TILE_O, R - r0)
        if n == TILE_V * LANES:
            _gemm_block(wt, offs, a, r0 * nkp, nkp, p0, p0 + LANES, ep, p0, no, levels, dq, df, r0 * O + p0, O,
                        _STUB_Q1, _NO_RESIDUAL, comp)
        else:
            _gemm_block(wt, offs, a, r0 * nkp, nkp, p0, p0 + LANES, ep, p0, no, levels, sq, sf, 0, TILE_V * LANES,
                        _STUB_Q1, _NO_RESIDUAL, comp)
            _from_scratch(no, n, levels, sq, sf, dq, df, r0 * O + p0, O)


@numba.njit(inline="always")
def _gemm_prologue(rows, z, a, quads, levels, out_q, out_f):  # pragma: no cover (jit)
    """The rows as pair blocks (or quads) into ``a``; (R, O, flat outputs, number of 16-column tiles)."""
    R = rows.shape[0]
    O = out_q.shape[1] if levels > 0 else out_f.shape[1]
    if quads:
        _rows_to_quads(rows, a)
    else:
        _rows_to_blocks(rows, z, a)
    return R, O, out_q.reshape(-1), out_f.reshape(-1), (O + TILE_V * LANES - 1) // (TILE_V * LANES)


@numba.njit(cache=True, nogil=True)
def _gemm_codes(rows, z, a, offs, wt, comp, ep, levels, out_q, out_f):  # pragma: no cover (jit)
    """out [R, O] = epilogue((rows [R, K] - z) x w^T): the rows as pair blocks into ``a``, then the
    tiles of 16 output columns (``wt`` the weights as pairs, see pack_gemm_weights); ``out_q``/``out_f``
    [R, O] (the other a stub); ``comp`` not empty: the VNNI kernel on u8 quads (see prepare_gemm_int8).
    On the calling thread."""
    R, O, dq, df, nt = _gemm_prologue(rows, z, a, comp.size > 0, levels, out_q, out_f)
    sq, sf = np.empty(TILE_O * TILE_V * LANES, np.uint8), np.empty(TILE_O * TILE_V * LANES, np.float32)
    for t in range(nt):
        _gemm_tile(t, a, offs, wt, comp, ep, levels, R, O, dq, df, sq, sf)


@numba.njit(cache=True, nogil=True)
def _gemm_codes_parallel(rows, z, a, offs, wt, comp, ep, levels, out_q, out_f):  # pragma: no cover (jit)
    """_gemm_codes with the tiles on every thread (products of over threads.PARALLEL_MACS)."""
    R, O, dq, df, nt = _gemm_prologue(rows, z, a, comp.size > 0, levels, out_q, out_f)
    _gemm_tiles_parallel(nt, a, offs, wt, comp, ep, levels, R, O, dq, df)


@numba.njit(**_JIT)
def _gemm_tiles_parallel(nt, a, offs, wt, comp, ep, levels, R, O, dq, df):  # pragma: no cover (jit)
    """The tiles of _gemm_codes spread over numba's threads (products of over threads.PARALLEL_MACS)."""
    sq, sf = np.empty((nt, TILE_O * TILE_V * LANES), np.uint8), np.empty((nt, TILE_O * TILE_V * LANES), np.float32)
    for t in numba.prange(nt):
        _gemm_tile(t, a, offs, wt, comp, ep, levels, R, O, dq, df, sq[t], sf[t])


def pack_gemm_weights(w: np.ndarray) -> np.ndarray:
    """int16 [O, K] -> int32 [ceil(K/2), O padded to 16]: wt[kp, o] = the pair (w[o, 2kp],
    w[o, 2kp + 1]), the output channels as _gemm_block's pixels."""
    O, K = w.shape
    Kp, Op = -(-K // 2), -(-O // (TILE_V * LANES)) * TILE_V * LANES
    p = np.zeros((Op, Kp * 2), np.int16)
    p[:O, :K] = w
    return np.ascontiguousarray(p.reshape(Op, Kp, 2).transpose(1, 0, 2)).view(np.int32).reshape(Kp, Op)


def pack_gemm_weights_vnni(w: np.ndarray) -> np.ndarray | None:
    """int16 [O, K] -> int32 [ceil(K/4), O padded to 16]: wt[kq, o] = the s8 quad w[o, 4kq .. 4kq + 3]
    (the VNNI kernel's); None when a weight is outside s8."""
    if w.size and (w.min() < -128 or w.max() > 127):
        return None
    O, K = w.shape
    Kq, Op = -(-K // 4), -(-O // (TILE_V * LANES)) * TILE_V * LANES
    p = np.zeros((Op, Kq * 4), np.int8)
    p[:O, :K] = w
    return np.ascontiguousarray(p.reshape(Op, Kq, 4).transpose(1, 0, 2)).view(np.int32).reshape(Kq, Op)


def prepare_gemm_int8(w, ep, levels=0, channel_major=False, zero_point=0, codes=False):
    """``rows [R, K] -> [R, O]`` (or [O, R] when ``channel_major``): the epilogue of the exact
    products (rows - zero_point) x w^T, rows u8 codes or int16; w int16 [O, K]. The output is
    written row-major in place (the epilogue's columns along the vector lanes). ``codes``: the rows
    are u8 codes, so the VNNI kernel may take them (cpu.int8_isa: s8 weights, raw u8 quads, and the
    zero point's share comp[o] = z * sum_k w[o, k] subtracted from the sums)."""
    from irtool.runtime.cpu import int8_exec_isa, int8_isa
    from irtool.runtime.threads import PARALLEL_MACS

    O, K = w.shape
    w16 = np.asarray(w, np.int16)
    isa = int8_isa() if codes else "avx2"
    if isa == "amx" and not channel_major:
        from irtool.runtime.kernels.int8_amx import prepare_gemm_amx

        run = prepare_gemm_amx(w16, compose(ep, levels), levels, int(zero_point))
        if run is not None:
            return run
    wt = pack_gemm_weights_vnni(w16) if isa in ("vnni", "amx") and 0 <= zero_point <= 255 else None
    comp = _NO_COMP
    if wt is not None:
        comp = np.zeros(wt.shape[1], np.int64)
        comp[:O] = int(zero_point) * w16.astype(np.int64).sum(axis=1)
        comp = comp.astype(np.int32)  # (|z * sum| <= 255 * 128 * K: int32 below K = 65,793)
    else:
        wt = pack_gemm_weights(w16)
    Kp, Op = wt.shape
    table = np.zeros((4, Op), np.float32)  # padded: the last tile's lanes past O read zeros
    table[:, :O] = compose(ep, levels)
    ep32 = table.reshape(-1)
    offs = _frozen(np.arange(Kp) * Op)
    wt = wt.reshape(-1)

    def make(shape) -> _Bound:
        R = shape[0]
        a = np.zeros((-(-R // TILE_O), Kp, TILE_O), np.int32)
        fn = _gemm_codes_parallel if R * O * K >= PARALLEL_MACS else _gemm_codes
        return _Bound(fn, None, (np.int32(zero_point), a, offs, wt, comp, ep32, levels), (), (R, O), levels)
    run = _bound_runner(make, isa=int8_exec_isa("vnni" if comp.size else "avx2"))
    return (lambda rows: np.array(run(rows).T, order="C")) if channel_major else run  # (a copy: run's buffer is reused)


def gemm_int8(rows: np.ndarray, w: np.ndarray, ep: np.ndarray, levels: int = 0,
              channel_major: bool = False) -> np.ndarray:
    """``rows`` int16 [R, K] (activation codes minus zero point), ``w`` int16 [O, K] -> [R, O] (or
    [O, R] when ``channel_major``): the float32 epilogue, or u8 codes when ``levels`` > 0."""
    return prepare_gemm_int8(w, ep, levels, channel_major)(np.ascontiguousarray(rows, np.int16))


def gemm_int8_reference(rows, w, ep, levels=0, channel_major=False):
    acc = rows.astype(np.int64) @ w.astype(np.int64).T
    y = epilogue_reference(acc, ep, levels)
    return np.ascontiguousarray(y.T) if channel_major else y


@kernel("MatMul", versions=(INT8,), impl="jit")
def matmul_int8(k, w, ep, *, zero_point: list[int], levels: int = 0, zero_point_b: list[int] | None = None,
                transpose_a: bool = False, transpose_b: bool = False):
    """u8 codes [..., K] x int16 weights [O, K] -> [..., O]; or, with ``zero_point_b``, two activations'
    u8 codes (``w`` the second, as MatMul's ``transpose_a``/``transpose_b`` say): see matmul_codes."""
    if zero_point_b is not None:
        return matmul_codes(k, w, ep, zero_point[0], zero_point_b[0], transpose_a, transpose_b, levels)
    return prepare_matmul_int8(w, ep, zero_point=zero_point, levels=levels)(k)


# Products of two activations: (a - za) x (b - zb) on u8 codes, each product at most 255 * 255 in size,
# so every partial sum of up to EXACT_F32_TERMS of them is an integer under 2^24: float32 BLAS sums them
# exactly, in any order and with FMA; longer sums take float64 (exact to 2^53).
EXACT_F32_TERMS = (1 << 24) // (255 * 255)


def matmul_codes(a, b, ep, za: int, zb: int, transpose_a: bool = False, transpose_b: bool = False,
                 levels: int = 0, t: np.ndarray | None = None) -> np.ndarray:
    """MatMul of two activations' u8 codes ``a``, ``b`` (numpy's broadcasting of batch dims): the
    exact integer products sum((a - za) * (b - zb)) through the epilogue ``ep`` (one column: per
    tensor; ``t`` its :func:`compose` if done already), float32 or u8 codes when ``levels`` > 0
    (:func:`epilogue_reference`)."""
    K = a.shape[-2] if transpose_a else a.shape[-1]
    t = compose(ep, levels) if t is None else t
    dt = np.float32 if K <= EXACT_F32_TERMS else np.float64
    af, bf = a.astype(dt), b.astype(dt)
    af -= dt(za)
    bf -= dt(zb)
    acc = np.matmul(np.swapaxes(af, -1, -2) if transpose_a else af, np.swapaxes(bf, -1, -2) if transpose_b else bf)
    out = np.empty(acc.shape, np.uint8 if levels else np.float32)
    flat = out.reshape(-1)
    _epilogue_flat(acc.reshape(-1), t, levels, flat if levels else _STUB_Q1, _STUB_F1 if levels else flat)
    return out


@numba.njit(cache=True, nogil=True)
def _epilogue_flat(acc, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """The per-tensor epilogue (column 0 of ``t``) of exact sums ``acc`` (flat, float) into out_q
    (u8) or out_f: :func:`epilogue_reference`'s operations, vectorized."""
    a, b, lo, hi = t[0, 0], t[1, 0], t[2, 0], t[3, 0]
    if levels > 0:
        for i in range(np.uint64(acc.size)):
            out_q[i] = np.uint8(np.int32(min(max(np.rint(np.float32(acc[i]) * a + b), lo), hi)))
    else:
        for i in range(np.uint64(acc.size)):
            out_f[i] = min(max(np.float32(acc[i]) * a + b, lo), hi)


def matmul_codes_reference(a, b, ep, za, zb, transpose_a=False, transpose_b=False, levels=0):
    """matmul_codes in int64."""
    a64, b64 = a.astype(np.int64) - za, b.astype(np.int64) - zb
    acc = np.matmul(np.swapaxes(a64, -1, -2) if transpose_a else a64, np.swapaxes(b64, -1, -2) if transpose_b else b64)
    return epilogue_reference(acc, ep, levels)


def prepare_matmul_int8(w, ep, *, zero_point, levels=0):
    gemm = prepare_gemm_int8(w, ep, levels, zero_point=int(zero_point[0]), codes=True)
    O = w.shape[0]

    def run(k, *_):  # the constant inputs again (the plugin passes every input)
        if k.ndim == 2 and k.flags.c_contiguous:
            return gemm(k)
        return gemm(np.ascontiguousarray(k).reshape(-1, k.shape[-1])).reshape(*k.shape[:-1], O)
    run.reuses_output = getattr(gemm, "reuses_output", False)  # (a view of gemm's buffer)
    run.isa = gemm.isa
    return run


@specializer(matmul_int8)
def _prepare_matmul_int8(consts, zero_point_b=None, transpose_a=False, transpose_b=False, **attrs):
    if consts[2] is None:
        return None
    if zero_point_b is not None:  # two activations
        ep, za, zb, levels = consts[2], attrs["zero_point"][0], zero_point_b[0], attrs.get("levels", 0)
        t = compose(ep, levels)
        return lambda a, b, *_: matmul_codes(a, b, ep, za, zb, transpose_a, transpose_b, levels, t)
    if consts[1] is None:
        return None
    return prepare_matmul_int8(consts[1], consts[2], **attrs)


__all__ = ["gemm_int8", "gemm_int8_reference", "pack_gemm_weights", "pack_gemm_weights_vnni"]
