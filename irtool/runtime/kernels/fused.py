"""Kernels of the layers ``runtime/fusion.py`` makes: a weighted op, then ``+ bias`` (``+ residual``
for a Convolution) and a clamp, in place on the product (the same float operations as the unfused
layers, one pass less each)."""
from __future__ import annotations

from irtool.runtime.fusion import FUSED
from irtool.runtime.kernels.conv import convolution, group_convolution
from irtool.runtime.kernels.conv_prepare import numpy_epilogue, prepare_convolution
from irtool.runtime.kernels.matmul import matmul
from irtool.runtime.registry import kernel, specializer


@kernel("Convolution", versions=(FUSED,), impl="jit")
def convolution_fused(x, w, bias=None, residual=None, *, strides: list[int], dilations: list[int],
                      pads_begin: list[int] | None = None, pads_end: list[int] | None = None,
                      auto_pad: str = "explicit", clamp: list[float] | None = None):
    y = convolution(x, w, strides=strides, dilations=dilations, pads_begin=pads_begin, pads_end=pads_end,
                    auto_pad=auto_pad)
    return numpy_epilogue(y, bias, clamp, residual)


@kernel("GroupConvolution", versions=(FUSED,), impl="jit")
def group_convolution_fused(x, w, bias=None, *, strides: list[int], dilations: list[int],
                            pads_begin: list[int] | None = None, pads_end: list[int] | None = None,
                            auto_pad: str = "explicit", clamp: list[float] | None = None):
    y = group_convolution(x, w, strides=strides, dilations=dilations, pads_begin=pads_begin, pads_end=pads_end,
                          auto_pad=auto_pad)
    return numpy_epilogue(y, bias, clamp)


@specializer(convolution_fused)
def _prepare_convolution(consts, **attrs):
    return prepare_convolution(consts, False, lambda *a: convolution_fused(*a, **attrs), **attrs)


@specializer(group_convolution_fused)
def _prepare_group_convolution(consts, **attrs):
    return prepare_convolution(consts, True, lambda *a: group_convolution_fused(*a, **attrs), **attrs)


@kernel("MatMul", versions=(FUSED,), impl="gemm_blas")
def matmul_fused(a, b, bias=None, *, transpose_a: bool = False, transpose_b: bool = False,
                 clamp: list[float] | None = None):
    y = matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    if not (y.flags.writeable and y.flags.owndata):
        y = y.copy()
    return numpy_epilogue(y, bias, clamp)
