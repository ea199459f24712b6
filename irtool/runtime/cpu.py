"""What this CPU can do, for kernel choice and the ISA part of exec types (``jit_avx2_FP32``)."""
from __future__ import annotations

import functools
import os

from irtool.errors import UnsupportedError

# The INT8 micro-kernels: ``avx2`` int16 pairs on vpmaddwd (any x86-64 with AVX2), ``vnni`` u8 x s8
# quads on vpdpbusd (AVX512-VNNI or AVX-VNNI). ``avx512`` names a CPU with AVX-512 but no VNNI: its
# INT8 kernels are the pairs'. ``amx`` tiles of u8 x s8 (tdpbusd/tdpbsud: Sapphire Rapids and later) for
# the convolutions and MatMuls that fit them, quads for the rest. All give the same exact integer sums.
INT8_ISAS = ("avx2", "avx512", "vnni", "amx")


@functools.cache
def host_features() -> frozenset[str]:
    """The host's CPU features as LLVM names them (``avx2``, ``fma``, ``avx512vnni``...)."""
    try:
        from llvmlite import binding

        feats = binding.get_host_cpu_features()
        return frozenset(name for name, on in feats.items() if on)
    except Exception:  # a CPU/OS llvmlite cannot describe: fall back to the portable kernels
        return frozenset()


@functools.cache
def isa() -> str:
    """The best vector ISA numba's code may use here, spelled as OpenVINO's exec types spell it: the
    exec type of a jit kernel with no ISA of its own (the INT8 micro-kernels name theirs, see
    :func:`int8_exec_isa`; VNNI is only ever theirs)."""
    f = host_features()
    if {"avx512f", "avx512bw", "avx512vl"} <= f:
        return "avx512_core"
    if "avx2" in f:
        return "avx2"
    if "sse4.1" in f:
        return "sse42"
    return "any"


def has_vnni() -> bool:
    """Whether this CPU runs vpdpbusd on 256-bit vectors (AVX512-VNNI with VL, or AVX-VNNI)."""
    f = host_features()
    return {"avx512vnni", "avx512vl"} <= f or "avxvnni" in f


def has_amx() -> bool:
    """Whether this CPU has AMX's INT8 tiles and Linux lets this process use them (asked once)."""
    if not {"amx-int8", "amx-tile"} <= host_features():
        return False
    from irtool.runtime.kernels._amx import request_permission

    return request_permission()


def int8_isa() -> str:
    """The INT8 micro-kernel to use, read at load time: ``amx``, ``vnni`` or ``avx2``, the best the
    CPU has; ``IRTOOL_ISA=avx2|avx512|vnni|amx`` forces one (tests compare the paths on one machine)."""
    forced = os.environ.get("IRTOOL_ISA", "").strip().lower()
    if not forced:
        return "amx" if has_amx() and has_vnni() else "vnni" if has_vnni() else "avx2"
    if forced not in INT8_ISAS:
        raise UnsupportedError(f"IRTOOL_ISA={forced}: not one of {', '.join(INT8_ISAS)}")
    needs = {"avx2": "avx2" in host_features(), "avx512": {"avx512f", "avx512bw"} <= host_features(),
             "vnni": has_vnni(), "amx": has_amx() and has_vnni()}
    if not needs[forced]:
        raise UnsupportedError(f"IRTOOL_ISA={forced}: this CPU ({isa()}) does not have it; unset IRTOOL_ISA")
    return forced if forced in ("vnni", "amx") else "avx2"


def int8_exec_isa(kernel_isa: str) -> str:
    """The exec-type ISA of an INT8 layer run by ``kernel_isa``'s kernels, as OpenVINO spells it."""
    if kernel_isa == "amx":
        return "avx512_core_amx"
    if kernel_isa == "vnni":
        return "avx512_core_vnni" if {"avx512vnni", "avx512vl"} <= host_features() else "avx2_vnni"
    return "avx2"
