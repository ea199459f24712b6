"""The INT8 path's common ground: the opset of its layers, and the epilogue every INT8 layer runs.

Activations travel as u8 codes ``k`` with a zero point ``z`` (real value ``(k - z) * s``); weights as
integer codes with a per-output-channel scale. The INT8 layers that sum (convolutions, MatMuls, pooling)
sum exactly (int32, or float32/float64 where those are exact), then run the epilogue on the sums, in
float32 (:func:`compose`): ``y = f32(acc) * A + B`` clamped, and when the next layer takes INT8 the
requantization is folded into the same affine map, ``q = clip(rint(f32(acc) * A + B), LO, HI)``;
:func:`epilogue_reference` is its numpy definition, which the kernels match bit for bit. The integer
products are exact; what differs from the FP32 emulation of the same IR is only float rounding in the
epilogue: at most one quantization step. A residual Add fused into a convolution's epilogue has a map of
its own (:func:`compose_residual`, :func:`residual_reference`).

The INT8 kernels, by op, each module with its numpy references: ``int8_quantize`` (Quantize,
Dequantize), ``int8_conv`` (Convolution), ``int8_depthwise`` (GroupConvolution with one channel a
group), ``int8_matmul`` (MatMul), ``int8_pooling`` (ReduceMean, AvgPool), ``int8_elementwise`` (ReLU,
Add); ``_int8_codegen`` is the LLVM IR of the convolution and MatMul micro-kernel, ``_int8_bound`` the
load-time binding of a layer's calls. This module registers no kernel.
"""
from __future__ import annotations

import numba
import numpy as np


INT8 = "irtool-int8"  # the opset of irtool's internal INT8 layers (never written to a file)
_JIT = dict(parallel=True, cache=True, nogil=True)
# Unsigned indices: numba then emits no negative-index wraparound, so the INT8 kernels' loops index flat
# arrays directly (no per-row slice: each costs two reference-count calls, more than a short row).
_U1 = np.uint64(1)


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


__all__ = ["INT8", "compose", "epilogue", "epilogue_reference"]
