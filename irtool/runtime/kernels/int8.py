"""Integer kernels of the INT8 path: quantize, dequantize, u8 x s8 convolution and matrix product.

Activations travel as u8 codes ``k`` with a zero point ``z`` (real value ``(k - z) * s``); weights as
integer codes with a per-output-channel scale. Products accumulate exactly in int32: inputs are
widened to int16 ``(k - z)`` and multiplied with int16 weights by ``vpmaddwd`` (pairs of int16
products summed into int32), never the saturating ``vpmaddubsw``, so results do not depend on the
CPU. Convolutions run a register-blocked micro-kernel (4 output channels x 16 pixels) written in
plain LLVM IR, on channel pairs read in place from the padded input; MatMuls run the same kernel
with the roles turned (output channels along the vector lanes, rows row-major in place).
Depthwise layers compute in float32, which is exact for their short sums of integer products.

The epilogue runs on the accumulators while they are in registers, in float32 (:func:`compose`):
``y = f32(acc) * A + B`` clamped, and when the next layer takes INT8 the requantization is folded
into the same affine map, ``q = clip(rint(f32(acc) * A + B), LO, HI)``; :func:`epilogue_reference`
is its numpy definition, which the kernels match bit for bit.

Quantize followed by Dequantize is bit-identical to FakeQuantize (same float arithmetic as
``kernels/fake_quantize.py``); the integer products are exact; what differs from the FP32 emulation
of the same IR is only float rounding in the epilogue: at most one quantization step.

Every kernel has a load-time specializer: weights packed, the epilogue composed, and per input shape
and thread a bound call with its work buffers and output buffer, straight into numba's machine code
(``_bound_runner``), so that a small layer pays little more than the unboxing of its arguments.
"""
from __future__ import annotations

import functools
import threading
from typing import NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.dispatcher import Dispatcher
from numba.extending import intrinsic

from irtool.runtime.kernels.conv import _to3, conv_out_shape, conv_pads
from irtool.runtime.kernels.depthwise import _depthwise_same_codes, same_codes_layout
from irtool.runtime.registry import kernel, specializer

INT8 = "irtool-int8"  # the opset of irtool's internal INT8 layers (never written to a file)
_JIT = dict(parallel=True, cache=True, nogil=True)
# Unsigned indices: numba then emits no negative-index wraparound, so the loops below index flat arrays
# directly (no per-row slice: each costs two reference-count calls, more than a short row).
_U1 = np.uint64(1)


# ------------------------------------------------------------------------------------------ quantize
def quantize_codes(x: np.ndarray, lo, hi, isc, ish) -> np.ndarray:
    """FakeQuantize's first half: ``rint(clip(x) * isc + ish)`` with one rounding (FMA), as u8."""
    y = np.clip(x.astype(np.float32, copy=False), lo, hi).astype(np.float64)
    return np.rint((y * isc + ish).astype(np.float32)).astype(np.uint8)


def dequantize_codes(k: np.ndarray, osc, osh) -> np.ndarray:
    """FakeQuantize's second half: ``k * osc + osh`` with one rounding (FMA), as float32."""
    return (k.astype(np.float64) * osc + osh).astype(np.float32)


@numba.njit(inline="always")
def _quantize_plane(nc, C, R, src, lo, hi, isc, ish, dst):  # pragma: no cover (jit)
    """Plane ``nc`` (= n * C + c, R values) of _quantize on the flat arrays: one loop, the parameters
    in registers and unsigned offsets (no wraparound), which LLVM vectorizes."""
    c = nc % C
    a, b, s, t = lo[c % lo.size], hi[c % hi.size], isc[c % isc.size], ish[c % ish.size]
    base = np.uint64(nc * R)
    for r in range(np.uint64(R)):
        v = min(max(src[base + r], a), b)
        dst[base + r] = np.uint8(np.int32(np.rint(np.float32(np.float64(v) * s + t))))


@numba.njit(**_JIT)
def _quantize(x, lo, hi, isc, ish, out):  # pragma: no cover (jit)
    """One pass of quantize_codes over x [N, C, ...] (C-contiguous) with per-channel (or broadcast)
    parameters."""
    N, C = x.shape[0], x.shape[1]
    R = x.size // max(N * C, 1)
    src, dst = x.reshape(-1), out.reshape(-1)
    for nc in numba.prange(N * C):
        _quantize_plane(nc, C, R, src, lo, hi, isc, ish, dst)


@numba.njit(cache=True, nogil=True)
def _quantize_serial(x, lo, hi, isc, ish, out):  # pragma: no cover (jit)
    """_quantize on the calling thread (tensors under threads.SERIAL_BELOW: no parallel region);
    per-tensor parameters in one pass over all planes."""
    N, C = x.shape[0], x.shape[1]
    R = x.size // max(N * C, 1)
    src, dst = x.reshape(-1), out.reshape(-1)
    if lo.size == hi.size == isc.size == ish.size == 1:
        _quantize_plane(0, 1, N * C * R, src, lo, hi, isc, ish, dst)
        return
    for nc in range(N * C):
        _quantize_plane(nc, C, R, src, lo, hi, isc, ish, dst)


def _channel_params(v, x: np.ndarray, dtype) -> np.ndarray | None:
    """A quantization parameter as one value, or one per channel (axis 1), flat; None if it varies
    along another axis. The kernels read channel c's at [c % size]."""
    v = np.asarray(v, dtype)
    if v.size == 1:
        return v.reshape(1)
    if x.ndim > 1 and v.size == x.shape[1] and v.ndim == x.ndim and v.shape[1] == v.size:
        return np.ascontiguousarray(v.reshape(-1))
    return None


@numba.njit(cache=True, nogil=True)
def _quantize_scaled(x, m, lo, hi, isc, ish, out):  # pragma: no cover (jit)
    """quantize_codes(x * m) with per-tensor parameters, ``m`` float32 along the last axis: the
    product rounded to float32 as the separate Multiply rounds it, then the same steps as _quantize."""
    K = m.size
    src, dst = x.reshape(-1), out.reshape(-1)
    a, b, s, t = lo[0], hi[0], isc[0], ish[0]
    for row in range(x.size // K):
        base = np.uint64(row * K)
        for j in range(np.uint64(K)):
            v = min(max(np.float32(src[base + j] * m[j]), a), b)
            dst[base + j] = np.uint8(np.int32(np.rint(np.float32(np.float64(v) * s + t))))


def quantize_scaled_reference(x, lo, hi, isc, ish, m):
    """numpy: the Multiply, then quantize_codes."""
    return quantize_codes((x * np.asarray(m, np.float32)).astype(np.float32), lo, hi, isc, ish)


@kernel("Quantize", versions=(INT8,), impl="jit")
def quantize(x, lo, hi, isc, ish, scale=None):
    """FakeQuantize's first half (f32 -> u8 codes); with ``scale`` (float32 along the last axis, an
    absorbed Multiply, see lpt.fuse_scale) of ``x * scale``."""
    return prepare_quantize(lo, hi, isc, ish, scale)(x)


def prepare_quantize(lo, hi, isc, ish, scale=None):
    """``x -> u8 codes`` for constant parameters: checked and flattened once per input shape; small
    tensors on the calling thread."""
    if scale is not None:
        m = np.ascontiguousarray(np.asarray(scale, np.float32).reshape(-1))
        params = [np.asarray(v, d).reshape(1) for v, d in ((lo, np.float32), (hi, np.float32), (isc, np.float64),
                                                          (ish, np.float64))]

        def run_scaled(x, *_):
            if x.dtype != np.float32 or x.shape[-1] != m.size:
                return quantize_scaled_reference(x, lo, hi, isc, ish, m)
            out = np.empty(x.shape, np.uint8)
            _quantize_scaled(x if x.flags.c_contiguous else np.ascontiguousarray(x), m, *params, out)
            return out
        return run_scaled

    return _per_shape_pass(((lo, np.float32), (hi, np.float32), (isc, np.float64), (ish, np.float64)),
                           _quantize_serial, _quantize, np.float32, np.uint8,
                           lambda x: quantize_codes(x, lo, hi, isc, ish))


def _per_shape_pass(params, serial, parallel, in_dtype, out_dtype, reference):
    """``x -> y`` for a per-channel elementwise pass (Quantize, Dequantize): per input shape, its
    parameters checked and flattened once (_channel_params; ``params``: (value, dtype) pairs) and the
    kernel chosen (``serial`` below threads.SERIAL_BELOW elements, else ``parallel``), called as
    ``kernel(x, *flat params, out)``; other shapes, and inputs not of ``in_dtype`` (None: any), take
    ``reference(x)``."""
    from irtool.runtime.threads import SERIAL_BELOW

    plans: dict = {}

    def run(x, *_):  # the constant inputs again (the plugin passes every input)
        plan = plans.get(x.shape)
        if plan is None:
            flat = [_channel_params(v, x, d) for v, d in params]
            ok = x.ndim >= 2 and x.size > 0 and all(p is not None for p in flat)
            fn = serial if x.size < SERIAL_BELOW else parallel
            plan = plans[x.shape] = (flat, fn) if ok else None
        if plan is None or in_dtype is not None and x.dtype != in_dtype:
            return reference(x)
        flat, fn = plan
        out = np.empty(x.shape, out_dtype)
        fn(x if x.flags.c_contiguous else np.ascontiguousarray(x), *flat, out)
        return out
    return run


@specializer(quantize)
def _prepare_quantize(consts, **_):
    if any(c is None for c in consts[1:]):
        return None
    return prepare_quantize(*consts[1:])


@numba.njit(inline="always")
def _dequantize_plane(nc, C, R, src, osc, osh, dst):  # pragma: no cover (jit)
    """Plane ``nc`` of _dequantize on the flat arrays (vectorized as _quantize_plane)."""
    c = nc % C
    s, t = osc[c % osc.size], osh[c % osh.size]
    base = np.uint64(nc * R)
    for r in range(np.uint64(R)):
        dst[base + r] = np.float32(np.float64(src[base + r]) * s + t)


@numba.njit(**_JIT)
def _dequantize(k, osc, osh, out):  # pragma: no cover (jit)
    N, C = k.shape[0], k.shape[1]
    R = k.size // max(N * C, 1)
    src, dst = k.reshape(-1), out.reshape(-1)
    for nc in numba.prange(N * C):
        _dequantize_plane(nc, C, R, src, osc, osh, dst)


@numba.njit(cache=True, nogil=True)
def _dequantize_serial(k, osc, osh, out):  # pragma: no cover (jit)
    N, C = k.shape[0], k.shape[1]
    R = k.size // max(N * C, 1)
    src, dst = k.reshape(-1), out.reshape(-1)
    if osc.size == osh.size == 1:
        _dequantize_plane(0, 1, N * C * R, src, osc, osh, dst)
        return
    for nc in range(N * C):
        _dequantize_plane(nc, C, R, src, osc, osh, dst)


@kernel("Dequantize", versions=(INT8,), impl="jit")
def dequantize(k, osc, osh):
    return prepare_dequantize(osc, osh)(k)


def prepare_dequantize(osc, osh):
    """``codes -> float32`` for constant parameters (see prepare_quantize)."""
    return _per_shape_pass(((osc, np.float64), (osh, np.float64)), _dequantize_serial, _dequantize, None,
                           np.float32, lambda k: dequantize_codes(k, osc, osh))


@specializer(dequantize)
def _prepare_dequantize(consts, **_):
    if any(c is None for c in consts[1:]):
        return None
    return prepare_dequantize(*consts[1:])


# ------------------------------------------------------------------------------------------ epilogue
# The epilogue of every INT8 layer is specified by one float64 table, a column per output channel:
SCALE, BIAS, LO, HI, ISC, ISH = range(6)  # y = clip(acc * scale + bias, lo, hi); q = rint(y * isc + ish)
# and runs from that table composed into float32 (:func:`compose`), a column per output channel:
A, B = 0, 1  # y = f32(acc) * A + B (two float32 roundings), then clamped to rows LO, HI (2, 3)


def epilogue(n_out: int, scale, bias=None, lo=-np.inf, hi=np.inf, isc=0.0, ish=0.0) -> np.ndarray:
    """The [6, n_out] epilogue table; each entry a scalar or one value per output channel."""
    table = np.empty((6, n_out), np.float64)
    for row, v in zip(range(6), (scale, 0.0 if bias is None else bias, lo, hi, isc, ish)):
        table[row] = np.broadcast_to(np.asarray(v, np.float64).reshape(-1), (n_out,))
    return table


def compose(ep: np.ndarray, levels: int) -> np.ndarray:
    """The [4, O] float32 table the kernels run, from an :func:`epilogue` table.

    Float outputs: ``clip(f32(acc) * scale + bias, lo, hi)``. u8 outputs (``levels`` > 0): the clamp
    and the requantization fold into one affine map, ``clip(rint(f32(acc) * A + B), LO, HI)`` with
    ``A = scale * isc``, ``B = bias * isc + ish`` and the clamp moved to code space (clip and rint are
    monotonic, so clipping the codes to the rounded images of lo and hi, and to [0, levels-1], is the
    same as clipping y first). One rounding fewer than the FP32 emulation's FakeQuantize, in float32:
    the codes differ from it only where y sits within float32 rounding of a code's edge, by one step.
    """
    ep = np.asarray(ep, np.float64)
    t = np.empty((4, ep.shape[1]), np.float32)
    if levels == 0:
        t[:] = ep[:4]
        return t
    isc, ish = ep[ISC], ep[ISH]
    with np.errstate(invalid="ignore"):  # inf * 0 where isc is 0: the code is then ish wherever y is
        a, b = (np.where(isc == 0, ish, ep[row] * isc + ish) for row in (LO, HI))
    t[A], t[B] = ep[SCALE] * isc, ep[BIAS] * isc + ish
    t[LO] = np.clip(np.rint(np.minimum(a, b)), 0, levels - 1)  # isc < 0 reverses the interval
    t[HI] = np.clip(np.rint(np.maximum(a, b)), 0, levels - 1)
    return t


def epilogue_reference(acc: np.ndarray, ep: np.ndarray, levels: int = 0, axis: int = -1) -> np.ndarray:
    """The kernels' epilogue in numpy: exact integer sums ``acc`` (output channels along ``axis``) ->
    float32, or u8 codes when ``levels`` > 0, as :func:`compose` specifies."""
    t = compose(ep, levels)
    shape = [1] * acc.ndim
    shape[axis] = -1
    a, b, lo, hi = (t[i].reshape(shape) for i in range(4))
    y = acc.astype(np.float32) * a + b
    if levels:
        return np.clip(np.rint(y), lo, hi).astype(np.uint8)
    return np.minimum(np.maximum(y, lo), hi)


# A residual Add fused into a convolution's u8 epilogue (lpt.fuse_residual) runs from one float32
# map of both inputs' codes, per tensor: q = clip(rint(qa * RA + (qb * RB + RC)), RLO, RHI).
RA, RB, RC, RLO, RHI = range(5)
RESIDUAL_SIZE = 5


def compose_residual(pa, pb, clamp, requant) -> np.ndarray:
    """The float32 map of :func:`residual_reference` for an INT8 Add: ``pa``/``pb`` (scale, shift) of
    each input's dequantization, ``clamp`` (lo, hi) the activation on the sum, ``requant`` (isc, ish,
    max code) the next quantization. As :func:`compose`: the sum's dequantizations and the
    requantization fold into one affine map, the clamp moves to code space; the codes differ from
    the separate layers' (the table of :func:`add_int8`) only where the sum sits within float32
    rounding of a code's edge, by one step."""
    (a0, a1), (b0, b1) = (np.asarray(v, np.float64).reshape(-1)[:2] for v in (pa, pb))
    lo, hi = float(clamp[0]), float(clamp[1])
    isc, ish, top = float(requant[0]), float(requant[1]), float(requant[2])
    ends = [ish if isc == 0 else v * isc + ish for v in (lo, hi)]  # (inf * 0 where isc is 0)
    r = np.empty(RESIDUAL_SIZE, np.float32)
    r[RA], r[RB], r[RC] = a0 * isc, b0 * isc, (a1 + b1) * isc + ish
    r[RLO], r[RHI] = (np.clip(np.rint(f(ends)), 0, top) for f in (min, max))
    return r


def residual_reference(qa: np.ndarray, qb: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The fused residual Add in numpy: u8 codes ``qa`` (the convolution's) and ``qb`` (the other
    input's) -> u8 codes, through ``r`` (:func:`compose_residual`), in float32."""
    r = np.asarray(r, np.float32)
    y = qa.astype(np.float32) * r[RA] + (qb.astype(np.float32) * r[RB] + r[RC])
    return np.clip(np.rint(y), r[RLO], r[RHI]).astype(np.uint8)


@numba.njit(inline="always")
def _ep_one(acc, t, o, levels, dq, df, i):  # pragma: no cover (jit)
    """Epilogue of one exact sum ``acc`` (an int, or a float holding an integer exactly) of output
    channel ``o`` into dq[i] (u8) or df[i] (float32): see :func:`compose`."""
    y = np.float32(acc) * t[0, o] + t[1, o]
    if levels > 0:
        dq[i] = np.uint8(np.int32(min(max(np.rint(y), t[2, o]), t[3, o])))
    else:
        df[i] = min(max(y, t[2, o]), t[3, o])


# ------------------------------------------------------------------------------------------ convolution
# Convolutions (and MatMuls, as 1x1 convolutions) run as tiles of 4 output channels x 16 output
# pixels (8 int32 vectors of 8 lanes, in registers). Activations are stored as int32 *pairs* of int16
# (two input channels at one pixel), and weights as pairs too, so one k step is: load 8 pixels'
# pairs, broadcast one channel's weight pair, ``vpmaddwd`` (pair products summed exactly into int32),
# ``vpaddd``. The pairs layout makes the 8 pixels of an output row contiguous in the (padded) input,
# so stride-1 convolutions read shifted windows of the input directly: no patch matrix. The epilogue
# runs on the accumulators while they are still in registers (float32, see :func:`compose`).
TILE_O, TILE_V, LANES = 4, 2, 8  # output channels, pixel vectors, pixels per vector


def _pmadd(builder, a, b):
    """Exact ``vpmaddwd``: sext 16 x i16 to i32, multiply, add even and odd lanes. Plain LLVM IR
    (portable), which LLVM's x86 backend selects as one vpmaddwd."""
    i32x8, i32x16 = ir.VectorType(ir.IntType(32), 8), ir.VectorType(ir.IntType(32), 16)
    p = builder.mul(builder.sext(a, i32x16), builder.sext(b, i32x16))
    even = builder.shuffle_vector(p, p, ir.Constant(i32x8, list(range(0, 16, 2))))
    odd = builder.shuffle_vector(p, p, ir.Constant(i32x8, list(range(1, 16, 2))))
    return builder.add(even, odd)


def _splat(builder, value, vec_type):
    """``value`` in every lane of a ``vec_type`` vector."""
    v = builder.insert_element(ir.Constant(vec_type, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), vec_type.count), [0] * vec_type.count)
    return builder.shuffle_vector(v, v, zeros)


def _clamp(builder, y, lo, hi):
    """min(max(y, lo), hi), NaN -> lo as OpenVINO's ReLU/Clamp give (vmaxps, vminps)."""
    y = builder.select(builder.fcmp_unordered("<", y, lo), lo, y)
    return builder.select(builder.fcmp_ordered(">", y, hi), hi, y)


def _tile_epilogue(builder, accs, pep, eps, o0, no, levels, pq, pf, dbase, dstride, pres, prp, nres,
                   per_lane=False):
    """The epilogue of the 4 x 16 accumulators: channel o0 + o (for o < ``no``) into
    dst[dbase + o * dstride + j], j < 16: u8 codes at ``pq`` when ``levels`` > 0 (a channel's 16
    codes packed into one 16-byte store), else float32 at ``pf``. One branch on ``levels`` for the
    whole tile, so that the channels' code schedules together. ``per_lane``: the epilogue's columns
    are the 16 lanes' (ep[row, o0 + j]: a MatMul's output channels along the pixels), not the rows'.
    ``nres`` > 0 (u8 codes only): a residual Add follows, the other input's codes at ``pres`` (laid out
    as the destination) and its composed map (:func:`compose_residual`, ``nres`` floats) at ``prp``."""
    i64, f32 = ir.IntType(64), ir.FloatType()
    f32x8, i32x8 = ir.VectorType(f32, LANES), ir.VectorType(ir.IntType(32), LANES)
    i8x16 = ir.VectorType(ir.IntType(8), TILE_V * LANES)
    rint = cgutils.get_or_insert_function(builder.module, ir.FunctionType(f32x8, [f32x8]), "llvm.rint.v8f32")
    both = ir.Constant(ir.VectorType(ir.IntType(32), 16), list(range(16)))

    def entry(row, column):
        """A pointer to ep[row, column] (the table flat, ``eps`` columns a row)."""
        return builder.gep(pep, [builder.add(builder.mul(ir.Constant(i64, row), eps), column)])

    def params(o):
        """[v][row] for v < 2: the (a, b, lo, hi) vectors of pixel vector v of row o."""
        if per_lane:
            columns = [builder.add(o0, ir.Constant(i64, v * LANES)) for v in range(TILE_V)]
            return [[builder.load(builder.bitcast(entry(row, col), f32x8.as_pointer()), align=4) for row in range(4)]
                    for col in columns]
        oc = builder.add(o0, ir.Constant(i64, o))
        return [[_splat(builder, builder.load(entry(row, oc)), f32x8) for row in range(4)]] * TILE_V

    def channel(o, quantized, lane_params, residual=False, rp=None):
        p = lane_params if per_lane else params(o)
        row_base = builder.add(dbase, builder.mul(ir.Constant(i64, o), dstride))
        ys = [builder.fadd(builder.fmul(builder.sitofp(builder.load(accs[o * TILE_V + v]), f32x8), p[v][0]), p[v][1])
              for v in range(TILE_V)]
        if quantized:
            qs = [_clamp(builder, builder.call(rint, [y]), p[v][2], p[v][3]) for v, y in enumerate(ys)]
            if residual:
                qs = _residual(builder, qs, builder.gep(pres, [row_base]), rp, rint)
            qs = [builder.fptosi(q, i32x8) for q in qs]
            q16 = builder.trunc(builder.shuffle_vector(qs[0], qs[1], both), i8x16)
            builder.store(q16, builder.bitcast(builder.gep(pq, [row_base]), i8x16.as_pointer()), align=1)
        else:
            for v, y in enumerate(ys):
                off = builder.add(row_base, ir.Constant(i64, v * LANES))
                dst = builder.bitcast(builder.gep(pf, [off]), f32x8.as_pointer())
                builder.store(_clamp(builder, y, p[v][2], p[v][3]), dst, align=4)

    def channels(quantized, residual=False):
        lane_params = params(0) if per_lane else None
        rp = [_splat(builder, builder.load(builder.gep(prp, [ir.Constant(i64, i)])), f32x8)
              for i in range(RESIDUAL_SIZE)] if residual else None
        for o in range(TILE_O):
            with builder.if_then(builder.icmp_signed("<", ir.Constant(i64, o), no), likely=True):
                channel(o, quantized, lane_params, residual, rp)

    with builder.if_else(builder.icmp_signed(">", levels, ir.Constant(i64, 0))) as (then, otherwise):
        with then:
            if per_lane:
                channels(True)
            else:  # one branch a tile: the residual Add's code schedules with the channels'
                with builder.if_else(builder.icmp_signed(">", nres, ir.Constant(i64, 0))) as (add, plain):
                    with add:
                        channels(True, residual=True)
                    with plain:
                        channels(True)
        with otherwise:
            channels(False)


def _residual(builder, qs, pother, rp, rint):
    """The residual Add on a tile row: ``qs`` the convolution's 16 codes (two float32 vectors, rounded
    and clamped), the other input's 16 u8 codes at ``pother``; :func:`residual_reference`'s two
    roundings then rint and the clamp, in float32."""
    f32x8, i32x8, i32x16 = (ir.VectorType(ir.FloatType(), LANES), ir.VectorType(ir.IntType(32), LANES),
                            ir.VectorType(ir.IntType(32), 16))
    i8x16 = ir.VectorType(ir.IntType(8), TILE_V * LANES)
    other = builder.zext(builder.load(builder.bitcast(pother, i8x16.as_pointer()), align=1), i32x16)
    out = []
    for v, q in enumerate(qs):
        half = builder.shuffle_vector(other, other, ir.Constant(i32x8, list(range(v * LANES, (v + 1) * LANES))))
        u = builder.fadd(builder.fmul(builder.sitofp(half, f32x8), rp[RB]), rp[RC])
        y = builder.fadd(builder.fmul(q, rp[RA]), u)
        out.append(_clamp(builder, builder.call(rint, [y]), rp[RLO], rp[RHI]))
    return out


def _block_codegen(per_lane: bool):
    """The code of _conv_block (``per_lane`` False) or _gemm_block (True)."""

    def codegen(context, builder, sig, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        i16x16, i32x8 = ir.VectorType(ir.IntType(16), 16), ir.VectorType(i32, 8)
        arrays = {i: context.make_array(sig.args[i])(context, builder, args[i]) for i in (0, 1, 2, 7, 11, 12, 15, 16)}
        psrc, poffs, pw, pep, pq, pf, pres, prp = (arrays[i].data for i in (0, 1, 2, 7, 11, 12, 15, 16))
        nres = builder.extract_value(arrays[16].shape, 0)
        wbase, nkp, b0, b1, o0, no, levels, dbase, dstride = (
            context.cast(builder, args[i], sig.args[i], types.int64) for i in (3, 4, 5, 6, 8, 9, 10, 13, 14))
        eps = builder.sdiv(builder.extract_value(arrays[7].shape, 0), ir.Constant(i64, 4))
        accs = [cgutils.alloca_once_value(builder, ir.Constant(i32x8, None)) for _ in range(TILE_O * TILE_V)]
        with cgutils.for_range(builder, nkp) as loop:
            kp = loop.index
            off = builder.load(builder.gep(poffs, [kp]))
            xs = [builder.bitcast(builder.load(builder.bitcast(builder.gep(psrc, [builder.add(b, off)]),
                                                               i32x8.as_pointer()), align=4), i16x16) for b in (b0, b1)]
            wk = builder.add(wbase, builder.mul(kp, ir.Constant(i64, TILE_O)))
            for o in range(TILE_O):
                wo = builder.load(builder.gep(pw, [builder.add(wk, ir.Constant(i64, o))]))
                wb = builder.bitcast(_splat(builder, wo, i32x8), i16x16)
                for v in range(TILE_V):
                    acc = accs[o * TILE_V + v]
                    builder.store(builder.add(builder.load(acc), _pmadd(builder, xs[v], wb)), acc)
        _tile_epilogue(builder, accs, pep, eps, o0, no, levels, pq, pf, dbase, dstride, pres, prp, nres, per_lane)
        return context.get_dummy_value()
    return codegen


@intrinsic
def _conv_block(typingctx, src, offs, w, wbase, nkp, b0, b1, ep, o0, no, levels, dst_q, dst_f, dbase, dstride,
                other, rp):
    """One tile: acc[o, v*8 + j] = sum_kp pmadd(src[bv + offs[kp] + j], w[wbase + kp*4 + o]) over int16
    pairs (pixel vectors at src[b0:], src[b1:]), then the epilogue (``ep`` the [4, O] float32 table,
    flat) of channels o0 .. o0 + no - 1 into dst[dbase + o * dstride + (0..15)]; with a residual Add
    when ``rp`` (float32, :func:`compose_residual`) is not empty, on other[dbase + o * dstride + j]."""
    return types.void(src, offs, w, wbase, nkp, b0, b1, ep, o0, no, levels, dst_q, dst_f, dbase, dstride, other,
                      rp), _block_codegen(False)


@intrinsic
def _gemm_block(typingctx, src, offs, w, wbase, nkp, b0, b1, ep, o0, no, levels, dst_q, dst_f, dbase, dstride,
                other, rp):
    """_conv_block with the epilogue's columns along the lanes: ``src`` holds the weights (output
    channels as pixels), ``w`` the activation rows (4 a block); acc[r, j] gets ep[:, o0 + j] and goes
    to dst[dbase + r * dstride + j] (a row-major [R, O] output written in place). No residual: ``rp``
    empty."""
    return types.void(src, offs, w, wbase, nkp, b0, b1, ep, o0, no, levels, dst_q, dst_f, dbase, dstride, other,
                      rp), _block_codegen(True)


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
def _conv_tile(t, src, offs, wf, nob, nvr, Wp, ep, levels, R, dq, df, sq, sf, other, rp, so):  # pragma: no cover (jit)
    """Tile ``t`` of _conv_tiles: pixel vectors 2t and 2t + 1, every block of 4 output channels, into
    the flat [O, R] outputs dq/df (with the residual Add of ``other`` [O, R] when ``rp`` is not empty);
    a last partial tile goes through the scratch sq/sf/so ([4 * 16])."""
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
            _conv_block(src, offs, wf, o0 * nkp, nkp, b0, b1, ep, o0, no, levels, dq, df, o0 * R + r0, R, other, rp)
        else:
            if rp.size:
                for oi in range(no):
                    for j in range(n):
                        so[oi * TILE_V * LANES + j] = other[(o0 + oi) * R + r0 + j]
            _conv_block(src, offs, wf, o0 * nkp, nkp, b0, b1, ep, o0, no, levels, sq, sf, 0, TILE_V * LANES, so, rp)
            _from_scratch(no, n, levels, sq, sf, dq, df, o0 * R + r0, R)


@numba.njit(inline="always")
def _from_scratch(rows, n, levels, sq, sf, dq, df, base, stride):  # pragma: no cover (jit)
    """A partial tile's outputs from the scratch sq/sf (rows of 16) to dq/df: the first ``n`` of each
    of ``rows`` rows, row r at base + r * stride (u8 codes when ``levels`` > 0, else float32)."""
    for r in range(rows):
        for j in range(n):
            if levels > 0:
                dq[base + r * stride + j] = sq[r * TILE_V * LANES + j]
            else:
                df[base + r * stride + j] = sf[r * TILE_V * LANES + j]


@numba.njit(inline="always")
def _ntiles(R):  # pragma: no cover (jit)
    return ((R + LANES - 1) // LANES + TILE_V - 1) // TILE_V


@numba.njit(cache=True, nogil=True)
def _conv_tiles(src, offs, w, nvr, Wp, ep, levels, dq, df, other, rp):  # pragma: no cover (jit)
    """out[o, r] = epilogue(sum_kp pmadd(src[base(r) + offs[kp]], w[o, kp])) for the output pixels r
    in vectors of 8 (flat dq/df: [O, R]): vector v starts at src[(v // nvr) * Wp + (v % nvr) * 8]
    (nvr vectors an output row); then the residual Add of ``other`` (flat [O, R] u8) when ``rp`` is
    not empty. On the calling thread."""
    R = (dq.size if levels > 0 else df.size) // (ep.size // 4)
    sq, sf = np.empty(TILE_O * TILE_V * LANES, np.uint8), np.empty(TILE_O * TILE_V * LANES, np.float32)
    so = np.empty(TILE_O * TILE_V * LANES, np.uint8)
    wf = w.reshape(-1)
    for t in range(_ntiles(R)):
        _conv_tile(t, src, offs, wf, w.shape[0], nvr, Wp, ep, levels, R, dq, df, sq, sf, other, rp, so)


@numba.njit(**_JIT)
def _conv_tiles_parallel(src, offs, w, nvr, Wp, ep, levels, dq, df, other, rp):  # pragma: no cover (jit)
    """_conv_tiles with the tiles spread over numba's threads (layers of over threads.PARALLEL_MACS)."""
    R = (dq.size if levels > 0 else df.size) // (ep.size // 4)
    nt = _ntiles(R)
    sq, sf = np.empty((nt, TILE_O * TILE_V * LANES), np.uint8), np.empty((nt, TILE_O * TILE_V * LANES), np.float32)
    so = np.empty((nt, TILE_O * TILE_V * LANES), np.uint8)
    wf = w.reshape(-1)
    for t in numba.prange(nt):
        _conv_tile(t, src, offs, wf, w.shape[0], nvr, Wp, ep, levels, R, dq, df, sq[t], sf[t], other, rp, so[t])


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


@functools.lru_cache(maxsize=512)
def _zero_points(zero_point: tuple[int, ...], C: int) -> np.ndarray:
    """One int16 zero point per channel (read-only, cached)."""
    return _frozen(np.broadcast_to(np.asarray(zero_point, np.int16), (C,)), np.int16)



@numba.njit(inline="always")
def _conv_image(n, k, z, dims, flat, cols):  # pragma: no cover (jit)
    """Image ``n``'s channel pairs into ``flat`` (as [phases, Cp, Hp, width], slack after it), and
    the patch matrix into ``cols`` when the plan gathers one (``cols.size`` > 0): what the tiles read.
    ``dims``: see _conv_setup."""
    ph, pw, kh, kw, sh, sw, dh, dw, Ho, Wo, nvr, pitch, S, Cp, Hp, width = dims
    x = flat[:S * Cp * Hp * width].reshape((S, Cp, Hp, width))
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
def _conv_int8(k, z, dims, flat, cols, offs, w, ep, levels, out_q, out_f):  # pragma: no cover (jit)
    """Each image: _conv_image, then the tiles, on the calling thread."""
    for n in range(k.shape[0]):
        src, dq, df = _conv_image_outputs(n, k, z, dims, flat, cols, levels, out_q, out_f)
        _conv_tiles(src, offs, w, dims[10], dims[11], ep, levels, dq, df, _STUB_Q1, _NO_RESIDUAL)


@numba.njit(cache=True, nogil=True)
def _conv_int8_parallel(k, z, dims, flat, cols, offs, w, ep, levels, out_q, out_f):  # pragma: no cover (jit)
    """_conv_int8 with the tiles on every thread (over threads.PARALLEL_MACS multiply-adds an image)."""
    for n in range(k.shape[0]):
        src, dq, df = _conv_image_outputs(n, k, z, dims, flat, cols, levels, out_q, out_f)
        _conv_tiles_parallel(src, offs, w, dims[10], dims[11], ep, levels, dq, df, _STUB_Q1, _NO_RESIDUAL)


@numba.njit(inline="always")
def _quantize_into(x, qf, qd, k):  # pragma: no cover (jit)
    """k = quantize_codes(x) with per-tensor parameters qf (lo, hi: float32) and qd (isc, ish:
    float64), as the Quantize kernel computes them."""
    _quantize_plane(0, 1, x.size, x.reshape(-1), qf[0:1], qf[1:2], qd[0:1], qd[1:2], k.reshape(-1))


@numba.njit(cache=True, nogil=True)
def _conv_int8_quantized(x, qf, qd, k, z, dims, flat, cols, offs, w, ep, levels, out_q, out_f):  # pragma: no cover (jit)
    """_conv_int8 of the float input ``x`` quantized first into the thread's codes ``k`` (an input
    Quantize absorbed, see lpt.fuse_input_quantize)."""
    _quantize_into(x, qf, qd, k)
    _conv_int8(k, z, dims, flat, cols, offs, w, ep, levels, out_q, out_f)


@numba.njit(cache=True, nogil=True)
def _conv_int8_quantized_parallel(x, qf, qd, k, z, dims, flat, cols, offs, w, ep, levels, out_q,
                                  out_f):  # pragma: no cover (jit)
    """_conv_int8_quantized with the tiles on every thread."""
    _quantize_into(x, qf, qd, k)
    _conv_int8_parallel(k, z, dims, flat, cols, offs, w, ep, levels, out_q, out_f)


@numba.njit(cache=True, nogil=True)
def _conv_int8_add(k, z, dims, flat, cols, offs, w, ep, levels, out_q, out_f, other, rp):  # pragma: no cover (jit)
    """_conv_int8 into u8 codes with the residual Add that read them in the tiles' epilogue (``other``
    [N, O, ...] u8 codes, ``rp`` its :func:`compose_residual` map): the Add's step, its output
    allocation and a pass over memory go."""
    for n in range(k.shape[0]):
        src, dq, df = _conv_image_outputs(n, k, z, dims, flat, cols, levels, out_q, out_f)
        _conv_tiles(src, offs, w, dims[10], dims[11], ep, levels, dq, df, other[n].reshape(-1), rp)


@numba.njit(cache=True, nogil=True)
def _conv_int8_add_parallel(k, z, dims, flat, cols, offs, w, ep, levels, out_q, out_f, other,
                            rp):  # pragma: no cover (jit)
    """_conv_int8_add with the tiles on every thread."""
    for n in range(k.shape[0]):
        src, dq, df = _conv_image_outputs(n, k, z, dims, flat, cols, levels, out_q, out_f)
        _conv_tiles_parallel(src, offs, w, dims[10], dims[11], ep, levels, dq, df, other[n].reshape(-1), rp)


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
    parallel: bool  # over threads.PARALLEL_MACS multiply-adds an image: tiles on every thread


@functools.lru_cache(maxsize=512)
def _conv_setup(k_shape, w_shape, strides, dilations, pads_begin, pads_end, auto_pad, zero_point) -> _Setup:
    """The setup of convolution_int8 (arguments as tuples; ``w_shape`` the packed weights')."""
    from irtool.runtime.threads import PARALLEL_MACS

    (N, C), (nob, Cp, kh, kw) = k_shape[:2], w_shape[:4]
    g = _geometry(k_shape[2:], (kh, kw) if len(k_shape) == 4 else (kw,), strides, dilations, pads_begin, pads_end,
                  auto_pad)
    plan = _plan(Cp, kh, kw, g.sh, g.sw, g.dh, g.dw, g.Hp, g.Wp, g.Ho, g.Wo)
    phases = max(plan.phases, 1)
    width = -(-g.Wp // phases)
    dims = (g.ph, g.pw, kh, kw, g.sh, g.sw, g.dh, g.dw, g.Ho, g.Wo, plan.nvr, plan.pitch, phases, Cp, g.Hp, width)
    macs = nob * TILE_O * g.Ho * g.Wo * Cp * 2 * kh * kw
    return _Setup((N, C, g.H, g.W), g.out_sp, (g.Ho, g.Wo), _zero_points(zero_point, C), _frozen(np.array(dims)),
                  phases * Cp * g.Hp * width + LANES, (0, 0) if plan.phases else (Cp * kh * kw, plan.nvr * LANES),
                  plan.offs, macs >= PARALLEL_MACS)


_STUB_Q, _STUB_F = np.zeros((1, 1, 1, 1), np.uint8), np.zeros((1, 1, 1, 1), np.float32)  # the output not written
_STUB_Q1, _STUB_F1 = _STUB_Q.reshape(1), _STUB_F.reshape(1)
_NO_RESIDUAL = np.zeros(0, np.float32)  # the tiles' residual map when no Add follows


class _Bound(NamedTuple):
    """A prepared layer's call for one input shape on one thread: ``fn(k.reshape(k_shape), *head,
    out_q, out_f, *others, *tail)``, the output (``out_shape``; u8 codes in out_q when ``levels`` > 0,
    else float32 in out_f, the other a stub) and the per-call inputs beyond ``k`` (``others``) given by
    _bound_runner. Work buffers in ``head`` belong to the thread: an infer request per thread may run
    the same compiled model concurrently."""
    fn: object
    k_shape: tuple[int, ...] | None  # None: the input as it comes
    head: tuple
    tail: tuple
    out_shape: tuple[int, ...]
    levels: int


# What numba's type of an array depends on beyond its dtype and ndim: numpy's C_CONTIGUOUS,
# F_CONTIGUOUS, ALIGNED and WRITEABLE flag bits (the layout, alignment and read-only-ness of the type)
_C_CONTIGUOUS, _TYPE_FLAGS = 0x1, 0x1 | 0x2 | 0x100 | 0x400


def _compiled(fn, args: tuple):
    """numba's machine code of ``fn`` for the types of ``args`` (compiled, or loaded from the cache,
    now), which takes arguments of exactly those types without the dispatcher: typing every argument
    of every call costs ~40 ns an argument, half a microsecond for a convolution's eleven. ``fn``
    itself when it is not a numba function or an argument is an ndarray subclass."""
    if not isinstance(fn, Dispatcher) or any(isinstance(a, np.ndarray) and type(a) is not np.ndarray for a in args):
        return fn
    return fn.compile(tuple(fn.typeof_pyval(a) for a in args))


def _bound_runner(make, extra: int | None = None):
    """``k -> y`` calling ``make(k.shape) -> _Bound`` once per input shape and thread, then only the
    bound call, into the compiled code (_compiled) while ``k`` has the dtype and flags it was bound
    with (else it binds again: the code is then another's). The output is the thread's own buffer,
    rewritten by every call (as a plan's memory in OpenVINO): the run function says so
    (``reuses_output``), and the plugin copies it where it leaves an inference. ``extra``: the index
    among the inputs after ``k`` of one more per-call array (a fused residual Add's other codes),
    passed C-contiguous and writeable as the code it was bound with takes it."""
    bound: dict = {}  # (input shape, thread) -> _Bound
    last: dict = {}  # thread -> (input shape, flags, dtype, _Bound, reshape?, machine code, u8 out, f32 out)
    ident = threading.get_ident

    def bind(tid, k, others):
        b = bound.get((k.shape, tid))
        if b is None:
            b = bound[(k.shape, tid)] = make(k.shape)
        reshape = b.k_shape is not None and b.k_shape != k.shape
        out_q, out_f = _outputs(b)
        args = (k.reshape(b.k_shape) if reshape else k, *b.head, out_q, out_f, *others, *b.tail)
        last[tid] = entry = (k.shape, k.flags.num & _TYPE_FLAGS, k.dtype, b, reshape, _compiled(b.fn, args), out_q,
                             out_f)
        return entry

    def run(k, *rest):  # the constant inputs again (the plugin passes every input), and ``extra``
        others = () if extra is None else (_plain(rest[extra]),)
        tid, flags = ident(), k.flags.num & _TYPE_FLAGS
        if not flags & _C_CONTIGUOUS:  # the kernels read k flat
            k = np.ascontiguousarray(k)
            flags = k.flags.num & _TYPE_FLAGS
        entry = last.get(tid)
        if entry is None or entry[0] != k.shape or entry[1] != flags or entry[2] is not k.dtype:
            entry = bind(tid, k, others)
        _, _, _, b, reshape, call, out_q, out_f = entry
        call(k.reshape(b.k_shape) if reshape else k, *b.head, out_q, out_f, *others, *b.tail)
        return out_q if b.levels else out_f
    run.reuses_output = True
    return run


def _plain(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous, aligned, writeable ndarray (a copy only if it is not one)."""
    plain = type(a) is np.ndarray and a.flags.num & _TYPE_FLAGS in (_C_CONTIGUOUS | 0x100 | 0x400, _TYPE_FLAGS)
    return a if plain else np.array(a, order="C")


def _outputs(b: _Bound) -> tuple[np.ndarray, np.ndarray]:
    """``b``'s output (a new buffer) and the other type's stub, as its calls pass them."""
    return (np.empty(b.out_shape, np.uint8), _STUB_F) if b.levels else (_STUB_Q, np.empty(b.out_shape, np.float32))


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
    packed = np.ascontiguousarray(pack_conv_weights(w) if w.dtype != np.int32 else w)
    ep32 = compose(ep, levels).reshape(-1)
    attrs = (tuple(strides), tuple(dilations), tuple(pads_begin), tuple(pads_end), auto_pad, tuple(zero_point))
    O = ep.shape[1]

    def make(shape) -> _Bound:
        st = _conv_setup(shape, packed.shape, *attrs)
        flat = np.zeros(st.flat, np.int32)  # zero border (exact: codes are shifted)
        cols = np.zeros(st.cols, np.int32)
        return _Bound(_conv_int8_parallel if st.parallel else _conv_int8, None if len(shape) == 4 else st.k4,
                      (st.z, st.dims, flat, cols, st.offs, packed, ep32, levels), (), (shape[0], O, *st.out_sp), levels)
    if quantize is not None:
        qf, qd = np.array(quantize[:2], np.float32), np.array(quantize[2:4], np.float64)

        def make_quantized(shape) -> _Bound:
            b = make(shape)
            codes = np.empty(b.k_shape or shape, np.uint8)
            fn = _conv_int8_quantized_parallel if b.fn is _conv_int8_parallel else _conv_int8_quantized
            return b._replace(fn=fn, head=(qf, qd, codes, *b.head))
        return _bound_runner(make_quantized)
    if residual is None:
        return _bound_runner(make)
    if levels == 0:
        raise ValueError("a residual Add on codes needs the convolution's u8 codes (levels > 0)")
    rp = compose_residual(*residual)

    def make_add(shape) -> _Bound:
        b = make(shape)
        return b._replace(fn=_conv_int8_add_parallel if b.fn is _conv_int8_parallel else _conv_int8_add, tail=(rp,))
    return _bound_runner(make_add, extra=2)  # (k, w, ep, other, pa, pb)


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


def _frozen(a: np.ndarray, dtype=np.int64) -> np.ndarray:
    """A cached array nobody may write to (a copy)."""
    a = np.array(a, dtype)
    a.flags.writeable = False
    return a



# ------------------------------------------------------------------------------------------ depthwise
# Depthwise layers compute in float32 on the shifted codes: every product |code - z| * |w| <= 255 * 255
# and every partial sum of up to 258 of them is an integer under 2^24, so float32 arithmetic is exact
# here (in any order), the products and sums take the FP32 path's vector units, and the sum goes to the
# epilogue as it is. Larger kernels accumulate in float64 (exact to 2^53).


@numba.njit(nogil=True)
def _pad_shift(k, z, ph, pw, out):  # pragma: no cover (jit)
    """out[c, col % S, h + ph, col // S] = k[c, h, w] - z[c] (float32, exact) at padded column
    col = w + pw, inside the zero border ``out`` has: S = out.shape[1] = 1, or 2 column phases (a
    stride-2 layer then reads each tap's inputs contiguously). Flat unsigned indices (see below)."""
    C, H, W = k.shape
    S, Hq, Wq = out.shape[1], out.shape[2], out.shape[3]
    src, dst = k.reshape(-1), out.reshape(-1)
    pairs = np.uint64(W // 2)
    for c in range(C):  # memory bound: not worth a parallel region
        zc = np.float32(z[c])
        for h in range(H):
            s0 = np.uint64((c * H + h) * W)
            if S == 1:
                d0 = np.uint64(((c * Hq) + h + ph) * Wq + pw)
                for i in range(np.uint64(W)):
                    dst[d0 + i] = np.float32(src[s0 + i]) - zc
                continue
            # input column 2i goes to phase pw % 2, column 2i + 1 to the other: one loop reading
            # both (an interleaved pair of loads, which LLVM vectorizes with shuffles)
            de = np.uint64(((c * 2 + pw % 2) * Hq + h + ph) * Wq + pw // 2)
            do = np.uint64(((c * 2 + (pw + 1) % 2) * Hq + h + ph) * Wq + (pw + 1) // 2)
            for i in range(pairs):
                dst[de + i] = np.float32(src[s0 + i + i]) - zc
                dst[do + i] = np.float32(src[s0 + i + i + _U1]) - zc
            if W % 2:
                dst[de + pairs] = np.float32(src[s0 + pairs + pairs]) - zc


@numba.njit(cache=True, nogil=True)
def _depthwise3x3_s2(xp, w, Ho, Wo, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """3x3 depthwise at stride 2 (rows and columns), dilation 1: xp [C, 2, Hq, Wq] the padded
    input's two column phases (_pad_shift), taps x[p], x[q], x[p + 1] of the even (p) and odd (q)
    phase rows, one vectorized loop an output row (_dw3_taps); outputs flat [C * Ho * Wo] (the other
    a stub)."""
    C, S, Hq, Wq = xp.shape
    x = xp.reshape(-1)
    W, W2, n = np.uint64(Wq), np.uint64(2 * Wq), np.uint64(Wo)
    for c in range(C):
        wt, tc = _nine_taps(w[c]), (t[0, c], t[1, c], t[2, c], t[3, c])
        even, odd = np.uint64(c * 2 * Hq * Wq), np.uint64((c * 2 + 1) * Hq * Wq)
        for oh in range(Ho):
            r = np.uint64(2 * oh) * W
            p, q = even + r, odd + r
            o = (p, q, p + _U1, p + W, q + W, p + W + _U1, p + W2, q + W2, p + W2 + _U1)
            d = np.uint64(c * Ho * Wo + oh * Wo)
            if levels > 0:
                _dw3_taps(x, o, wt, tc, levels, out_q, d, n)
            else:
                _dw3_taps(x, o, wt, tc, levels, out_f, d, n)


@numba.njit(inline="always")
def _nine_taps(wc):  # pragma: no cover (jit)
    """A 3x3 kernel's weights [3, 3] as nine scalars, row by row."""
    return wc[0, 0], wc[0, 1], wc[0, 2], wc[1, 0], wc[1, 1], wc[1, 2], wc[2, 0], wc[2, 1], wc[2, 2]


@numba.njit(inline="always")
def _dw_gather(k, z, sh, sw, ph, pw, kw, Hk, Wo, buf):  # pragma: no cover (jit)
    """Channel plane ``k`` [H, W] (u8 codes) as float32 ``code - z``, gathered so that a 3-row
    depthwise kernel reads flat runs: buf[((rp * kw + b) * Hk + i) * Wo + ow] = xpad[i * sh + rp,
    ow * sw + b] (xpad the zero-padded plane) for row phases rp < sh, taps b < kw, i < Hk. Tap (a, b)
    of output pixel p = oh * Wo + ow is then buf[((a % sh) * kw + b) * Hk * Wo + (a // sh) * Wo + p]."""
    H, W = k.shape
    src = k.reshape(-1)
    zf = np.float32(z)
    for rp in range(sh):
        for b in range(kw):
            o_lo = min(Wo, max(0, -((b - pw) // sw)))  # the output columns that read inside the plane
            o_hi = max(o_lo, min(Wo, (W - 1 - b + pw) // sw + 1))
            for i in range(Hk):
                d = np.uint64(((rp * kw + b) * Hk + i) * Wo)
                h = i * sh + rp - ph
                if h < 0 or h >= H:
                    for j in range(np.uint64(Wo)):
                        buf[d + j] = 0.0
                    continue
                for j in range(np.uint64(o_lo)):
                    buf[d + j] = 0.0
                s0 = np.uint64(h * W + o_lo * sw + b - pw)
                dv = d + np.uint64(o_lo)
                step = np.uint64(sw)
                for j in range(np.uint64(o_hi - o_lo)):
                    buf[dv + j] = np.float32(src[s0 + j * step]) - zf
                for j in range(np.uint64(o_hi), np.uint64(Wo)):
                    buf[d + j] = 0.0


@numba.njit(inline="always")
def _zero_column(buf, first, pitch, n):  # pragma: no cover (jit)
    """buf[first + r * pitch] = 0 for r < n."""
    f, p = np.uint64(first), np.uint64(pitch)
    for r in range(np.uint64(n)):
        buf[f + r * p] = 0.0


@numba.njit(inline="always")
def _dw_gather_same(k, z, ph, pw, Hk, buf):  # pragma: no cover (jit)
    """_dw_gather for stride 1 and an output as wide as the input (pitch W), in flat passes: buffer b
    (at b * P + 1, P = Hk * W + 2) is the whole plane copied at once, shifted by the tap's column
    offset; then zeros in the padding rows and in the columns that the shift carried across a row's
    edge. Tap (a, b) of output pixel p is buf[b * P + 1 + a * W + p]."""
    H, W = k.shape
    src = k.reshape(-1)
    zf = np.float32(z)
    P = Hk * W + 2
    HW = np.uint64(H * W)
    for b in range(3):
        shift = b - pw  # tap b of output column j reads input column j + shift
        base = np.uint64(b * P + 1 + ph * W - shift)  # >= 0: ph >= 0, |shift| <= 2 <= 1 + ... (see caller)
        for t in range(HW):
            buf[base + t] = np.float32(src[t]) - zf
        start = b * P
        for i in range(start, start + 1 + ph * W):  # the slack and the padding rows above
            buf[i] = 0.0
        for i in range(start + 1 + (ph + H) * W, start + P):  # below, and the slack
            buf[i] = 0.0
        # the columns the shift carried across a row's edge (at most 2), each one strided pass
        for j in range(max(0, W - shift), W):
            _zero_column(buf, start + 1 + ph * W + j, W, H)
        for j in range(min(W, -shift)):
            _zero_column(buf, start + 1 + ph * W + j, W, H)


@numba.njit(inline="always")
def _dw3_taps(buf, o, wt, tc, levels, dst, d, n):  # pragma: no cover (jit)
    """out[d + i] = epilogue(sum of the 9 taps buf[o_t + i] * w_t), i < n: one flat loop over the
    channel's output pixels (see _dw_gather), which LLVM vectorizes (the type of ``dst`` is a
    constant where this is inlined)."""
    o0, o1, o2, o3, o4, o5, o6, o7, o8 = o
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = wt
    a, b, lo, hi = tc
    for i in range(n):
        acc = ((buf[o0 + i] * w0 + buf[o1 + i] * w1 + buf[o2 + i] * w2)
               + (buf[o3 + i] * w3 + buf[o4 + i] * w4 + buf[o5 + i] * w5)
               + (buf[o6 + i] * w6 + buf[o7 + i] * w7 + buf[o8 + i] * w8))
        y = acc * a + b
        if levels > 0:
            dst[d + i] = np.int32(min(max(np.rint(y), lo), hi))
        else:
            dst[d + i] = min(max(y, lo), hi)


@numba.njit(inline="always")
def _dw3_channel(c, k, z, w, geo, t, levels, buf, out_q, out_f):  # pragma: no cover (jit)
    """Channel ``c`` of a 3x3 depthwise layer without dilation: gather (_dw_gather), then the taps.
    ``geo``: sh, sw, ph, pw, Ho, Wo, Hk."""
    sh, sw, ph, pw, Ho, Wo, Hk, same = geo
    wt, tc = _nine_taps(w[c]), (t[0, c], t[1, c], t[2, c], t[3, c])
    if same:
        _dw_gather_same(k[c], z[c], ph, pw, Hk, buf)
        P = Hk * Wo + 2
        o = (np.uint64(1), np.uint64(P + 1), np.uint64(2 * P + 1), np.uint64(Wo + 1), np.uint64(P + Wo + 1),
             np.uint64(2 * P + Wo + 1), np.uint64(2 * Wo + 1), np.uint64(P + 2 * Wo + 1), np.uint64(2 * P + 2 * Wo + 1))
    else:
        _dw_gather(k[c], z[c], sh, sw, ph, pw, 3, Hk, Wo, buf)
        o = _dw3_offsets(sh, Hk * Wo, Wo)
    n = np.uint64(Ho * Wo)
    d = np.uint64(c * Ho * Wo)
    if levels > 0:
        _dw3_taps(buf, o, wt, tc, levels, out_q, d, n)
    else:
        _dw3_taps(buf, o, wt, tc, levels, out_f, d, n)


@numba.njit(inline="always")
def _dw3_offsets(sh, plane, Wo):  # pragma: no cover (jit)
    """The flat offsets of the 9 taps in _dw_gather's layout: tap (a, b) at
    ((a % sh) * 3 + b) * plane + (a // sh) * Wo."""
    r0, r1, r2 = (0 % sh) * 3 * plane, (1 % sh) * 3 * plane, (2 % sh) * 3 * plane
    d0, d1, d2 = (0 // sh) * Wo, (1 // sh) * Wo, (2 // sh) * Wo
    return (np.uint64(r0 + d0), np.uint64(r0 + plane + d0), np.uint64(r0 + 2 * plane + d0),
            np.uint64(r1 + d1), np.uint64(r1 + plane + d1), np.uint64(r1 + 2 * plane + d1),
            np.uint64(r2 + d2), np.uint64(r2 + plane + d2), np.uint64(r2 + 2 * plane + d2))


@numba.njit(cache=True, nogil=True)
def _depthwise3x3(k, z, w, geo, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """3x3 depthwise without dilation, on the calling thread: k u8 codes [C, H, W], z [C], w float32
    [C, 3, 3], outputs flat [C * Ho * Wo] (the other a stub)."""
    sh, sw, ph, pw, Ho, Wo, Hk, same = geo
    buf = np.empty(sh * 3 * (Hk * Wo + 2), np.float32)
    for c in range(w.shape[0]):
        _dw3_channel(c, k, z, w, geo, t, levels, buf, out_q, out_f)


@numba.njit(**_JIT)
def _depthwise3x3_parallel(k, z, w, geo, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """_depthwise3x3 with the channels spread over numba's threads."""
    sh, sw, ph, pw, Ho, Wo, Hk, same = geo
    C = w.shape[0]
    bufs = np.empty((C, sh * 3 * (Hk * Wo + 2)), np.float32)
    for c in numba.prange(C):
        _dw3_channel(c, k, z, w, geo, t, levels, bufs[c], out_q, out_f)


@numba.njit(**_JIT)
def _depthwise(xp, w, sh, sw, dh, dw, Ho, Wo, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """Any depthwise layer: acc[c, oh, ow] = sum_ab xp[c, 0, oh*sh + a*dh, ow*sw + b*dw] * w[c, a, b],
    accumulated in float64 (exact for any kernel size), then the epilogue."""
    C, kh, kw = w.shape
    for c in numba.prange(C):
        acc = np.zeros(Wo, np.float64)
        oq, of = (out_q[c], out_f[0]) if levels > 0 else (out_q[0], out_f[c])  # the other a stub
        for oh in range(Ho):
            acc[:] = 0
            for a in range(kh):
                src = xp[c, 0, oh * sh + a * dh]
                for b in range(kw):
                    wk = np.float64(w[c, a, b])
                    for ow in range(Wo):
                        acc[ow] += np.float64(src[ow * sw + b * dw]) * wk
            for ow in range(Wo):
                _ep_one(acc[ow], t, c, levels, oq, of, oh * Wo + ow)


@numba.njit(inline="always")
def _image_outputs(n, levels, out_q, out_f):  # pragma: no cover (jit)
    """Image ``n``'s output, flat, and the stub for the other type."""
    if levels > 0:
        return out_q[n].reshape(-1), out_f.reshape(-1)
    return out_q.reshape(-1), out_f[n].reshape(-1)


@numba.njit(cache=True, nogil=True)
def _dw_s2_images(k, z, geo, xp, w, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """Each image of a 3x3 stride-2 depthwise layer: _pad_shift into the column phases xp, then
    _depthwise3x3_s2. geo: ph, pw, Ho, Wo."""
    for n in range(k.shape[0]):
        _pad_shift(k[n], z, geo[0], geo[1], xp)
        dq, df = _image_outputs(n, levels, out_q, out_f)
        _depthwise3x3_s2(xp, w, geo[2], geo[3], t, levels, dq, df)


@numba.njit(cache=True, nogil=True)
def _dw3_images(k, z, geo, w, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """Each image of a 3x3 depthwise layer without dilation: _depthwise3x3 (gathered planes). geo:
    sh, sw, ph, pw, Ho, Wo, Hk, same."""
    g = (geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7])
    for n in range(k.shape[0]):
        dq, df = _image_outputs(n, levels, out_q, out_f)
        _depthwise3x3(k[n], z, w, g, t, levels, dq, df)


@numba.njit(cache=True, nogil=True)
def _dw3_images_parallel(k, z, geo, w, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """_dw3_images with the channels on every thread."""
    g = (geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7])
    for n in range(k.shape[0]):
        dq, df = _image_outputs(n, levels, out_q, out_f)
        _depthwise3x3_parallel(k[n], z, w, g, t, levels, dq, df)


@numba.njit(cache=True, nogil=True)
def _dw_images(k, z, geo, xp, w, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """Each image of any depthwise layer: _pad_shift, then _depthwise. geo: ph, pw, sh, sw, dh, dw,
    Ho, Wo."""
    C = w.shape[0]
    for n in range(k.shape[0]):
        _pad_shift(k[n], z, geo[0], geo[1], xp)
        dq, df = _image_outputs(n, levels, out_q, out_f)
        _depthwise(xp, w, geo[2], geo[3], geo[4], geo[5], geo[6], geo[7], t, levels,
                   dq.reshape((C, -1)) if levels > 0 else dq.reshape((1, -1)),
                   df.reshape((C, -1)) if levels == 0 else df.reshape((1, -1)))


def prepare_depthwise_int8(w, ep, *, zero_point, strides, dilations, pads_begin, pads_end, auto_pad="explicit",
                           levels=0):
    """``k -> y`` for depthwise_int8 with these constants (see prepare_convolution_int8): a 3x3
    kernel at stride 2 reads the padded input's column phases; other 3x3 kernels without dilation
    the gathered planes; the rest the general kernel (float64)."""
    from irtool.runtime.threads import PARALLEL_MACS

    C = w.shape[0]
    w3 = np.ascontiguousarray(w.reshape(C, -1, w.shape[-1]), np.float32)
    t = compose(ep, levels)
    attrs = (tuple(strides), tuple(dilations), tuple(pads_begin), tuple(pads_end), auto_pad)
    z = _zero_points(tuple(zero_point), C)
    fast3 = w3.shape[1:] == (3, 3)

    def make(shape) -> _Bound:
        g = _geometry(shape[2:], w.shape[1:], *attrs)
        k_shape = (shape[0], C, g.H, g.W)
        out_shape = (shape[0], C, *g.out_sp)
        if fast3 and g.sh == g.sw == 2 and g.dh == g.dw == 1 and g.Wo >= S2_MIN_WIDTH:
            xp = np.zeros((C, 2, g.Hp + 1, -(-g.Wp // 2) + 1), np.float32)  # zero border, never written
            return _Bound(_dw_s2_images, k_shape, (z, _frozen((g.ph, g.pw, g.Ho, g.Wo)), xp, w3, t, levels), (),
                          out_shape, levels)
        if fast3 and g.dh == g.dw == 1 and g.sh == g.sw == 1 and g.Wo == g.W and C * g.Ho * g.Wo * 9 < PARALLEL_MACS:
            # one thread: the masked-copy layout of the FP32 kernel, on codes (depthwise.py; 256x4x4:
            # 42 -> 10 us, 96x16x16: 29 -> 24 us, bit-identical)
            layout = same_codes_layout(g.H, g.W, g.Ho, g.ph, g.pw)
            if layout is not None:
                geo, keep, bufs = layout  # (bufs per thread, as _Bound's buffers: its zero cells persist)
                return _Bound(_depthwise_same_codes, k_shape, (z, geo, w3, keep, t, levels, bufs), (), out_shape,
                              levels)
        if fast3 and g.dh == g.dw == 1:
            same = g.sh == g.sw == 1 and g.Wo == g.W and g.pw <= 2  # (then |shift| <= 2, base >= 0 below)
            geo = _frozen((g.sh, g.sw, g.ph, g.pw, g.Ho, g.Wo, g.Ho + 2 // g.sh, int(same)))
            fn = _dw3_images_parallel if C * g.Ho * g.Wo * 9 >= PARALLEL_MACS else _dw3_images
            return _Bound(fn, k_shape, (z, geo, w3, t, levels), (), out_shape, levels)
        xp = np.zeros((C, 1, g.Hp, g.Wp), np.float32)
        geo = _frozen((g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, g.Ho, g.Wo))
        return _Bound(_dw_images, k_shape, (z, geo, xp, w3, t, levels), (), out_shape, levels)
    return _bound_runner(make)


# Stride-2 3x3 depthwise layers with output rows this wide read the column phases (measured on the
# 2-core target: 128x8x8 12.6 us against 31 us gathered, 64x32x32 21 against 30): all of them.
S2_MIN_WIDTH = 1


@kernel("GroupConvolution", versions=(INT8,), impl="jit")
def depthwise_int8(k, w, ep, *, zero_point: list[int], strides: list[int], dilations: list[int],
                   pads_begin: list[int], pads_end: list[int], auto_pad: str = "explicit", levels: int = 0):
    """Depthwise (one input channel per group) on u8 codes [N, C, (H,) W], integer weights [C, (kh,) kw];
    the activation may be quantized per channel (one zero point each; ``scale`` folds both scales)."""
    return prepare_depthwise_int8(w, ep, zero_point=zero_point, strides=strides, dilations=dilations,
                                  pads_begin=pads_begin, pads_end=pads_end, auto_pad=auto_pad, levels=levels)(k)


@specializer(depthwise_int8)
def _prepare_depthwise_int8(consts, **attrs):
    if consts[1] is None or consts[2] is None:
        return None
    return prepare_depthwise_int8(consts[1], consts[2], **attrs)


# ------------------------------------------------------------------------------------------ MatMul
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
def _gemm_tile(t, a, offs, wt, ep, levels, R, O, dq, df, sq, sf):  # pragma: no cover (jit)
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
                        _STUB_Q1, _NO_RESIDUAL)
        else:
            _gemm_block(wt, offs, a, r0 * nkp, nkp, p0, p0 + LANES, ep, p0, no, levels, sq, sf, 0, TILE_V * LANES,
                        _STUB_Q1, _NO_RESIDUAL)
            _from_scratch(no, n, levels, sq, sf, dq, df, r0 * O + p0, O)


@numba.njit(inline="always")
def _gemm_prologue(rows, z, a, levels, out_q, out_f):  # pragma: no cover (jit)
    """The rows as pair blocks into ``a``; (R, O, flat outputs, number of 16-column tiles)."""
    R = rows.shape[0]
    O = out_q.shape[1] if levels > 0 else out_f.shape[1]
    _rows_to_blocks(rows, z, a)
    return R, O, out_q.reshape(-1), out_f.reshape(-1), (O + TILE_V * LANES - 1) // (TILE_V * LANES)


@numba.njit(cache=True, nogil=True)
def _gemm_codes(rows, z, a, offs, wt, ep, levels, out_q, out_f):  # pragma: no cover (jit)
    """out [R, O] = epilogue((rows [R, K] - z) x w^T): the rows as pair blocks into ``a``, then the
    tiles of 16 output columns (``wt`` the weights as pairs, see pack_gemm_weights); ``out_q``/``out_f``
    [R, O] (the other a stub). On the calling thread."""
    R, O, dq, df, nt = _gemm_prologue(rows, z, a, levels, out_q, out_f)
    sq, sf = np.empty(TILE_O * TILE_V * LANES, np.uint8), np.empty(TILE_O * TILE_V * LANES, np.float32)
    for t in range(nt):
        _gemm_tile(t, a, offs, wt, ep, levels, R, O, dq, df, sq, sf)


@numba.njit(cache=True, nogil=True)
def _gemm_codes_parallel(rows, z, a, offs, wt, ep, levels, out_q, out_f):  # pragma: no cover (jit)
    """_gemm_codes with the tiles on every thread (products of over threads.PARALLEL_MACS)."""
    R, O, dq, df, nt = _gemm_prologue(rows, z, a, levels, out_q, out_f)
    _gemm_tiles_parallel(nt, a, offs, wt, ep, levels, R, O, dq, df)


@numba.njit(**_JIT)
def _gemm_tiles_parallel(nt, a, offs, wt, ep, levels, R, O, dq, df):  # pragma: no cover (jit)
    """The tiles of _gemm_codes spread over numba's threads (products of over threads.PARALLEL_MACS)."""
    sq, sf = np.empty((nt, TILE_O * TILE_V * LANES), np.uint8), np.empty((nt, TILE_O * TILE_V * LANES), np.float32)
    for t in numba.prange(nt):
        _gemm_tile(t, a, offs, wt, ep, levels, R, O, dq, df, sq[t], sf[t])


def pack_gemm_weights(w: np.ndarray) -> np.ndarray:
    """int16 [O, K] -> int32 [ceil(K/2), O padded to 16]: wt[kp, o] = the pair (w[o, 2kp],
    w[o, 2kp + 1]), the output channels as _gemm_block's pixels."""
    O, K = w.shape
    Kp, Op = -(-K // 2), -(-O // (TILE_V * LANES)) * TILE_V * LANES
    p = np.zeros((Op, Kp * 2), np.int16)
    p[:O, :K] = w
    return np.ascontiguousarray(p.reshape(Op, Kp, 2).transpose(1, 0, 2)).view(np.int32).reshape(Kp, Op)


def prepare_gemm_int8(w, ep, levels=0, channel_major=False, zero_point=0):
    """``rows [R, K] -> [R, O]`` (or [O, R] when ``channel_major``): the epilogue of the exact
    products (rows - zero_point) x w^T, rows u8 codes or int16; w int16 [O, K]. The output is
    written row-major in place (the epilogue's columns along the vector lanes)."""
    from irtool.runtime.threads import PARALLEL_MACS

    O, K = w.shape
    wt = pack_gemm_weights(np.asarray(w, np.int16))
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
        return _Bound(fn, None, (np.int32(zero_point), a, offs, wt, ep32, levels), (), (R, O), levels)
    run = _bound_runner(make)
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
    gemm = prepare_gemm_int8(w, ep, levels, zero_point=int(zero_point[0]))
    O = w.shape[0]

    def run(k, *_):  # the constant inputs again (the plugin passes every input)
        if k.ndim == 2 and k.flags.c_contiguous:
            return gemm(k)
        return gemm(np.ascontiguousarray(k).reshape(-1, k.shape[-1])).reshape(*k.shape[:-1], O)
    run.reuses_output = getattr(gemm, "reuses_output", False)  # (a view of gemm's buffer)
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


# ------------------------------------------------------------------------------------------ ReduceMean
@numba.njit(cache=True, nogil=True)
def _mean_codes(k, t, levels, out_q, out_f):  # pragma: no cover (jit)
    """out[n * C + c] = epilogue(sum of plane k[n, c]) (exact: u8 codes summed in int64)."""
    N, C = k.shape[0], k.shape[1]
    R = k.size // max(N * C, 1)
    src = k.reshape(-1)
    for nc in range(N * C):
        base = np.uint64(nc * R)
        acc = np.int64(0)
        for r in range(np.uint64(R)):
            acc += np.int64(src[base + r])
        _ep_one(acc, t, nc % C, levels, out_q, out_f, nc)


def mean_int8_reference(k: np.ndarray, ep: np.ndarray, levels: int = 0, keep_dims: bool = False) -> np.ndarray:
    """numpy: the exact sum of each plane of codes [N, C, ...], then the epilogue."""
    y = epilogue_reference(k.reshape(*k.shape[:2], -1).astype(np.int64).sum(axis=2), ep, levels)
    return y.reshape(*k.shape[:2], *([1] * (k.ndim - 2) if keep_dims else []))


@kernel("ReduceMean", versions=(INT8,), impl="jit")
def mean_int8(k, ep, *, keep_dims: bool = False, levels: int = 0):
    """Global average pool on u8 codes [N, C, ...] (every spatial axis): ``ep`` (an :func:`epilogue`
    table, scale = dequantization scale / plane size) turns each plane's exact sum into float32, or u8
    codes when ``levels`` > 0."""
    return prepare_mean_int8(ep, keep_dims=keep_dims, levels=levels)(k)


def prepare_mean_int8(ep, *, keep_dims=False, levels=0):
    t = compose(ep, levels)

    def run(k, *_):  # the constant inputs again (the plugin passes every input)
        out = np.empty((k.shape[0], k.shape[1], *([1] * (k.ndim - 2) if keep_dims else [])),
                       np.uint8 if levels else np.float32)
        flat = out.reshape(-1)
        _mean_codes(k if k.flags.c_contiguous else np.ascontiguousarray(k), t, levels,
                    flat if levels else _STUB_Q1, _STUB_F1 if levels else flat)
        return out
    return run


@specializer(mean_int8)
def _prepare_mean_int8(consts, **attrs):
    return None if consts[1] is None else prepare_mean_int8(consts[1], **attrs)


# ------------------------------------------------------------------------------------------ ReLU
@kernel("ReLU", versions=(INT8,))
def relu_int8(k, *, zero_point: list[int]):
    """ReLU on u8 codes: ``max(code, zero_point)``, the code of 0.0 (lpt.push_dequantize)."""
    return np.maximum(k, np.uint8(zero_point[0]))


# ------------------------------------------------------------------------------------------ AvgPool
def _avg_pool_setup(shape, kernel_, strides, pads_begin, pads_end, exclude_pad, rounding_type, auto_pad):
    """(geometry of pooling.avg_pool, the divisor of each output position [out spatial])."""
    from irtool.runtime.kernels.pooling import _divisors, _geometry

    st, dil, pb, pe, out = _geometry(shape[2:], kernel_, strides, [], pads_begin, pads_end, auto_pad, rounding_type)
    divs = _divisors(shape[2:], kernel_, st, pb, pe, out, exclude_pad)
    div = divs[0].astype(np.float64)
    for d in divs[1:]:
        div = np.multiply.outer(div, d.astype(np.float64))
    return (st, dil, pb, pe, out), div


def _avg_pool_epilogue(sums: np.ndarray, div: np.ndarray, ep: np.ndarray, levels: int) -> np.ndarray:
    """The INT8 AvgPool's epilogue on exact window sums of ``code - z``: ``y = f32(sum) * A + B`` with
    ``A = f32(scale * isc / divisor)`` per output position (the other rows of :func:`compose`), then
    clamped, rounded to codes when ``levels`` > 0."""
    t = compose(ep, levels)
    with np.errstate(divide="ignore"):  # (a window of padding only: its divisor is 0, as in OpenVINO)
        a = (np.float64(t[A, 0]) / div).astype(np.float32)
    y = sums.astype(np.float32) * a + t[B, 0]
    if levels:
        return np.clip(np.rint(y), t[LO, 0], t[HI, 0]).astype(np.uint8)
    return np.minimum(np.maximum(y, t[LO, 0]), t[HI, 0])


@kernel("AvgPool", versions=(INT8,), impl="jit")
def avg_pool_int8(k, ep, *, kernel: list[int], strides: list[int], pads_begin: list[int] = (),
                  pads_end: list[int] = (), exclude_pad: bool = False, rounding_type: str = "floor",
                  auto_pad: str = "explicit", zero_point: list[int], levels: int = 0):
    """AvgPool on u8 codes ``k`` [N, C, (H,) W], per tensor: the exact sum of ``code - zero_point``
    over each window's cells inside the input (float32 holds them exactly: windows of up to 2^16
    cells), then ``sum * scale / divisor`` (the divisor as pooling.avg_pool counts it) through the
    one-column epilogue ``ep``, as u8 codes when ``levels`` > 0 (a Quantize absorbed)."""
    from irtool.runtime.kernels.pooling import _pool

    (st, dil, pb, pe, out), div = _avg_pool_setup(k.shape, kernel, strides, pads_begin, pads_end, exclude_pad,
                                                  rounding_type, auto_pad)
    ones = [np.ones(o, np.float32) for o in out]
    sums = _pool(k.astype(np.float32) - np.float32(zero_point[0]), kernel, st, dil, pb, pe, out, False, ones)[0]
    return _avg_pool_epilogue(sums, div, ep, levels)


def avg_pool_int8_reference(k, ep, *, kernel, strides, pads_begin, pads_end, exclude_pad=False,
                            rounding_type="floor", auto_pad="explicit", zero_point, levels=0):
    """avg_pool_int8 with the window sums taken in int64 by numpy."""
    (st, dil, pb, pe, out), div = _avg_pool_setup(k.shape, kernel, strides, pads_begin, pads_end, exclude_pad,
                                                  rounding_type, auto_pad)
    x = k.astype(np.int64) - zero_point[0]
    nsp = x.ndim - 2
    kd = [(kk - 1) * d + 1 for kk, d in zip(kernel, dil)]
    need = [(o - 1) * s + kk - b - n for o, s, kk, b, n in zip(out, st, kd, pb, x.shape[2:])]
    xp = np.pad(x, [(0, 0)] * 2 + [(b, max(e, 0)) for b, e in zip(pb, need)])
    win = np.lib.stride_tricks.sliding_window_view(xp, kd, axis=tuple(range(2, 2 + nsp)))
    win = win[(slice(None), slice(None), *(slice(0, o * s, s) for o, s in zip(out, st)),
               *(slice(None, None, d) for d in dil))]
    sums = win.reshape(*x.shape[:2], *out, -1).sum(-1)
    return _avg_pool_epilogue(sums, div, ep, levels)


# ------------------------------------------------------------------------------------------ Add
@numba.njit(inline="always")
def _add_one(i, a, b, a0, a1, b0, b1, lo, hi, isc, ish, top, out):  # pragma: no cover (jit)
    """out[i] = quantize(clip(dequantize(a[i]) + dequantize(b[i]))), each step rounded exactly as the
    separate Dequantize, Add, Clamp and Quantize layers round it ((a0, a1), (b0, b1): the inputs'
    dequantization scale and shift, scalars so that LLVM keeps them in registers)."""
    da = np.float32(np.float64(a[i]) * a0 + a1)
    db = np.float32(np.float64(b[i]) * b0 + b1)
    y = min(max(np.float32(da + db), lo), hi)
    out[i] = np.uint8(np.int32(min(max(np.rint(np.float32(np.float64(y) * isc + ish)), np.float32(0.0)), top)))


@numba.njit(cache=True, nogil=True)
def _add_table(pa, pb, lo, hi, isc, ish, top):  # pragma: no cover (jit)
    """The result of _add_one for every pair of codes: table[a * 256 + b] (64 KiB, built once per
    layer). The formula is not vectorized by LLVM (~25 scalar instructions an element); one table
    load is a handful."""
    a = np.arange(256 * 256) // 256
    b = np.arange(256 * 256) % 256
    table = np.empty(256 * 256, np.uint8)
    for i in range(table.size):
        _add_one(i, a, b, pa[0], pa[1], pb[0], pb[1], lo, hi, isc, ish, top, table)
    return table


@numba.njit(cache=True, nogil=True)
def _add_lookup(a, b, table, out):  # pragma: no cover (jit)
    """out[i] = table[a[i] * 256 + b[i]]: _add_one through its table."""
    for i in range(np.uint64(a.size)):
        out[i] = table[(np.uint64(a[i]) << np.uint64(8)) | np.uint64(b[i])]


def _residual_table(pa, pb, clamp, requant) -> np.ndarray:
    """The table of _add_table for an INT8 Add's constants and attributes."""
    return _add_table(np.asarray(pa, np.float64), np.asarray(pb, np.float64), np.float32(clamp[0]),
                      np.float32(clamp[1]), float(requant[0]), float(requant[1]), np.float32(requant[2]))


def prepare_add_int8(pa, pb, *, clamp, requant):
    """``(a, b) -> codes`` for add_int8 with constant dequantization parameters: the table of every
    result, built at load time."""
    table = _residual_table(pa, pb, clamp, requant)

    def run(a, b, *_):
        out = np.empty(a.shape, np.uint8)
        _add_lookup(np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1), table, out.reshape(-1))
        return out
    return run


@kernel("Add", versions=(INT8,), impl="jit")
def add_int8(a, b, pa, pb, *, clamp: list[float], requant: list[float]):
    """Residual Add on u8 codes of equal shape: ``pa``/``pb`` are (scale, shift) of each input's
    dequantization; ``clamp`` the fused activation; ``requant`` (isc, ish, max code) the next FQ."""
    return prepare_add_int8(pa, pb, clamp=clamp, requant=requant)(a, b)


@specializer(add_int8)
def _prepare_add_int8(consts, **attrs):
    if consts[2] is None or consts[3] is None:
        return None
    return prepare_add_int8(consts[2], consts[3], **attrs)


__all__ = ["INT8", "compose", "dequantize_codes", "epilogue", "epilogue_reference", "gemm_int8", "gemm_int8_reference",
           "pack_conv_weights", "quantize_codes"]
