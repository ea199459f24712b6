"""What this CPU can do, for kernel choice and the ISA part of exec types (``jit_avx2_FP32``)."""
from __future__ import annotations

import functools


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
    """The best vector ISA numba will use here, spelled as OpenVINO's exec types spell it."""
    f = host_features()
    if {"avx512f", "avx512bw", "avx512vl"} <= f:
        return "avx512_core_vnni" if "avx512vnni" in f else "avx512_core"
    if "avx2" in f:
        return "avx2_vnni" if "avxvnni" in f else "avx2"
    if "sse4.1" in f:
        return "sse42"
    return "any"
