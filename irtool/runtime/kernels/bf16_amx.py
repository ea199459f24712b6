"""BF16 inference precision: float32 Convolutions with constant weights on AMX-BF16 tiles (``tdpbf16ps``).

With ``compile_model(..., precision="bf16")`` (OpenVINO's ``INFERENCE_PRECISION_HINT: bf16``), a
float32 2-D Convolution's weights and input are rounded to bfloat16 (to nearest, ties to even) and
multiplied on the tiles, the products summed in float32; bias, residual Add and clamp stay float32, as
the fused FP32 layer has them (fusion.fuse_epilogues). Everything else stays float32. The layout is
int8_amx's, a 32-bit unit holding two bf16 channels instead of four u8 ones: the input as channel pairs
read in place (a zero border), 32 output channels x 32 pixels a block. The numpy reference:
:func:`convolution_bf16_reference` (the float32 convolution of the rounded tensors).
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir  # noqa: F401  (the intrinsic's codegen, in _amx)
from numba.extending import intrinsic

from irtool.runtime.kernels import _amx
from irtool.runtime.kernels._int8_bound import _Bound, _bound_runner, _frozen
from irtool.runtime.kernels.int8_amx import (DIRECT, G_, HO, NOBP, NVP, OBB, PH, PW, S_, CQP, HP, WG, WIDTH, WO,
                                             _conv_geo, pack_conv_weights_amx)
from irtool.runtime.kernels.conv import convolution
from irtool.runtime.kernels.conv_prepare import numpy_epilogue
from irtool.runtime.kernels.int8_epilogue import _JIT, _U1
from irtool.runtime.profiling import BF16_DTYPE
from irtool.runtime.registry import kernel, specializer

ISA = "avx512_core_amx_bf16"
_NO_RES = np.zeros((1, 1, 1, 1), np.float32)


@intrinsic
def _block_bf16(typingctx, a, a0, a1, aoffs, astride, b, b0, b1, boffs, bstride, c, c0, cstride):
    """_amx.block_su's 2 x 2 block on bf16 pairs (tdpbf16ps): float32 sums."""
    return _amx._signature(a, a0, a1, aoffs, astride, b, b0, b1, boffs, bstride, c, c0, cstride), \
        _amx._block2x2_codegen("llvm.x86.tdpbf16ps")


def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> the uint16 bits of bfloat16, rounded to nearest even (NaN stays a quiet NaN)."""
    bits = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(x), np.uint16(0x7FC0), rounded)


def round_bf16(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to bfloat16 (as float32)."""
    return (to_bf16_bits(x).astype(np.uint32) << 16).view(np.float32)


def convolution_bf16_reference(x, w, bias=None, **attrs):
    """The numpy reference: the float64 convolution of the bf16-rounded input and weights (+ bias)."""
    from irtool.runtime.kernels.conv import convolution_reference

    y = convolution_reference(round_bf16(x).astype(np.float64), round_bf16(w).astype(np.float64), **attrs)
    return y if bias is None else y + np.asarray(bias, np.float64).reshape(1, -1, 1, 1)


@numba.njit(inline="always")
def _bf16(bits):  # pragma: no cover (jit)
    """uint32 bits of a float32 -> its bf16 bits (round to nearest even; NaN -> quiet NaN)."""
    b = np.uint64(bits)  # (unsigned throughout: numba mixes uint64 with int64 in float64)
    if (b & np.uint64(0x7FFFFFFF)) > np.uint64(0x7F800000):
        return np.uint32(0x7FC0)
    return np.uint32((b + np.uint64(0x7FFF) + ((b >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16))


@numba.njit(inline="always")
def _pair_run(src, s0, s1, step, n, keep, dst, d):  # pragma: no cover (jit)
    """dst[d + i] = the bf16 pair (src[s0 + i*step], src[s1 + i*step] if ``keep``) as an int32."""
    for i in range(n):
        j = i * step
        lo = _bf16(src[s0 + j])
        hi = _bf16(src[s1 + j]) if keep else np.uint32(0)
        dst[d + i] = np.int32(np.int64(lo | (hi << np.uint32(16))))  # (truncated: the high half's sign bit)


@numba.njit(nogil=True)
def _to_bf16_pairs(xbits, ph, pw, out):  # pragma: no cover (jit)
    """int8_conv._to_quads for bf16: out[col % S, c // 2, h + ph, col // S] holds channel c's bf16 at
    (h, w) in half c % 2 of an int32 (``xbits`` the float32 input's bits [C, H, W]; the border zero)."""
    C, H, W = xbits.shape
    S, Cp, Hp, Wq = out.shape
    src, dst = xbits.reshape(-1), out.reshape(-1)
    plane = H * W
    whole = S == 1 and Wq == W and ph == 0
    for cp in range(Cp):
        c0, c1 = min(2 * cp, C - 1), min(2 * cp + 1, C - 1)
        keep = 2 * cp + 1 < C
        if 2 * cp >= C:  # (a padding pair: zeros, and its weights are zero)
            continue
        if whole:
            _pair_run(src, np.uint64(c0 * plane), np.uint64(c1 * plane), _U1, np.uint64(plane), keep, dst,
                      np.uint64(cp * Hp * Wq))
            continue
        for h in range(H):
            r0, r1 = c0 * plane + h * W, c1 * plane + h * W
            if S == 1:
                _pair_run(src, np.uint64(r0), np.uint64(r1), _U1, np.uint64(W), keep, dst,
                          np.uint64((cp * Hp + h + ph) * Wq + pw))
            else:
                for phase in range(2):
                    w0 = (phase - pw) % 2
                    n, j0 = (W - w0 + 1) // 2, (w0 + pw) // 2
                    _pair_run(src, np.uint64(r0 + w0), np.uint64(r1 + w0), np.uint64(2), np.uint64(n), keep, dst,
                              np.uint64(((phase * Cp + cp) * Hp + h + ph) * Wq + j0))


@numba.njit(inline="always")
def _pair_block(vp, x, pbase, boffs, bstride, wa, aoffs, astride, bias, lo, hi, geo, O, grid, cbuf):  # pragma: no cover (jit)
    """Vector pair ``vp`` for every block of 32 output channels: the float32 sums plus the bias,
    clamped, into ``grid`` [O, G] (see int8_amx._conv_pair)."""
    nobp, obb, G = geo[NOBP], geo[OBB], geo[G_]
    b0, b1 = pbase[2 * vp] * 4, pbase[2 * vp + 1] * 4
    for obp in range(nobp):
        a0 = 2 * obp * obb
        _block_bf16(wa, a0, a0 + obb, aoffs, astride, x, b0, b1, boffs, bstride, cbuf, 0, 128)
        for o in range(min(32, O - obp * 32)):
            oc = obp * 32 + o
            row, base, m, b = o * 32, oc * G + vp * 32, min(32, G - vp * 32), bias[oc]
            for i in range(m):
                grid[base + i] = min(max(cbuf[row + i] + b, lo), hi)


@numba.njit(nogil=True)
def _from_grid(geo, O, grid, y, res, clo, chi):  # pragma: no cover (jit)
    """The outputs from the grid (each row's first Wo columns), the residual added then clamped when
    ``res`` is the output's shape (not the stub)."""
    G, Wg, Ho, Wo = geo[G_], geo[WG], geo[HO], geo[WO]
    with_res = res.size == y.size
    r = res.reshape(-1)
    for oc in range(O):
        for oh in range(Ho):
            s, d = oc * G + oh * Wg, (oc * Ho + oh) * Wo
            if with_res:
                for ow in range(Wo):
                    y[d + ow] = min(max(grid[s + ow] + r[d + ow], clo), chi)
            else:
                for ow in range(Wo):
                    y[d + ow] = grid[s + ow]


@numba.njit(**_JIT)
def _bf16_conv(xbits, buf, cfg, pbase, boffs, bstride, wa, aoffs, astride, bias, lo, hi, clo, chi, geo, pad, out_q,
               out, res):  # pragma: no cover (jit)
    """Each image: bf16 pairs in, the vector pairs on every thread, the outputs from the grid."""
    O = bias.size
    nvp = geo[NVP]
    cbufs = np.empty((nvp, 32 * 32), np.float32)
    S, Cp, Hp, width = geo[S_], geo[CQP], geo[HP], geo[WIDTH]
    for n in range(xbits.shape[0]):
        _to_bf16_pairs(xbits[n], geo[PH], geo[PW], buf[:S * Cp * Hp * width].reshape((S, Cp, Hp, width)))
        y = out[n].reshape(-1)
        grid = y if geo[DIRECT] else pad
        for vp in numba.prange(nvp):
            _amx.tile_config(cfg)
            _pair_block(vp, buf, pbase, boffs, bstride, wa, aoffs, astride, bias, lo, hi, geo, O, grid, cbufs[vp])
            _amx.tile_release()
        if not geo[DIRECT]:
            _from_grid(geo, O, pad, y, res[n] if res.shape[0] == out.shape[0] else res[0], clo, chi)


def available() -> bool:
    """Whether this CPU has AMX-BF16 and Linux lets this process use the tiles."""
    from irtool.runtime.cpu import host_features

    return {"amx-bf16", "amx-tile"} <= host_features() and _amx.request_permission()


def prepare_convolution_bf16(w: np.ndarray, bias: np.ndarray | None, clamp, residual: bool, *, strides, dilations,
                             pads_begin, pads_end, auto_pad="explicit"):
    """``(x[, residual]) -> y`` float32 for a 2-D convolution (weights float32 [O, C, kh, kw]) in bf16
    on the tiles; None where it does not run there (no AMX-BF16, not 2-D, stride over 2 across)."""
    if not available() or w.ndim != 4 or strides[-1] > 2:
        return None
    O, C, kh, kw = w.shape
    bits = to_bf16_bits(np.moveaxis(w, 1, -1))  # [O, kh, kw, C]
    cp = -(-C // 2)
    kp = min(16, cp)
    cpp = -(-cp // kp) * kp
    # the A tiles: int8_amx's packing of 4-byte units, each a pair of bf16 (little endian: even channel low)
    units = np.zeros((O, kh, kw, cpp * 2), np.uint16)
    units[..., :C] = bits
    wa = pack_conv_weights_amx(units.view(np.int8).reshape(O, kh, kw, cpp * 4), kp, cpp)
    inf = np.float32(np.inf)
    clo, chi = (np.float32(clamp[0]), np.float32(clamp[1])) if clamp is not None else (-inf, inf)
    lo, hi = (-inf, inf) if residual else (clo, chi)  # (with a residual the clamp comes after adding it)
    b = np.full(O, -0.0, np.float32) if bias is None else np.asarray(bias, np.float32).reshape(O)
    cfg = _amx.config(4 * kp)
    attrs = (tuple(strides), tuple(dilations), tuple(pads_begin), tuple(pads_end), auto_pad)
    aoffs = _frozen(np.arange(kh * kw * (cpp // kp)) * 16 * 4 * kp)

    def make(shape) -> _Bound:
        geo, pbase, boffs, size, plane, out_sp, _ = _conv_geo(shape, O, kh, kw, *attrs, kp, cpp)
        if not residual and geo[WG] == geo[WO]:
            geo = geo.copy()
            geo[G_], geo[DIRECT] = geo[HO] * geo[WO], 1
            geo = _frozen(geo)
        pad = np.empty(1 if geo[DIRECT] else O * int(geo[G_]), np.float32)
        head = (np.zeros(size, np.int32), cfg, pbase, boffs, np.int64(plane * 4), wa, aoffs, np.int64(4 * kp), b,
                lo, hi, clo, chi, geo, pad)
        return _Bound(_bf16_conv, None, head, (), (shape[0], O, *out_sp), 0)
    bound = _bound_runner(make, extra=0, isa=ISA)

    def run(x, *rest):
        res = rest[-1] if residual else _NO_RES
        return bound_call(bound, x, res)
    run.isa = ISA
    return run


def bound_call(bound, x, res):
    """The bound runner on ``x``'s bits, the residual as its one per-call extra."""
    return bound(np.ascontiguousarray(x, np.float32).view(np.uint32), res)




# ------------------------------------------------------------------------------------------ kernel
BF16 = "irtool-bf16"  # the opset of Convolutions compile_model(precision="bf16") runs in bf16 (runtime/bf16.py)


@kernel("Convolution", versions=(BF16,), impl="jit")
def convolution_bf16(x, w, bias=None, residual=None, *, strides: list[int], dilations: list[int],
                     pads_begin: list[int] | None = None, pads_end: list[int] | None = None, auto_pad: str = "explicit",
                     clamp: list[float] | None = None):
    """A (fused) float32 Convolution in bf16: input and weights rounded to bfloat16, the products summed
    in float32, then ``+ bias``, ``+ residual`` and the clamp in float32 (kernels/fused.py's epilogue).
    On the tiles where the CPU has AMX-BF16 (the specializer), else the float32 kernel on the rounded
    tensors (the same roundings, sums in another order)."""
    y = convolution(round_bf16(np.asarray(x, np.float32)), round_bf16(np.asarray(w, np.float32)), strides=strides,
                    dilations=dilations, pads_begin=pads_begin, pads_end=pads_end, auto_pad=auto_pad)
    return numpy_epilogue(y, bias, clamp, residual)


@specializer(convolution_bf16)
def _prepare_convolution_bf16(consts, clamp=None, **attrs):
    w = consts[1]
    if w is None or np.asarray(w).dtype != np.float32 or len(consts) > 2 and consts[2] is None:
        return None
    bias = None
    if len(consts) > 2:
        b = np.asarray(consts[2], np.float32)
        if b.size != np.asarray(w).shape[0]:
            return None
        bias = b.reshape(-1)
    attrs = {k: attrs[k] for k in ("strides", "dilations", "pads_begin", "pads_end", "auto_pad") if k in attrs}
    if "pads_begin" not in attrs or "pads_end" not in attrs:
        return None
    run = prepare_convolution_bf16(np.asarray(w, np.float32), bias, clamp, len(consts) > 3, **attrs)
    if run is None:
        return None
    fallback = lambda *a: convolution_bf16(*a, clamp=clamp, **attrs)  # noqa: E731

    def checked(x, *rest):  # (the tiles take a C-contiguous float32 4-D input; anything else the kernel)
        if type(x) is np.ndarray and x.dtype == np.float32 and x.ndim == 4:
            return run(x, *rest)
        return fallback(x, *rest)
    checked.isa, checked.exec_dtype = ISA, BF16_DTYPE
    return checked


__all__ = ["BF16", "convolution_bf16", "convolution_bf16_reference", "prepare_convolution_bf16", "round_bf16",
           "to_bf16_bits"]


# ------------------------------------------------------------------------------------------ MatMul
@numba.njit(nogil=True)
def _rows_bf16(rows_bits, buf, Kp):  # pragma: no cover (jit)
    """float32 rows [R, K] (their bits) -> bf16 rows of Kp (zero padded) in ``buf`` (uint16)."""
    R, K = rows_bits.shape
    src = rows_bits.reshape(-1)
    for r in range(R):
        for k in range(K):
            buf[r * Kp + k] = np.uint16(_bf16(src[r * K + k]))


@numba.njit(inline="always")
def _mm_block(p, rows, wb, aoffs, astride, boffs, bias, lo, hi, R, O, nobp, rb_bytes, ob_bytes, y, cbuf):  # pragma: no cover (jit)
    """Block pair ``p`` (32 rows x 32 output channels): float32 sums + bias, clamped, into y [R, O]."""
    rbp, obp = p // nobp, p % nobp
    a0, b0 = 2 * rbp * rb_bytes, 2 * obp * ob_bytes
    _block_bf16(rows, a0, a0 + rb_bytes, aoffs, astride, wb, b0, b0 + ob_bytes, boffs, 64, cbuf, 0, 128)
    o0 = obp * 32
    n = min(32, O - o0)
    for r in range(min(32, R - rbp * 32)):
        base = (rbp * 32 + r) * O + o0
        for j in range(n):
            y[base + j] = min(max(cbuf[r * 32 + j] + bias[o0 + j], lo), hi)


@numba.njit(**_JIT)
def _bf16_gemm(rows_bits, buf, Kp, cfg, wb, aoffs, astride, boffs, bias, lo, hi, nobp, rb_bytes, ob_bytes, out_q,
               out):  # pragma: no cover (jit)
    R, O = rows_bits.shape[0], out.shape[1]
    _rows_bf16(rows_bits, buf, Kp)
    n = -(-R // 32) * nobp
    cbufs = np.empty((n, 32 * 32), np.float32)
    y = out.reshape(-1)
    for p in numba.prange(n):
        _amx.tile_config(cfg)
        _mm_block(p, buf, wb, aoffs, astride, boffs, bias, lo, hi, R, O, nobp, rb_bytes, ob_bytes, y, cbufs[p])
        _amx.tile_release()


def prepare_matmul_bf16(w: np.ndarray, bias: np.ndarray | None, clamp):
    """``rows [R, K] -> [R, O]`` float32 in bf16 on the tiles: ``w`` the float32 weights [O, K];
    None where the tiles are not there."""
    from irtool.runtime.kernels.int8_amx import pack_gemm_weights_amx

    if not available():
        return None
    O, K = w.shape
    kp = min(16, -(-K // 2))  # bf16 pairs a step
    kpp = -(-(-(-K // 2)) // kp) * kp
    Kp = kpp * 2  # bf16 a padded row
    bits = np.zeros((O, Kp), np.uint16)
    bits[:, :K] = to_bf16_bits(w)
    wb = pack_gemm_weights_amx(bits.view(np.int8), kp, kpp)  # (the pairs as 4-byte units)
    nsteps = kpp // kp
    cfg = _amx.config(4 * kp)
    aoffs, boffs = _frozen(np.arange(nsteps) * 4 * kp), _frozen(np.arange(nsteps) * kp * 64)
    nobp = -(-O // 32)
    b = np.zeros(nobp * 32, np.float32)
    b[:O] = -0.0 if bias is None else np.asarray(bias, np.float32).reshape(O)
    inf = np.float32(np.inf)
    lo, hi = (np.float32(clamp[0]), np.float32(clamp[1])) if clamp is not None else (-inf, inf)

    def make(shape) -> _Bound:
        R = shape[0]
        buf = np.zeros(-(-R // 32) * 32 * Kp + 64, np.uint16)  # (rows past R read zeros, dropped)
        return _Bound(_bf16_gemm, None, (buf, np.int64(Kp), cfg, wb, aoffs, np.int64(Kp * 2), boffs, b, lo, hi,
                                         np.int64(nobp), np.int64(16 * Kp * 2), np.int64(nsteps * kp * 64)), (),
                      (R, O), 0)
    return _bound_runner(make, isa=ISA)


@kernel("MatMul", versions=(BF16,), impl="jit")
def matmul_bf16(a, b, bias=None, *, transpose_a: bool = False, transpose_b: bool = False,
                clamp: list[float] | None = None):
    """A (fused) float32 MatMul in bf16: both operands rounded to bfloat16, float32 sums, then the
    fused bias and clamp in float32; on the tiles for constant weights (the specializer)."""
    from irtool.runtime.kernels.matmul import matmul

    y = matmul(round_bf16(np.asarray(a, np.float32)), round_bf16(np.asarray(b, np.float32)), transpose_a=transpose_a,
               transpose_b=transpose_b)
    return numpy_epilogue(np.array(y, np.float32), bias, clamp)


@specializer(matmul_bf16)
def _prepare_matmul_bf16(consts, transpose_a=False, transpose_b=False, clamp=None):
    w = consts[1]
    if w is None or transpose_a or np.asarray(w).dtype != np.float32 or np.asarray(w).ndim != 2 or \
            len(consts) > 2 and consts[2] is None:
        return None
    wt = np.ascontiguousarray(np.asarray(w) if transpose_b else np.asarray(w).T)  # [O, K]
    O, K = wt.shape
    bias = None
    if len(consts) > 2:
        bias = np.asarray(consts[2], np.float32)
        if bias.size != O or bias.shape[-1] != O:
            return None
    gemm = prepare_matmul_bf16(wt, bias, clamp)
    if gemm is None:
        return None
    fallback = lambda *a: matmul_bf16(*a, transpose_a=transpose_a, transpose_b=transpose_b, clamp=clamp)  # noqa: E731

    def run(x, *rest):
        if type(x) is np.ndarray and x.dtype == np.float32 and x.ndim >= 2 and x.shape[-1] == K:
            y = gemm(np.ascontiguousarray(x).reshape(-1, K).view(np.uint32))
            return y.reshape(*x.shape[:-1], O).copy()  # (gemm's buffer is reused)
        return fallback(x, *rest)
    run.isa, run.exec_dtype = ISA, BF16_DTYPE
    return run
