"""String tensors: StringTensorUnpack and StringTensorPack (opset15).

Inside irtool a string tensor is an object array of ``bytes`` (as string Consts decode, see
irtool.ir.element_types); the plugin turns str/bytes inputs into that form and string outputs into
numpy ``str`` arrays, as OpenVINO's Python API does. The unpacked form is three tensors: ``begins``
and ``ends`` (i32, the string tensor's shape) and ``symbols`` (u8, 1-D, every string's bytes in
order), ``string[i] = symbols[begins[i]:ends[i]]``.

Each string is a Python object, so a Python pass over them is the fast path: the kernels are their
own reference.
"""
from __future__ import annotations

import numpy as np

from irtool.runtime.registry import kernel

_I32_MAX = 2**31 - 1


@kernel("StringTensorUnpack", versions=("opset15",))
def string_tensor_unpack(data):
    """-> (begins, ends, symbols): the strings' bytes laid end to end (empty strings take none)."""
    items = [s if isinstance(s, bytes) else str(s).encode() for s in np.asarray(data, object).reshape(-1)]
    lengths = np.fromiter(map(len, items), np.int64, len(items))
    ends = np.cumsum(lengths)
    if ends.size and ends[-1] > _I32_MAX:
        raise ValueError(f"the strings hold {int(ends[-1])} bytes, more than i32 offsets reach")
    begins = ends - lengths
    shape = np.shape(data)
    symbols = np.frombuffer(bytearray(b"".join(items)), np.uint8)  # (writable, unlike a bytes buffer)
    return begins.astype(np.int32).reshape(shape), ends.astype(np.int32).reshape(shape), symbols


@kernel("StringTensorPack", versions=("opset15",))
def string_tensor_pack(begins, ends, symbols):
    """-> the string tensor of ``begins``' shape: ``symbols[begins[i]:ends[i]]`` each (i32 or i64
    offsets; strings may overlap, share or skip bytes)."""
    begins, ends = np.asarray(begins), np.asarray(ends)
    if begins.shape != ends.shape:
        raise ValueError(f"begins {list(begins.shape)} and ends {list(ends.shape)} differ in shape")
    raw = np.ascontiguousarray(symbols, np.uint8).reshape(-1).tobytes()
    b, e = begins.astype(np.int64).reshape(-1), ends.astype(np.int64).reshape(-1)
    # OpenVINO reads outside the symbols for such offsets (garbage) or throws (begin > end): refused here
    bad = (b < 0) | (e < b) | (e > len(raw))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"string {i}: begin {int(b[i])}, end {int(e[i])} is not a range of the "
                         f"{len(raw)} symbols")
    out = np.empty(b.size, object)
    out[:] = [raw[i:j] for i, j in zip(b.tolist(), e.tolist())]
    return out.reshape(begins.shape)
