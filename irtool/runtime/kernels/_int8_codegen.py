"""The INT8 micro-kernel: a tile of ``vpmaddwd`` blocks and its epilogue, in LLVM IR (numba intrinsics).

Products accumulate exactly in int32: inputs are widened to int16 ``(k - z)`` and multiplied with int16
weights by ``vpmaddwd`` (pairs of int16 products summed into int32), never the saturating
``vpmaddubsw``, so results do not depend on the CPU. A tile is register-blocked, 4 output channels x 16
pixels, written in plain LLVM IR (llvmlite): :func:`_conv_block` for convolutions (int8_conv, on channel
pairs read in place from the padded input), :func:`_gemm_block` with the roles turned for MatMuls
(int8_matmul: output channels along the vector lanes, rows row-major in place). The epilogue
(int8_epilogue.compose, and a fused residual Add's compose_residual) runs on the accumulators while they
are in registers; :func:`_from_scratch` copies a last partial tile out of its scratch buffer. A private
module (the package does not import it by itself): it registers no kernel.
"""
from __future__ import annotations

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from irtool.runtime.kernels.int8_epilogue import RA, RB, RC, RESIDUAL_SIZE, RHI, RLO


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


def _has_vnni() -> bool:
    """Whether this CPU runs ``vpdpbusd`` on 256-bit vectors (AVX512-VNNI with VL, or AVX-VNNI):
    code using it is only generated where it runs (LLVM cannot select it for other CPUs)."""
    from irtool.runtime.cpu import host_features

    f = host_features()
    return {"avx512vnni", "avx512vl"} <= f or "avxvnni" in f


def _vpdpbusd(builder, acc, a, b):
    """``vpdpbusd``: acc + the four products of the u8 bytes of ``a`` with the s8 bytes of ``b`` in
    each 32-bit lane (exact: at most 4 * 255 * 128 per step, no saturation)."""
    i32x8 = ir.VectorType(ir.IntType(32), LANES)
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i32x8, [i32x8] * 3),
                                        "llvm.x86.avx512.vpdpbusd.256")
    return builder.call(fn, [acc, a, b])


def _block_codegen(per_lane: bool):
    """The code of _conv_block (``per_lane`` False) or _gemm_block (True). Two inner loops: int16
    pairs on vpmaddwd, and, where the CPU has VNNI and ``comp`` is not empty, u8 x s8 quads on
    vpdpbusd (the accumulators then start at -comp, the zero point's share: the same exact sums)."""
    vnni = _has_vnni()

    def codegen(context, builder, sig, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        i16x16, i32x8 = ir.VectorType(ir.IntType(16), 16), ir.VectorType(i32, 8)
        arrays = {i: context.make_array(sig.args[i])(context, builder, args[i])
                  for i in (0, 1, 2, 7, 11, 12, 15, 16, 17)}
        psrc, poffs, pw, pep, pq, pf, pres, prp, pcomp = (arrays[i].data for i in (0, 1, 2, 7, 11, 12, 15, 16, 17))
        nres = builder.extract_value(arrays[16].shape, 0)
        ncomp = builder.extract_value(arrays[17].shape, 0)
        wbase, nkp, b0, b1, o0, no, levels, dbase, dstride = (
            context.cast(builder, args[i], sig.args[i], types.int64) for i in (3, 4, 5, 6, 8, 9, 10, 13, 14))
        eps = builder.sdiv(builder.extract_value(arrays[7].shape, 0), ir.Constant(i64, 4))
        accs = [cgutils.alloca_once_value(builder, ir.Constant(i32x8, None)) for _ in range(TILE_O * TILE_V)]

        def steps(quads: bool):
            with cgutils.for_range(builder, nkp) as loop:
                kp = loop.index
                off = builder.load(builder.gep(poffs, [kp]))
                xs = [builder.load(builder.bitcast(builder.gep(psrc, [builder.add(b, off)]), i32x8.as_pointer()),
                                   align=4) for b in (b0, b1)]
                wk = builder.add(wbase, builder.mul(kp, ir.Constant(i64, TILE_O)))
                for o in range(TILE_O):
                    wb = _splat(builder, builder.load(builder.gep(pw, [builder.add(wk, ir.Constant(i64, o))])), i32x8)
                    for v in range(TILE_V):
                        acc = accs[o * TILE_V + v]
                        if quads:  # (vpdpbusd's u8 operand is the activations': the broadcast one in a MatMul)
                            a, b = (wb, xs[v]) if per_lane else (xs[v], wb)
                            builder.store(_vpdpbusd(builder, builder.load(acc), a, b), acc)
                        else:
                            prod = _pmadd(builder, builder.bitcast(xs[v], i16x16), builder.bitcast(wb, i16x16))
                            builder.store(builder.add(builder.load(acc), prod), acc)

        def start_at_comp():
            """acc = -comp of the accumulator's output channel (the row's, or the lane's)."""
            for o in range(TILE_O):
                for v in range(TILE_V):
                    if per_lane:
                        at = builder.add(o0, ir.Constant(i64, v * LANES))
                        c = builder.load(builder.bitcast(builder.gep(pcomp, [at]), i32x8.as_pointer()), align=4)
                    else:
                        c = _splat(builder, builder.load(builder.gep(pcomp, [builder.add(o0, ir.Constant(i64, o))])),
                                   i32x8)
                    builder.store(builder.sub(ir.Constant(i32x8, None), c), accs[o * TILE_V + v])

        if vnni:
            with builder.if_else(builder.icmp_signed(">", ncomp, ir.Constant(i64, 0))) as (quads, pairs):
                with quads:
                    start_at_comp()
                    steps(True)
                with pairs:
                    steps(False)
        else:
            steps(False)
        _tile_epilogue(builder, accs, pep, eps, o0, no, levels, pq, pf, dbase, dstride, pres, prp, nres, per_lane)
        return context.get_dummy_value()
    return codegen


@intrinsic
def _conv_block(typingctx, src, offs, w, wbase, nkp, b0, b1, ep, o0, no, levels, dst_q, dst_f, dbase, dstride,
                other, rp, comp):
    """One tile: acc[o, v*8 + j] = sum_kp pmadd(src[bv + offs[kp] + j], w[wbase + kp*4 + o]) over int16
    pairs (pixel vectors at src[b0:], src[b1:]), then the epilogue (``ep`` the [4, O] float32 table,
    flat) of channels o0 .. o0 + no - 1 into dst[dbase + o * dstride + (0..15)]; with a residual Add
    when ``rp`` (float32, :func:`compose_residual`) is not empty, on other[dbase + o * dstride + j].
    ``comp`` (int32, one per output channel) not empty: src and w hold u8 and s8 quads (VNNI), the sums
    start at -comp[o]."""
    return types.void(src, offs, w, wbase, nkp, b0, b1, ep, o0, no, levels, dst_q, dst_f, dbase, dstride, other,
                      rp, comp), _block_codegen(False)


@intrinsic
def _gemm_block(typingctx, src, offs, w, wbase, nkp, b0, b1, ep, o0, no, levels, dst_q, dst_f, dbase, dstride,
                other, rp, comp):
    """_conv_block with the epilogue's columns along the lanes: ``src`` holds the weights (output
    channels as pixels), ``w`` the activation rows (4 a block); acc[r, j] gets ep[:, o0 + j] and goes
    to dst[dbase + r * dstride + j] (a row-major [R, O] output written in place). No residual: ``rp``
    empty. ``comp`` not empty: quads (src s8 weights, w u8 activations), sums from -comp[o0 + j]."""
    return types.void(src, offs, w, wbase, nkp, b0, b1, ep, o0, no, levels, dst_q, dst_f, dbase, dstride, other,
                      rp, comp), _block_codegen(True)


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
