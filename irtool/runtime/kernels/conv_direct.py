"""FP32 direct convolution: an FMA micro-kernel reading shifted windows of the input, no patch matrix.

The output of a 2-D convolution is computed in tiles of 4 output channels x 8/16/24 pixels (4 x NV
vectors of 8 float32 lanes, held in registers). A pixel index ``r = oh * pitch + ow`` runs along the
output rows at the row pitch of the input buffer the kernel reads (``ow >= Wo`` are scratch columns);
for each kernel tap ``k = (c, b, e)`` the 8 pixels of a vector then sit at ``src[offs[k] + r : +8]``,
contiguous, whatever the strides and dilations (see :func:`direct_geometry`). One tap step is: load NV
pixel vectors, broadcast 4 weights, 4 x NV ``vfmadd231ps``. Written in plain LLVM IR (``llvm.fma``):
LLVM's auto-vectorizer does not keep a 2-D accumulator block in registers.

Per tile the epilogue adds the bias and clamps (the fused Add and ReLU/Clamp, the same float
operations: ``acc + b`` then the clamp, NaN clamped to the lower bound, as OpenVINO's ReLU/Clamp do). Results
differ from a BLAS GEMM's only in the order of the float additions (each accumulator sums its taps in
order c, b, e; long reductions go in chunks of ``K_CHUNK`` taps, the partial sums kept in the output).

Work is split over threads by (pixel tile, group of output-channel blocks); a thread walks the
channel blocks of its tile innermost, so the input window it reads stays in L1.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from irtool.runtime import threads
from irtool.runtime.kernels._phases import _fill_phases, _plus_clamped

TILE_O = 4  # output channels per tile
LANES = 8  # float32 lanes of an AVX2 vector
K_CHUNK = 256  # taps per pass: 256 x 24 pixels x 4 B = 24 KB of input window, L1-resident
IN_PLACE, PHASES, SHIFTED, GATHERED = 0, 1, 2, 3  # what the taps read: see _conv_image_serial
_NO_RESIDUAL = np.empty((0, 0, 0), np.float32)  # (empty: never written)
_NO_RESIDUAL_FLAT = np.empty(0, np.float32)


# ------------------------------------------------------------------------------------ micro-kernel
PREFETCH = {1: (8,), 2: (16,), 3: (24, 40)}  # offsets (floats) of the lines to prefetch per tap
def _make_tile(nv: int):
    """The micro-kernel for tiles of TILE_O channels x ``nv`` pixel vectors."""

    @intrinsic
    def fma_tile(typingctx, src, offs, w, wbase, k0, k1, r0, o0, orows, bias, lo, hi, first, last, dst, dbase,
                 dpitch, res, rbase, rpitch, use_res):
        """For output channels o0 + o (o < ``orows`` <= 4) and pixels r0 + j (j < 8*nv):
        acc = (first ? 0 : dst) + sum over taps k0 <= k < k1 of w[wbase + 4k + o] * src[offs[k] + r0 + j];
        dst[dbase + o * dpitch + j] = last ? clamp(acc + bias[o0 + o] (+ res[rbase + o * rpitch + j] if
        ``use_res``), lo, hi) : acc: the fused residual Add costs no pass of its own."""
        sig = types.void(src, offs, w, wbase, k0, k1, r0, o0, orows, bias, lo, hi, first, last, dst, dbase,
                         dpitch, res, rbase, rpitch, use_res)

        def codegen(context, builder, sig, args):
            i32, i64, f32 = ir.IntType(32), ir.IntType(64), ir.FloatType()
            f32x8 = ir.VectorType(f32, LANES)
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(f32x8, [f32x8] * 3),
                                                 "llvm.fma.v8f32")
            i8p = ir.IntType(8).as_pointer()
            prefetch = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
                ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0i8")
            psrc, poffs, pw, pbias, pdst, pres = (context.make_array(sig.args[i])(context, builder, args[i]).data
                                                  for i in (0, 1, 2, 9, 14, 17))
            wbase, k0, k1, r0, o0, orows, dbase, dpitch, rbase, rpitch = (
                context.cast(builder, args[i], sig.args[i], types.int64) for i in (3, 4, 5, 6, 7, 8, 15, 16, 18, 19))
            lo, hi = (context.cast(builder, args[i], sig.args[i], types.float32) for i in (10, 11))
            first, last, use_res = (context.cast(builder, args[i], sig.args[i], types.boolean) for i in (12, 13, 20))

            def const(v):
                return ir.Constant(i64, v)

            def splat(value):
                v = builder.insert_element(ir.Constant(f32x8, ir.Undefined), value, ir.Constant(i32, 0))
                return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, LANES), [0] * LANES))

            def vptr(base, index):
                return builder.bitcast(builder.gep(base, [index]), f32x8.as_pointer())

            rows = [builder.add(dbase, builder.mul(const(o), dpitch)) for o in range(TILE_O)]
            real = [builder.icmp_signed("<", const(o), orows) for o in range(TILE_O)]

            def at(o, v):  # dst index of vector v of row o
                return builder.add(rows[o], const(v * LANES))

            # accumulators: zero, or the partial sums of the chunks before (rows past orows stay zero)
            accs = []
            for o in range(TILE_O):
                for v in range(nv):
                    acc = cgutils.alloca_once_value(builder, ir.Constant(f32x8, None))
                    with builder.if_then(builder.and_(builder.not_(first), real[o])):
                        builder.store(builder.load(vptr(pdst, at(o, v)), align=4), acc)
                    accs.append(acc)
            with cgutils.for_range_slice(builder, k0, k1, const(1)) as (k, _):
                off = builder.add(builder.load(builder.gep(poffs, [k])), r0)
                xs = [builder.load(vptr(psrc, builder.add(off, const(v * LANES))), align=4) for v in range(nv)]
                for ahead in PREFETCH[nv]:  # the next tile's window, while this one computes
                    builder.call(prefetch, [builder.bitcast(builder.gep(psrc, [builder.add(off, const(ahead))]), i8p),
                                            ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
                wk = builder.add(wbase, builder.mul(k, const(TILE_O)))
                for o in range(TILE_O):
                    wb = splat(builder.load(builder.gep(pw, [builder.add(wk, const(o))])))
                    for v in range(nv):
                        acc = accs[o * nv + v]
                        builder.store(builder.call(fma, [wb, xs[v], builder.load(acc)]), acc)
            lov, hiv = splat(lo), splat(hi)
            for o in range(TILE_O):
                with builder.if_then(real[o]):
                    bv = splat(builder.load(builder.gep(pbias, [builder.add(o0, const(o))])))
                    rrow = builder.add(rbase, builder.mul(const(o), rpitch))
                    for v in range(nv):
                        y = builder.load(accs[o * nv + v])
                        z = builder.fadd(y, bv)
                        with builder.if_else(use_res) as (then, otherwise):
                            with then:
                                rv = builder.load(vptr(pres, builder.add(rrow, const(v * LANES))), align=4)
                                z_res = builder.fadd(z, rv)
                                bb_res = builder.block
                            with otherwise:
                                bb_plain = builder.block
                        phi = builder.phi(f32x8)
                        phi.add_incoming(z_res, bb_res)
                        phi.add_incoming(z, bb_plain)
                        z = phi
                        z = builder.select(builder.fcmp_unordered("<", z, lov), lov, z)  # NaN -> lo
                        z = builder.select(builder.fcmp_ordered(">", z, hiv), hiv, z)
                        builder.store(builder.select(last, z, y), vptr(pdst, at(o, v)), align=4)
            return context.get_dummy_value()
        return sig, codegen
    return fma_tile


_tile1, _tile2, _tile3 = _make_tile(1), _make_tile(2), _make_tile(3)


@numba.njit(nogil=True)  # a call per tile (not inline="always": numba copied its three micro-kernels into
def _tile(nv, src, offs, w, wbase, k0, k1, r0, o0, orows, bias, lo, hi, first, last, dst, dbase,
          dpitch, res, rbase, rpitch):  # pragma: no cover (jit)
    # every caller, ~1 s of a cold start; a call costs nothing beside a tile's 256 taps; measured: no slower)
    use = res.size > 0
    if nv == 3:
        _tile3(src, offs, w, wbase, k0, k1, r0, o0, orows, bias, lo, hi, first, last, dst, dbase, dpitch, res, rbase,
               rpitch, use)
    elif nv == 2:
        _tile2(src, offs, w, wbase, k0, k1, r0, o0, orows, bias, lo, hi, first, last, dst, dbase, dpitch, res, rbase,
               rpitch, use)
    else:
        _tile1(src, offs, w, wbase, k0, k1, r0, o0, orows, bias, lo, hi, first, last, dst, dbase, dpitch, res, rbase,
               rpitch, use)


@numba.njit(inline="always")
def _item(item, src, offs, w, bias, lo, hi, nv, R, nsplit, dst, dpitch, res, rpitch):  # pragma: no cover (jit)
    """Work item ``item``: pixel tile ``item // nsplit``, its share ``item % nsplit`` of the channel blocks,
    written to dst (plus ``res[o * rpitch + r]``, unless res is empty). The tile that would run past R
    goes to _tail_item."""
    nk, O = offs.size, bias.size
    nob, tw = (O + TILE_O - 1) // TILE_O, nv * LANES
    t, g = item // nsplit, item % nsplit
    per = (nob + nsplit - 1) // nsplit
    b0, b1 = g * per, min(nob, (g + 1) * per)
    if b0 >= b1:
        return
    if t * tw + tw > R:
        _tail_item(t, b0, b1, src, offs, w, bias, lo, hi, nv, R, dst, dpitch, res, rpitch)
        return
    r0 = t * tw
    for k0 in range(0, nk, K_CHUNK):
        k1 = min(k0 + K_CHUNK, nk)
        for ob in range(b0, b1):
            o0 = ob * TILE_O
            _tile(nv, src, offs, w, o0 * nk, k0, k1, r0, o0, min(TILE_O, O - o0), bias, lo, hi, k0 == 0, k1 == nk,
                  dst, o0 * dpitch + r0, dpitch, res, o0 * rpitch + r0, rpitch)


@numba.njit(cache=True, nogil=True)
def _tail_item(t, b0, b1, src, offs, w, bias, lo, hi, nv, R, dst, dpitch, res, rpitch):  # pragma: no cover (jit)
    """The last pixel tile, shifted back to end at R: it recomputes some pixels of the tile before it,
    so it works in a scratch of its own and copies out only its new pixels (two threads never write
    the same element). A function of its own: inlined beside the main path, its scratch destination
    made LLVM compile the main tiles' loop 20% slower."""
    nk, O, tw = offs.size, bias.size, nv * LANES
    r0 = R - tw
    scratch = np.empty((b1 - b0) * TILE_O * tw, np.float32)
    for k0 in range(0, nk, K_CHUNK):
        k1 = min(k0 + K_CHUNK, nk)
        for ob in range(b0, b1):
            o0 = ob * TILE_O
            _tile(nv, src, offs, w, o0 * nk, k0, k1, r0, o0, min(TILE_O, O - o0), bias, lo, hi, k0 == 0, k1 == nk,
                  scratch, (ob - b0) * TILE_O * tw, tw, res, o0 * rpitch + r0, rpitch)
    skip = t * tw - r0  # pixels the tile before has
    for ob in range(b0, b1):
        o0 = ob * TILE_O
        for o in range(min(TILE_O, O - o0)):
            part = scratch[((ob - b0) * TILE_O + o) * tw:]
            row = dst[(o0 + o) * dpitch + r0:]
            for j in range(skip, tw):
                row[j] = part[j]


@numba.njit(parallel=True, cache=True, nogil=True)
def _direct(src, offs, w, bias, lo, hi, nv, R, nsplit, dst, dpitch):  # pragma: no cover (jit)
    """dst[o * dpitch + r] = clamp(sum_k w[o, k] * src[offs[k] + r] + bias[o], lo, hi) for o < bias.size,
    r < R (R >= 8 * nv); ``w`` packed by :func:`pack_weights`."""
    tw = nv * LANES
    for item in numba.prange(((R + tw - 1) // tw) * nsplit):
        _item(item, src, offs, w, bias, lo, hi, nv, R, nsplit, dst, dpitch, _NO_RESIDUAL_FLAT, 0)


def direct_reference(src: np.ndarray, offs: np.ndarray, w: np.ndarray, bias: np.ndarray, lo, hi, R: int) -> np.ndarray:
    """What _direct computes, as [O, R]: ``clamp(w [O, K] @ src[offs[k] + r] + bias, lo, hi)`` (f64 sums)."""
    cols = src[offs[:, None] + np.arange(R)].astype(np.float64)
    y = (w.astype(np.float64) @ cols).astype(np.float32) + bias[:, None]
    return np.fmin(np.fmax(y, np.float32(lo)), np.float32(hi))


def pack_weights(w: np.ndarray) -> np.ndarray:
    """float32 [O, K] -> [ceil(O/4), K, 4] flat: each block of 4 output channels tap-major, zero padded."""
    O, K = w.shape
    nob = -(-O // TILE_O)
    p = np.zeros((nob * TILE_O, K), np.float32)
    p[:O] = w
    return np.ascontiguousarray(p.reshape(nob, TILE_O, K).transpose(0, 2, 1)).reshape(-1)


# ------------------------------------------------------------------------------------ 2-D convolution
@numba.njit(inline="always")
def _source(x, g, buf, aux):  # pragma: no cover (jit)
    """What the taps read (see _conv_image_serial), filled on the calling thread: the flat input
    itself, or ``buf`` holding its padded phases / masked shifted copies / gathered windows."""
    ph, pw, Hp, Wp, mode = g[0], g[1], g[2], g[3], g[6]
    C = x.shape[0]
    if mode == PHASES:
        for c in range(C):
            _fill_phases(x[c], ph, pw, Hp, Wp, buf[c])
        return buf.reshape(buf.size)
    if mode == SHIFTED:
        at, HW = g[8], x.shape[1] * x.shape[2]
        planes = x.reshape(C, HW)
        for j in range(buf.shape[1]):  # one 2-D pass per shift: no views made per channel (~25 ns each)
            dst, kj = buf[:, j, 0, 0, at:at + HW], aux[j]
            for c in range(C):
                for t in range(HW):
                    v = planes[c, t]  # loaded unconditionally: a select, not a masked load (slow on Zen 2)
                    dst[c, t] = v if kj[t] else np.float32(0)
        return buf.reshape(buf.size)
    if mode == GATHERED:
        xf, idx, cols = x.reshape(x.size), aux.reshape(aux.size), buf.reshape(buf.size)
        for i in range(idx.size):
            j = idx[i]
            v = xf[max(j, 0)]
            cols[i] = v if j >= 0 else np.float32(0)
        return cols
    return x.reshape(x.size)


@numba.njit(inline="always")
def _finish(out, dpitch, pitch, res, lo, hi, o0, o1, y):  # pragma: no cover (jit)
    """Channels o0 <= o < o1 of y from the pitched tiles in ``out``, plus the residual and the clamp
    when ``res`` is not empty (where the tiles write y itself, their epilogue adds it)."""
    Ho, Wo = y.shape[1], y.shape[2]
    yf, rf = y.reshape(y.size), res.reshape(res.size)
    fused = res.size > 0
    for o in range(o0, o1):
        for oh in range(Ho):  # unsigned flat offsets: no view per row (two reference-count calls each)
            r, d = np.uint64(o * dpitch + oh * pitch), np.uint64((o * Ho + oh) * Wo)
            if fused:
                for ow in range(np.uint64(Wo)):
                    yf[d + ow] = _plus_clamped(out[r + ow], rf[d + ow], True, lo, hi)
            else:
                for ow in range(np.uint64(Wo)):
                    yf[d + ow] = out[r + ow]


@numba.njit(inline="always")
def _epilogue(compact, res, lo, hi):  # pragma: no cover (jit)
    """What the tiles' epilogue gets: where they write y itself, the residual (flat) and the clamp;
    into a pitched scratch, neither when there is a residual (_finish adds it, then clamps)."""
    inf = np.float32(np.inf)
    if res.size == 0:
        return _NO_RESIDUAL_FLAT, lo, hi
    if compact:
        return _NO_RESIDUAL_FLAT, -inf, inf
    return res.reshape(res.size), lo, hi


@numba.njit(inline="always")
def _prologue(x, g, buf, aux, dst, res, lo, hi, y):  # pragma: no cover (jit)
    """What both entry points set up: the taps' source (_source), where the tiles write (y itself,
    or the pitched scratch ``dst`` when the row pitch is wider than the output row), its row pitch,
    the pixels the tiles cover, and their epilogue (_epilogue)."""
    pitch, Wo = g[4], y.shape[2]
    src = _source(x, g, buf, aux)
    compact = pitch != Wo
    out = dst.reshape(dst.size) if compact else y.reshape(y.size)
    R = g[7]
    dpitch = dst.shape[1] if compact else R
    tres, tlo, thi = _epilogue(compact, res, lo, hi)
    return src, compact, out, R, dpitch, tres, tlo, thi


@numba.njit(cache=True, nogil=True)
def _conv_image_serial(x, g, offs, w, bias, lo, hi, buf, aux, dst, res, y):  # pragma: no cover (jit)
    """One image x [C, H, W] -> y [O, Ho, Wo], on the calling thread. ``g`` (int64): ph, pw, Hp, Wp,
    pitch, nv, mode, the pixels the tiles cover (up to the last one, or past it to whole tiles: see
    direct_plan), then for the shifted mode the offset of the plane in each copy. Modes (what the
    taps read): IN_PLACE: x itself. PHASES: each channel zero padded and split into stride phases, in
    ``buf`` [C, sh, sw, Hq, Wq]. SHIFTED (stride 1, output as wide as the input): per channel, one
    zero-padded copy per column shift of the taps, in ``buf`` [C, shifts, 1, 1, L], with the columns a
    shifted tap would read across a row's end zeroed (``aux`` [shifts, H*W] says which elements
    stay): the row pitch is then the output's. GATHERED (tiny outputs the padded pitch would waste
    most tiles on): each tap's window of input cells at the output's pitch, ``buf`` [1, 1, 1, 1, K*R],
    gathered through ``aux`` [1, K*R] (input indices, -1 for padding). ``buf`` comes zeroed and the
    fills write only the same data cells each time, so its padding stays zero from call to call.
    When the row pitch is wider than the output row, the tiles go to ``dst`` and are compacted into
    y. A residual ``res`` (y's shape; empty: none) is added after the bias, and the clamp after it.
    On one thread each pixel tile runs every channel block (one group): its input window stays in L1."""
    nv, O = g[5], y.shape[0]
    src, compact, out, R, dpitch, tres, tlo, thi = _prologue(x, g, buf, aux, dst, res, lo, hi, y)
    tw = nv * LANES
    for t in range((R + tw - 1) // tw):
        _item(t, src, offs, w, bias, tlo, thi, nv, R, 1, out, dpitch, tres, R)
    if compact:
        _finish(out, dpitch, g[4], res, lo, hi, 0, O, y)


@numba.njit(parallel=True, cache=True, nogil=True)
def _conv_image(x, g, offs, w, bias, lo, hi, buf, aux, dst, res, y, nthreads):  # pragma: no cover (jit)
    """_conv_image_serial on every thread numba has, in one parallel region (each costs ~13 us to wake
    the sleeping threads): the input is laid out first on the calling thread, then each thread's group
    of output-channel blocks runs every pixel tile and finishes its own channels."""
    pitch, nv, O = g[4], g[5], y.shape[0]
    src, compact, out, R, dpitch, tres, tlo, thi = _prologue(x, g, buf, aux, dst, res, lo, hi, y)
    tw = nv * LANES
    ntile, nob = (R + tw - 1) // tw, (O + TILE_O - 1) // TILE_O
    nsplit = min(nob, nthreads)  # a group per thread (numba.get_num_threads() here would block caching)
    per = (nob + nsplit - 1) // nsplit
    for grp in numba.prange(nsplit):
        for t in range(ntile):
            _item(t * nsplit + grp, src, offs, w, bias, tlo, thi, nv, R, nsplit, out, dpitch, tres, R)
        if compact:
            _finish(out, dpitch, pitch, res, lo, hi, min(O, grp * per * TILE_O), min(O, (grp + 1) * per * TILE_O), y)


class DirectPlan:
    """A 2-D convolution with constant weights, laid out for _conv_image (one input shape). Calling it
    is safe from several threads at once: each call takes a scratch (padded input, pitched output)
    from a pool, or makes one."""

    takes_residual = True
    __slots__ = ("g", "offs", "w", "bias", "lo", "hi", "aux", "buf", "dst", "out", "_pool")

    def __init__(self, g: np.ndarray, offs: np.ndarray, w: np.ndarray, bias: np.ndarray, lo, hi, aux: np.ndarray,
                 buf: tuple[int, ...], dst: tuple[int, int], out: tuple[int, int, int]):
        self.g, self.offs, self.w, self.bias = g, offs, w, bias
        self.lo, self.hi = np.float32(lo), np.float32(hi)
        self.aux = aux  # int32: SHIFTED the elements of each shifted copy that stay, GATHERED input indices
        self.buf = buf  # shape of the padded input buffer ((0,) * 5: none)
        self.dst = dst  # shape of the pitched output scratch ((0, 0): none)
        self.out = out  # O, Ho, Wo
        # scratches between calls: the padding of a buffer, zeroed once, is never written again, so
        # a reused one saves zeroing it per call (list.pop/append are atomic: no lock)
        self._pool: list[tuple[np.ndarray, np.ndarray]] = []

    def __call__(self, x: np.ndarray, residual: np.ndarray | None = None) -> np.ndarray:
        """x float32 [N, C, H, W], C-contiguous -> y [N, O, Ho, Wo]; with ``residual`` (float32, y's
        shape), ``clamp(conv + bias + residual)``: the clamp moves after the residual Add."""
        y = np.empty((x.shape[0], *self.out), np.float32)
        pool = self._pool
        buf, dst = pool.pop() if pool else (np.zeros(self.buf, np.float32), np.empty(self.dst, np.float32))
        nthreads = threads.current()
        for n in range(x.shape[0]):
            res = _NO_RESIDUAL if residual is None else residual[n]
            if nthreads > 1:
                _conv_image(x[n], self.g, self.offs, self.w, self.bias, self.lo, self.hi, buf, self.aux, dst, res,
                            y[n], nthreads)
            else:
                _conv_image_serial(x[n], self.g, self.offs, self.w, self.bias, self.lo, self.hi, buf, self.aux, dst,
                                   res, y[n])
        pool.append((buf, dst))
        return y


def _aliased(C: int, plane: int) -> bool:
    """True when the taps of C planes of ``plane`` floats, read in place, would fight over L1 sets:
    addresses 4 KiB apart share a set (8 ways on Zen 2), so planes of 32x32 floats all do (measured:
    a 16->64 1x1 layer at 21 GMAC/s on 32x32, 32 on 32x33). The padded copy (PHASES) gives each
    plane a row more, which staggers them."""
    distinct = 4096 // math.gcd(plane * 4, 4096)  # 4 KiB offsets the planes start at
    return distinct <= 2 and C > 8  # (16x16 planes, 4 offsets: 96 of them cost only ~4%, less than the copy)


def direct_plan(w: np.ndarray, bias: np.ndarray, lo, hi, C: int, H: int, W: int, strides: tuple[int, int],
                dilations: tuple[int, int], pads: tuple[int, int], out: tuple[int, int],
                shifted: bool = True) -> DirectPlan | None:
    """The plan for weights ``w`` [O, C, kh, kw] on [C, H, W] inputs (pads at the beginning; the end
    padding is implied by the output size ``out``), or None when the output is under one vector."""
    O, _, kh, kw = w.shape
    (sh, sw), (dh, dw), (ph, pw), (Ho, Wo) = strides, dilations, pads, out
    c, b, e = np.meshgrid(np.arange(C), np.arange(kh), np.arange(kw), indexing="ij")
    extra: list[int] = []
    aux = np.zeros((0, 0), np.int32)
    # 'same' width at stride 1: shifted copies (a row pitch of W) where the padded pitch would waste
    # over 15% of the tiles and the copies' footprint stays in cache (measured: 8x8 and 4x4 planes
    # 8-30% faster, 16x16 and 32x32 10% slower, 300 channels 50% slower)
    waste = (kw - 1) * dw / (W + (kw - 1) * dw)
    if shifted and sh == sw == 1 and Wo == W and (ph or pw or Ho + (kh - 1) * dh > H) and waste > 0.15 and \
            C * kh * kw <= 1152 and Ho + (kh - 1) * dh >= H + ph:
        shifts = sorted({int(e_ * dw - pw) for e_ in range(kw)})
        G, Hr = max(map(abs, shifts)), Ho + (kh - 1) * dh
        L = G + Hr * W + G
        j = np.searchsorted(shifts, e * dw - pw)
        offs = (c * len(shifts) + j) * L + G + b * dh * W + (e * dw - pw)
        # a tap shifted by s columns reads past a row's end into the next row (s > 0: its first s
        # columns) or the previous one (s < 0: its last -s columns): those read zero
        col = np.arange(H * W) % W
        aux = np.stack([(col >= s) & (col < W + s) for s in shifts]).astype(np.int32)
        mode, pitch, buf, extra = SHIFTED, W, (C, len(shifts), 1, 1, L), [G + ph * W]
        Hp = Wp = 0
    elif ph or pw or sh > 1 or sw > 1 or (Ho - 1) * sh + (kh - 1) * dh >= H or (Wo - 1) * sw + (kw - 1) * dw >= W \
            or _aliased(C, H * W):
        Hp, Wp = (Ho - 1) * sh + (kh - 1) * dh + 1, (Wo - 1) * sw + (kw - 1) * dw + 1
        Hq, Wq = max(-(-Hp // sh), (kh - 1) * dh // sh + Ho) + 1, -(-Wp // sw)
        q, p = (b * dh) % sh, (e * dw) % sw
        offs = c * (sh * sw * Hq * Wq) + ((q * sw + p) * Hq + (b * dh) // sh) * Wq + (e * dw) // sw
        mode, pitch, buf = PHASES, Wq, (C, sh, sw, Hq, Wq)
    else:
        Hp = Wp = 0
        offs = c * (H * W) + b * dh * W + e * dw
        mode, pitch, buf = IN_PLACE, W, (0, 1, 1, 1, 1)
    R = (Ho - 1) * pitch + Wo
    if R < LANES:
        return None
    # the tile width with the fewest vectors plus a tile's fixed cost (R = 64: two tiles of 24 and a
    # last one shifted back, or four of 16: measured 3% faster)
    nv = min((v for v in (3, 2, 1) if v * LANES <= R), key=lambda v: -(-R // (v * LANES)) * (v + 0.5))
    offs = offs.reshape(-1)
    if pitch != Wo:  # the tiles go to a pitched scratch: they may run on past R into its padding, with
        # no last tile shifted back, when the input has room for their reads too (a 4x4 output at pitch
        # 5, R = 19: one tile of 24 instead of two of 16)
        v = min((3, 2, 1), key=lambda v: -(-R // (v * LANES)) * (v + 0.5))  # vectors + a tile's fixed cost
        whole = -(-R // (v * LANES)) * v * LANES
        reach = int(offs.max()) + whole  # elements the reads need
        if mode == PHASES:  # room: more zero channels at the end of the buffer
            buf = (C + -(-max(0, reach - math.prod(buf)) // math.prod(buf[1:])), *buf[1:])
        if reach <= (math.prod(buf) if mode == PHASES else C * H * W):
            R, nv = whole, v
    # a 1x1 layer at stride 2 reads one of the four phases: copying all of them costs more than the
    # layer (resnet's downsampling shortcuts: 16x32x32 -> 32x16x16, 19 -> 9 us gathered)
    strided_1x1 = kh * kw == 1 and (sh > 1 or sw > 1)
    if (pitch != Wo and R >= 1.4 * Ho * Wo or strided_1x1) and Ho * Wo >= LANES and C * kh * kw * Ho * Wo <= 1 << 15:
        # a tiny output at a wide pitch (ssd's 8x8 -> 4x4 stride 2: 24 pixels a tile for 16): each
        # tap's window gathered at the output's pitch instead, no pixel wasted (64x128: 51 -> 35 us)
        row, col = (np.arange(Ho * Wo) // Wo)[None, :], (np.arange(Ho * Wo) % Wo)[None, :]
        r = row * sh + (b * dh - ph).reshape(-1, 1)
        q = col * sw + (e * dw - pw).reshape(-1, 1)
        inside = (r >= 0) & (r < H) & (q >= 0) & (q < W)
        aux = np.where(inside, c.reshape(-1, 1) * H * W + r * W + q, -1).astype(np.int32).reshape(1, -1)
        R = Ho * Wo
        mode, pitch, buf, offs = GATHERED, Wo, (1, 1, 1, 1, aux.size), np.arange(C * kh * kw) * R
        nv = min((v for v in (3, 2, 1) if v * LANES <= R), key=lambda v: -(-R // (v * LANES)) * (v + 0.5))
    g = np.array([ph, pw, Hp, Wp, pitch, nv, mode, R, *extra], np.int64)
    return DirectPlan(g, np.ascontiguousarray(offs, np.int64), pack_weights(w.reshape(O, -1)),
                      np.ascontiguousarray(bias, np.float32), lo, hi, aux, buf,
                      (O, max(Ho * pitch, R)) if pitch != Wo else (0, 0), (O, Ho, Wo))
