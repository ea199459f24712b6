"""Shape rules of the ops over spatial dims: convolutions, pooling, Interpolate, the block rearrangements."""
from __future__ import annotations

import numpy as np

from irtool.ir.shapes import (attr_type, Refusal, T, attr_int, attr_ints, attr_str, dynamic, float_values, fmt, int_values,
                              length_of, merge_types, rule, same, shape_value)


def _spatial(layer, n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    strides = attr_ints(layer, "strides", (1,) * n)
    dilations = attr_ints(layer, "dilations", (1,) * n)
    for name, values in (("strides", strides), ("dilations", dilations)):
        if len(values) != n:
            raise Refusal(f"{name} has {len(values)} values for {n} spatial dims")
        if any(v <= 0 for v in values):
            raise Refusal(f"{name} {list(values)} must be positive")
    return strides, dilations


def _pads(layer, n: int, data: tuple, kernel: tuple, strides: tuple, dilations: tuple):
    """pads_begin, pads_end as OpenVINO applies them: the attributes (explicit, notset), zeros (valid),
    or what same_upper/same_lower compute from each static dim (None for a dynamic one)."""
    mode = attr_str(layer, "auto_pad", "explicit")
    if mode == "valid":
        return (0,) * n, (0,) * n
    if mode in ("same_upper", "same_lower"):
        begin, end = [], []
        for d, k, s, dl in zip(data, kernel, strides, dilations):
            if d < 0 or k < 0:
                begin.append(None)
                end.append(None)
                continue
            total = max(0, (-(-d // s) - 1) * s + (k - 1) * dl + 1 - d)
            small, big = total // 2, total - total // 2
            begin.append(small if mode == "same_upper" else big)
            end.append(big if mode == "same_upper" else small)
        return tuple(begin), tuple(end)
    begin, end = attr_ints(layer, "pads_begin", ()), attr_ints(layer, "pads_end", ())
    begin, end = begin or (0,) * n, end or (0,) * n
    if len(begin) != n or len(end) != n:
        raise Refusal(f"pads_begin/pads_end have {len(begin)}/{len(end)} values for {n} spatial dims")
    return begin, end


def _conv_dims(layer, data: tuple, kernel: tuple) -> list[int]:
    """The output spatial dims of a convolution: floor((in + pads - dilated kernel) / stride) + 1."""
    n = len(data)
    strides, dilations = _spatial(layer, n)
    begin, end = _pads(layer, n, data, kernel, strides, dilations)
    out = []
    for i in range(n):
        d, k = data[i], kernel[i]
        if d < 0 or k < 0 or begin[i] is None:
            out.append(-1)
            continue
        room = d + begin[i] + end[i] - ((k - 1) * dilations[i] + 1)
        if room < 0:
            raise Refusal(f"the kernel after dilation ({(k - 1) * dilations[i] + 1}) is larger than spatial dim "
                          f"{i} after padding ({d + begin[i] + end[i]})")
        out.append(room // strides[i] + 1)
    return out


def _ranks(data, weights, extra: int, what: str) -> bool:
    if data is None or weights is None:
        return False
    if len(data) < 3:
        raise Refusal(f"the data input has rank {len(data)}; a {what} takes rank 3 or more")
    if len(weights) != len(data) + extra:
        raise Refusal(f"the filter has rank {len(weights)}, the data {len(data)}: expected {len(data) + extra}")
    return True


def _channels(have: int, want: int, what: str) -> None:
    if have >= 0 and want >= 0 and have != want:
        raise Refusal(f"{what}: the data has {have} channels, the filter expects {want}")


@rule("Convolution", "BinaryConvolution")
def _convolution(layer, ins):
    data, weights = ins[0].shape, ins[1].shape
    et = merge_types(layer, ins[:2], "data and filter") if layer.type == "Convolution" else ins[0].et
    if not _ranks(data, weights, 0, "convolution"):
        return same(None, et)
    _channels(data[1], weights[1], "Convolution")
    return same((data[0], weights[0], *_conv_dims(layer, data[2:], weights[2:])), et)


@rule("GroupConvolution")
def _group_convolution(layer, ins):
    data, weights = ins[0].shape, ins[1].shape
    et = merge_types(layer, ins[:2], "data and filter")
    if not _ranks(data, weights, 1, "group convolution"):
        return same(None, et)
    groups, per_group = weights[0], weights[2]
    if data[1] >= 0 and groups >= 0 and per_group >= 0:
        _channels(data[1], groups * per_group, "GroupConvolution")
    out_ch = groups * weights[1] if groups >= 0 and weights[1] >= 0 else -1
    return same((data[0], out_ch, *_conv_dims(layer, data[2:], weights[3:])), et)


@rule("DeformableConvolution")
def _deformable(layer, ins):
    data, weights = ins[0].shape, ins[2].shape
    if not _ranks(data, weights, 0, "deformable convolution"):
        return same(None, ins[0].et)
    return same((data[0], weights[0], *_conv_dims(layer, data[2:], weights[2:])), ins[0].et)


@rule("ConvolutionBackpropData", "GroupConvolutionBackpropData")
def _backprop(layer, ins):
    data, weights = ins[0].shape, ins[1].shape
    group = layer.type == "GroupConvolutionBackpropData"
    et = merge_types(layer, ins[:2], "data and filter")
    if not _ranks(data, weights, 1 if group else 0, "backprop convolution"):
        return same(None, et)
    if group:
        groups, c_in, c_out = weights[0], weights[1], weights[2]
        if groups >= 0 and c_in >= 0:
            _channels(data[1], groups * c_in, layer.type)
        out_ch = groups * c_out if groups >= 0 and c_out >= 0 else -1
        kernel = weights[3:]
    else:
        _channels(data[1], weights[0], layer.type)
        out_ch, kernel = weights[1], weights[2:]
    n = len(data) - 2
    if len(ins) > 2:  # the output's spatial shape is an input
        spatial = shape_value(ins[2])
        if spatial is None:
            count = length_of(ins[2])
            return same(None if count is None else (data[0], out_ch, *dynamic(count)), et)
        if len(spatial) != n:
            raise Refusal(f"output_shape has {len(spatial)} values for {n} spatial dims")
        return same((data[0], out_ch, *spatial), et)
    strides, dilations = _spatial(layer, n)
    mode = attr_str(layer, "auto_pad", "explicit")
    if mode in ("same_upper", "same_lower"):
        return same((data[0], out_ch, *dynamic(n)), et)  # (not checked)
    begin, end = ((0,) * n, (0,) * n) if mode == "valid" else (
        attr_ints(layer, "pads_begin", ()) or (0,) * n, attr_ints(layer, "pads_end", ()) or (0,) * n)
    extra = attr_ints(layer, "output_padding", ()) or (0,) * n
    if len(begin) != n or len(end) != n or len(extra) != n:
        raise Refusal(f"pads_begin/pads_end/output_padding do not have {n} values (one per spatial dim)")
    out = []
    for i in range(n):
        d, k = data[2 + i], kernel[i]
        out.append(-1 if d < 0 or k < 0 else
                   strides[i] * (d - 1) + dilations[i] * (k - 1) + 1 - begin[i] - end[i] + extra[i])
    return same((data[0], out_ch, *out), et)


@rule("MaxPool", "AvgPool")
def _pool(layer, ins):
    data = ins[0].shape
    kernel = attr_ints(layer, "kernel", ())
    n = len(kernel)
    outs = 1 if layer.version == "opset1" or layer.type == "AvgPool" else 2
    index_et = attr_type(layer, "index_element_type", "i64")
    if data is None:
        return [T(None, ins[0].et)] + [T(None, index_et)] * (outs - 1)
    if len(data) not in (3, 4, 5):
        raise Refusal(f"the input has rank {len(data)}; pooling takes rank 3, 4 or 5")
    if n != len(data) - 2:
        raise Refusal(f"kernel {list(kernel)} has {n} values for {len(data) - 2} spatial dims")
    if any(k <= 0 for k in kernel):
        raise Refusal(f"kernel {list(kernel)} must be positive")
    strides, dilations = _spatial(layer, n)
    begin, end = _pads(layer, n, data[2:], kernel, strides, dilations)
    rounding = attr_str(layer, "rounding_type", "floor")
    out = []
    for i in range(n):
        d = data[2 + i]
        if d < 0 or begin[i] is None:
            out.append(-1)
            continue
        span = (kernel[i] - 1) * dilations[i] + 1
        room = d + begin[i] + end[i] - span
        if room < 0:
            raise Refusal(f"the kernel after dilation ({span}) is larger than spatial dim {i} after padding "
                          f"({d + begin[i] + end[i]})")
        if rounding == "floor":
            dim = room // strides[i] + 1
        else:
            dim = -(-room // strides[i]) + 1
            if rounding == "ceil_torch" and (dim - 1) * strides[i] >= d + begin[i]:
                dim -= 1  # the last window would start in the padding
        out.append(dim)
    shape = (*data[:2], *out)
    return [T(shape, ins[0].et)] + [T(shape, index_et)] * (outs - 1)


@rule("AdaptiveAvgPool", "AdaptiveMaxPool")
def _adaptive_pool(layer, ins):
    data = ins[0].shape
    index_et = attr_type(layer, "index_element_type", "i64")
    extra = [T(None, index_et)] if layer.type == "AdaptiveMaxPool" else []
    if data is None:
        return [T(None, ins[0].et)] + extra
    spatial = shape_value(ins[1])
    if spatial is None:
        spatial = dynamic(len(data) - 2)
    elif len(spatial) != len(data) - 2:
        raise Refusal(f"the output spatial shape {list(spatial)} does not have {len(data) - 2} values")
    shape = (*data[:2], *spatial)
    return [T(shape, ins[0].et)] + ([T(shape, index_et)] if extra else [])


def _scaled(dim: int, scale: float) -> int:
    """OpenVINO's dim::scale: float32 arithmetic, scale + 1e-6, truncated."""
    if scale == 1.0 or dim < 0:
        return dim
    s = np.float32(scale) + np.float32(1e-6)
    return int(np.float32(dim) * s)


@rule("Interpolate")
def _interpolate(layer, ins):
    data = ins[0].shape
    if data is None:
        return same(None, ins[0].et)
    rank = len(data)
    if layer.version == "opset1":
        axes = attr_ints(layer, "axes", ())
        if any(not 0 <= a < rank for a in axes):
            raise Refusal(f"axes {list(axes)} must lie in 0..{rank - 1}")
        out = list(data)
        sizes = shape_value(ins[1])
        for i, a in enumerate(axes):
            out[a] = sizes[i] if sizes is not None and i < len(sizes) else -1
        return same(tuple(out), ins[0].et)
    v4 = layer.version == "opset4"
    axes_input = 3 if v4 else 2
    scales_mode = attr_str(layer, "shape_calculation_mode", "sizes") == "scales"
    if len(ins) > axes_input:
        axes = int_values(ins[axes_input])
        if axes is None:
            return same(dynamic(rank), ins[0].et)
        if any(not 0 <= a < rank for a in axes):  # (OpenVINO takes no negative axes here)
            raise Refusal(f"axes {axes} must lie in 0..{rank - 1}")
    else:
        axes = list(range(rank))
    begin = list(attr_ints(layer, "pads_begin", ()))[:rank]
    end = list(attr_ints(layer, "pads_end", ()))[:rank]
    begin += [0] * (rank - len(begin))
    end += [0] * (rank - len(end))
    out = []
    for d, b, e in zip(data, begin, end):
        out.append(-1 if d < 0 or d + b + e < 0 else d + b + e)
    port = (2 if scales_mode else 1) if v4 else 1
    if scales_mode:
        values = float_values(ins[port])
        if values is not None and len(values) < len(axes):
            raise Refusal(f"{len(values)} scales for {len(axes)} axes")
        for i, a in enumerate(axes):
            out[a] = -1 if values is None else _scaled(out[a], values[i])
    else:
        values = int_values(ins[port])
        if values is not None and len(values) < len(axes):
            raise Refusal(f"{len(values)} sizes for {len(axes)} axes")
        for i, a in enumerate(axes):
            out[a] = -1 if values is None else values[i]
    return same(tuple(out), ins[0].et)


@rule("DepthToSpace", "SpaceToDepth")
def _depth_space(layer, ins):
    data = ins[0].shape
    if data is None:
        return same(None, ins[0].et)
    if len(data) < 3:
        raise Refusal(f"the input has rank {len(data)}; the op takes rank 3 or more")
    block = attr_int(layer, "block_size", 1)
    if block <= 0:
        raise Refusal(f"block_size {block} must be positive")
    n = len(data) - 2
    factor = block ** n
    c = data[1]
    if layer.type == "DepthToSpace":
        if c >= 0 and c % factor:
            raise Refusal(f"{c} channels are not divisible by block_size^{n} = {factor}")
        out = (data[0], -1 if c < 0 else c // factor, *(-1 if d < 0 else d * block for d in data[2:]))
    else:
        for d in data[2:]:
            if d >= 0 and d % block:
                raise Refusal(f"spatial dims {fmt(data[2:])} are not divisible by block_size {block}")
        out = (data[0], -1 if c < 0 else c * factor, *(-1 if d < 0 else d // block for d in data[2:]))
    return same(out, ins[0].et)


@rule("SpaceToBatch", "BatchToSpace")
def _space_batch(layer, ins):
    data = ins[0].shape
    block, begin, end = (int_values(t) for t in ins[1:4])
    if data is None or block is None or begin is None or end is None:
        return same(None if data is None else dynamic(len(data)), ins[0].et)
    if not len(block) == len(begin) == len(end) == len(data):
        raise Refusal(f"block_shape, and the pads or crops, must have {len(data)} values (the input's rank)")
    if any(b <= 0 for b in block):
        raise Refusal(f"block_shape {block} must be positive")
    prod = int(np.prod(block))
    out = []
    for i, d in enumerate(data):
        if d < 0:
            out.append(-1)
        elif layer.type == "SpaceToBatch":
            if i == 0:
                out.append(d * prod)
            else:
                padded = d + begin[i] + end[i]
                if padded % block[i]:
                    raise Refusal(f"padded dim {i} ({padded}) is not divisible by block {block[i]}")
                out.append(padded // block[i])
        elif i == 0:
            if d % prod:
                raise Refusal(f"the batch ({d}) is not divisible by the block product ({prod})")
            out.append(d // prod)
        else:
            out.append(d * block[i] - begin[i] - end[i])
    return same(tuple(out), ins[0].et)


@rule("GridSample")
def _grid_sample(layer, ins):
    data, grid = ins[0].shape, ins[1].shape
    if data is None or grid is None:
        return same(None if data is None else dynamic(len(data)), ins[0].et)
    if len(data) != 4 or len(grid) != 4:
        raise Refusal("GridSample takes a rank-4 data and a rank-4 grid")
    return same((data[0], data[1], grid[1], grid[2]), ins[0].et)
