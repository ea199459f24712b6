"""The INT8 layers' bound calls: per input shape and thread, a call straight into numba's machine code.

Every INT8 kernel with weights (int8_conv, int8_depthwise, int8_matmul) has a load-time specializer:
weights prepared (packed), the epilogue composed, and per input shape and thread a bound call
(:class:`_Bound`) with its work buffers and output buffer, called through its compiled code
(:func:`_bound_runner`), so that a small layer pays little more than the unboxing of its arguments. Also
the small arrays those layers share: cached read-only ones (:func:`_frozen`, :func:`_zero_points`) and
the stubs passed for the output type a call does not write. A private module (the package does not
import it by itself): it registers no kernel.
"""
from __future__ import annotations

import functools
import threading
from typing import NamedTuple

import numpy as np
from numba.core.dispatcher import Dispatcher


@functools.lru_cache(maxsize=512)
def _zero_points(zero_point: tuple[int, ...], C: int) -> np.ndarray:
    """One int16 zero point per channel (read-only, cached)."""
    return _frozen(np.broadcast_to(np.asarray(zero_point, np.int16), (C,)), np.int16)


_STUB_Q, _STUB_F = np.zeros((1, 1, 1, 1), np.uint8), np.zeros((1, 1, 1, 1), np.float32)  # the output not written
_STUB_Q1, _STUB_F1 = _STUB_Q.reshape(1), _STUB_F.reshape(1)
_NO_RESIDUAL = np.zeros(0, np.float32)  # the tiles' residual map when no Add follows
_NO_COMP = np.zeros(0, np.int32)  # the tiles' zero-point compensation on the int16 pairs path (none)


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


def _bound_runner(make, extra: int | None = None, isa: str = "avx2"):
    """``k -> y`` calling ``make(k.shape) -> _Bound`` once per input shape and thread, then only the
    bound call, into the compiled code (_compiled) while ``k`` has the dtype and flags it was bound
    with (else it binds again: the code is then another's). The output is the thread's own buffer,
    rewritten by every call (as a plan's memory in OpenVINO): the run function says so
    (``reuses_output``), and the plugin copies it where it leaves an inference. ``extra``: the index
    among the inputs after ``k`` of one more per-call array (a fused residual Add's other codes),
    passed C-contiguous and writeable as the code it was bound with takes it. ``isa``: the exec-type
    ISA of the micro-kernel the layer runs (the counters name it)."""
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
    run.isa = isa
    return run


def _plain(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous, aligned, writeable ndarray (a copy only if it is not one)."""
    plain = type(a) is np.ndarray and a.flags.num & _TYPE_FLAGS in (_C_CONTIGUOUS | 0x100 | 0x400, _TYPE_FLAGS)
    return a if plain else np.array(a, order="C")


def _outputs(b: _Bound) -> tuple[np.ndarray, np.ndarray]:
    """``b``'s output (a new buffer) and the other type's stub, as its calls pass them."""
    return (np.empty(b.out_shape, np.uint8), _STUB_F) if b.levels else (_STUB_Q, np.empty(b.out_shape, np.float32))


def _frozen(a: np.ndarray, dtype=np.int64) -> np.ndarray:
    """A cached array nobody may write to (a copy)."""
    a = np.array(a, dtype)
    a.flags.writeable = False
    return a
