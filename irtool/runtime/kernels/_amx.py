"""AMX (Advanced Matrix Extensions) in numba: the tile instructions as intrinsics, and the process's
permission to use them.

``tdpbusd`` multiplies a tile of u8 (16 rows x up to 64 bytes) by a tile of s8 quads (up to 16 rows
of 16 quads) into 16 x 16 int32 sums, exactly (no saturation): 16,384 multiply-adds an instruction,
the same sums as vpdpbusd's. Tiles are configured per thread (:func:`tile_config`, a 64-byte
palette-1 record, see :func:`config`); Linux hands the tile state to a process only once it asks
(:func:`request_permission`, arch_prctl ARCH_REQ_XCOMP_PERM). A private module: no kernel here.

Tile numbers in :func:`block_su`/:func:`block_us`: 0-3 the sums of a 2 x 2 block of 16 x 16 int32
tiles, 4 and 5 two A tiles, 6 and 7 two B tiles.
"""
from __future__ import annotations

import ctypes
import functools

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

_ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA, _SYS_ARCH_PRCTL = 0x1023, 18, 158  # (x86-64 Linux)


@functools.cache
def request_permission() -> bool:
    """Ask Linux for the AMX tile state for this process (its threads inherit it); False where the
    kernel refuses or this is not Linux on x86-64: AMX code must not run then (SIGILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syscall(_SYS_ARCH_PRCTL, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA) == 0
    except (OSError, AttributeError):
        return False


def config(kc: int) -> np.ndarray:
    """The tile configuration of the 2 x 2 blocks for a step of ``kc`` bytes (a multiple of 4, <= 64):
    sums 16 x 64 bytes (16 int32), A tiles 16 rows x kc bytes, B tiles kc/4 rows x 64 bytes."""
    cfg = np.zeros(64, np.uint8)
    cfg[0] = 1  # palette 1
    colsb, rows = cfg[16:48].view(np.uint16), cfg[48:64]
    for t in range(4):
        colsb[t], rows[t] = 64, 16
    for t in (4, 5):
        colsb[t], rows[t] = kc, 16
    for t in (6, 7):
        colsb[t], rows[t] = 64, kc // 4
    return cfg


def _fn(builder, name, args):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), args), name)


@intrinsic
def tile_config(typingctx, cfg):
    """ldtilecfg: this thread's tiles as ``cfg`` (:func:`config`) says."""
    def codegen(context, builder, sig, args):
        p8 = ir.IntType(8).as_pointer()
        data = builder.bitcast(context.make_array(sig.args[0])(context, builder, args[0]).data, p8)
        builder.call(_fn(builder, "llvm.x86.ldtilecfg", [p8]), [data])
        return context.get_dummy_value()
    return types.void(cfg), codegen


@intrinsic
def tile_release(typingctx):
    """tilerelease: this thread's tiles back to their initial state (cheaper context switches)."""
    def codegen(context, builder, sig, args):
        builder.call(_fn(builder, "llvm.x86.tilerelease", []), [])
        return context.get_dummy_value()
    return types.void(), codegen


def _block2x2_codegen(dot_name: str):
    def codegen(context, builder, sig, args):
        i8, i64 = ir.IntType(8), ir.IntType(64)
        p8 = i8.as_pointer()
        arr = {i: context.make_array(sig.args[i])(context, builder, args[i]) for i in (0, 3, 5, 8, 10)}
        pa, pb, pc = (builder.bitcast(arr[i].data, p8) for i in (0, 5, 10))
        pao, pbo = arr[3].data, arr[8].data
        nk = builder.extract_value(arr[3].shape, 0)
        va0, va1, vas, vb0, vb1, vbs = (context.cast(builder, args[i], sig.args[i], types.int64)
                                        for i in (1, 2, 4, 6, 7, 9))
        zero = _fn(builder, "llvm.x86.tilezero", [i8])
        load = _fn(builder, "llvm.x86.tileloadd64", [i8, p8, i64])
        dot = _fn(builder, dot_name, [i8, i8, i8])
        store = _fn(builder, "llvm.x86.tilestored64", [i8, p8, i64])
        t = [ir.Constant(i8, n) for n in range(8)]
        for n in range(4):
            builder.call(zero, [t[n]])
        with cgutils.for_range(builder, nk) as loop:
            ao = builder.load(builder.gep(pao, [loop.index]))
            bo = builder.load(builder.gep(pbo, [loop.index]))
            builder.call(load, [t[4], builder.gep(pa, [builder.add(va0, ao)]), vas])
            builder.call(load, [t[5], builder.gep(pa, [builder.add(va1, ao)]), vas])
            builder.call(load, [t[6], builder.gep(pb, [builder.add(vb0, bo)]), vbs])
            builder.call(load, [t[7], builder.gep(pb, [builder.add(vb1, bo)]), vbs])
            for acc, x, w in ((0, 4, 6), (1, 4, 7), (2, 5, 6), (3, 5, 7)):
                builder.call(dot, [t[acc], t[x], t[w]])
        c0, cstride = (context.cast(builder, args[i], sig.args[i], types.int64) for i in (11, 12))
        row16 = builder.add(c0, builder.mul(cstride, ir.Constant(i64, 16)))
        for n, off in ((0, c0), (1, builder.add(c0, ir.Constant(i64, 64))), (2, row16),
                       (3, builder.add(row16, ir.Constant(i64, 64)))):
            builder.call(store, [t[n], builder.gep(pc, [off]), cstride])
        return context.get_dummy_value()
    return codegen


def _signature(a, a0, a1, aoffs, astride, b, b0, b1, boffs, bstride, c, c0, cstride):
    return types.void(a, a0, a1, aoffs, astride, b, b0, b1, boffs, bstride, c, c0, cstride)


@intrinsic
def block_su(typingctx, a, a0, a1, aoffs, astride, b, b0, b1, boffs, bstride, c, c0, cstride):
    """A 2 x 2 block of tiles, s8 A x u8 B (tdpbsud): c[c0:] (int32, rows ``cstride`` bytes apart) =
    sum over steps k < aoffs.size of the A tiles at a[a0 + aoffs[k]:], a[a1 + aoffs[k]:] (rows
    ``astride`` bytes apart) times the B tiles at b[b0 + boffs[k]:], b[b1 + boffs[k]:] (rows
    ``bstride`` apart): sums rows 0-15 from a0, 16-31 from a1; columns 0-15 from b0, 16-31 from b1.
    Offsets in bytes; the tiles configured (tile_config)."""
    return _signature(a, a0, a1, aoffs, astride, b, b0, b1, boffs, bstride, c, c0, cstride), \
        _block2x2_codegen("llvm.x86.tdpbsud")


@intrinsic
def block_us(typingctx, a, a0, a1, aoffs, astride, b, b0, b1, boffs, bstride, c, c0, cstride):
    """block_su with u8 A and s8 B (tdpbusd)."""
    return _signature(a, a0, a1, aoffs, astride, b, b0, b1, boffs, bstride, c, c0, cstride), \
        _block2x2_codegen("llvm.x86.tdpbusd")
