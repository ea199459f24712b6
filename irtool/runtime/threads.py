"""Threads for the two pools irtool's kernels use: numba's parallel kernels and numpy's OpenBLAS.

Two pools on a small machine fight: OpenBLAS's idle threads spin while numba's want the cores.
Measured on the 2-core target under load (median latency, digits CNN / transformer sample): both
pools at 2 threads 31.9 / 63.8 ms; OpenBLAS at 1 thread 0.59 / 1.34 ms; everything at 1 thread
0.52 / 1.35 ms. So by default numba uses every core and OpenBLAS one thread (GEMMs are small in these
models); ``IRTOOL_NUM_THREADS`` sets numba's count, ``IRTOOL_BLAS_THREADS`` OpenBLAS's.
"""
from __future__ import annotations

import ctypes
import math
import os

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")


_configured = False
_parallel = 1  # numba's thread count when a kernel runs in parallel
_now = 0  # numba's thread count as this module last set it (0: not set yet); see current()
_set = None  # numba's thread-count setter, once its threading layer runs (see serial)

# A parallel region costs tens of microseconds to wake the other threads; below this many elements
# in its first input a kernel runs its numba parts on the calling thread alone (measured on the 2-core target:
# the samples' layers, all under 70k elements, ran 2-15% faster serial).
SERIAL_BELOW = 1 << 17

# A convolution is worth both cores from this many multiply-adds (its output size x taps per output):
# the direct FMA kernel does ~30 per ns on one core and splits over cores in up to 3 parallel regions
# of ~13 us each (sleeping OpenMP waiters, see runtime/__init__.py): measured on the 2-core target,
# resnet_mini's 2.4M-MAC layers ran slower in parallel, so 8M (~300 us of work).
PARALLEL_MACS = int(os.environ.get("IRTOOL_PARALLEL_MACS", 1 << 23))


def _env_int(name: str, default: int) -> int:
    """A thread count from the environment; 0 or less means every core."""
    try:
        n = int(os.environ.get(name, default))
    except ValueError:
        n = default
    return (os.cpu_count() or 1) if n <= 0 else n


def configure() -> None:
    """Apply the environment's (or the default) thread counts once per process."""
    global _configured
    if not _configured:
        set_num_threads(_env_int("IRTOOL_NUM_THREADS", 0), _env_int("IRTOOL_BLAS_THREADS", 1))
        _configured = True


def set_num_threads(n: int, blas: int | None = None) -> None:
    """Use ``n`` threads in numba's parallel kernels and ``blas`` (default 1) in OpenBLAS."""
    import numba

    global _configured, _parallel, _now
    _now = _parallel = max(1, min(n, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(_parallel)
    _openblas(max(1, blas or 1))
    _configured = True


def serial(on: bool) -> None:
    """Run the next numba kernels on the calling thread only (``on``), or on the configured count."""
    global _now, _set
    n = 1 if on else _parallel
    if n == _now and _set is not None:  # (one thread configured: nothing to switch)
        return
    if _set is None:
        import numba
        from numba.np.ufunc import parallel

        numba.set_num_threads(n)  # starts the threading layer, checks n
        # then numba's own setter directly: set_num_threads re-checks its locks and argument each time
        # (~1.5 us, twice an inference); the public call where a numba lacks it
        _set = getattr(parallel, "_set_num_threads", None) or numba.set_num_threads
    else:
        _set(n)
    _now = n


def current() -> int:
    """numba's thread count for the next kernel, without asking numba (``numba.get_num_threads`` costs
    about 1 us, a fifth of a small layer's run): the count this module last set, else numba's."""
    if _now:
        return _now
    import numba

    return numba.get_num_threads()


def is_small(layer) -> bool:
    """True when the layer has too little work to wake other threads for: a convolution under
    PARALLEL_MACS multiply-adds, another layer under SERIAL_BELOW elements in its first input (static
    dims known; dynamic ones count as large)."""
    dims = layer.inputs[0].dims if layer.inputs else []
    if not dims or any(d < 0 for d in dims):
        return False
    if layer.type == "Convolution" and len(layer.inputs) > 1 and layer.outputs:
        out, w = layer.outputs[0].dims, layer.inputs[1].dims
        if out and w and all(d >= 0 for d in (*out, *w)):
            # taps per output: C x kernel; INT8 weights come packed [O/4, C/2, kh, kw, 4] (int16 pairs)
            taps = math.prod(w[1:4]) * 2 if len(w) == 5 and layer.version == "irtool-int8" else math.prod(w[1:])
            return math.prod(out) * taps < PARALLEL_MACS
    return math.prod(dims) < SERIAL_BELOW


def _openblas(n: int) -> bool:
    """Set OpenBLAS's thread count through the library numpy loaded (no public numpy API does)."""
    for path in _loaded_blas():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(ctypes.c_int(n))
                return True
    return False


def _loaded_blas() -> list[str]:
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and line.rstrip().endswith(".so")
                     or "openblas" in line.lower() and ".so" in line.split()[-1]}
    except OSError:  # not Linux: leave OpenBLAS as it is
        return []
    return sorted(p for p in paths if p.startswith("/"))
