"""OpenVINO element types: names, port precisions, and the byte layout of constants in the .bin.

Decoding gives numpy arrays: native types as themselves, sub-byte integers unpacked to (u)int8,
bf16/f8/f4/nf4 widened to float32, strings to an object array of ``bytes``. Encoding is the inverse;
``encode(decode(raw)) == raw`` for every type (the tests check it against OpenVINO's own bytes).
Packing follows OpenVINO 2024.0+: u4/i4/nf4/f4e2m1/u2 fill each byte from the low bits, u1 from the
most significant bit, u3 and u6 split each value into bit planes (see ``_pack_u3``/``_pack_u6``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from irtool.errors import IRFormatError


@dataclass(frozen=True)
class ElementType:
    """One OpenVINO element type."""

    name: str  # as in element_type="..." (f32, u8, ...)
    precision: str  # as in <port precision="...">
    bits: int  # bits per element in the .bin (0 for string)
    dtype: np.dtype | None  # numpy storage dtype for byte-aligned types, None otherwise

    @property
    def is_float(self) -> bool:
        return self.name in _FLOATS

    def nbytes(self, count: int) -> int:
        """Bytes that ``count`` elements take in the .bin (OpenVINO rounds up to whole bytes)."""
        if self.name == "u3":
            return 3 * math.ceil(count / 8)
        if self.name == "u6":
            return 3 * math.ceil(count / 4)
        return math.ceil(count * self.bits / 8)


_FLOATS = {"bf16", "f16", "f32", "f64", "nf4", "f8e4m3", "f8e5m2", "f4e2m1", "f8e8m0"}

_TABLE = [
    # name, precision, bits, numpy dtype
    ("boolean", "BOOL", 8, np.bool_),
    ("bf16", "BF16", 16, None),
    ("f16", "FP16", 16, np.float16),
    ("f32", "FP32", 32, np.float32),
    ("f64", "FP64", 64, np.float64),
    ("i4", "I4", 4, None),
    ("i8", "I8", 8, np.int8),
    ("i16", "I16", 16, np.int16),
    ("i32", "I32", 32, np.int32),
    ("i64", "I64", 64, np.int64),
    ("u1", "BIN", 1, None),
    ("u2", "U2", 2, None),
    ("u3", "U3", 3, None),
    ("u4", "U4", 4, None),
    ("u6", "U6", 6, None),
    ("u8", "U8", 8, np.uint8),
    ("u16", "U16", 16, np.uint16),
    ("u32", "U32", 32, np.uint32),
    ("u64", "U64", 64, np.uint64),
    ("nf4", "NF4", 4, None),
    ("f8e4m3", "F8E4M3", 8, None),
    ("f8e5m2", "F8E5M2", 8, None),
    ("f4e2m1", "F4E2M1", 4, None),
    ("f8e8m0", "F8E8M0", 8, None),
    ("string", "STRING", 0, None),
    ("dynamic", "UNSPECIFIED", 0, None),
    ("undefined", "UNSPECIFIED", 0, None),
]

ELEMENT_TYPES: dict[str, ElementType] = {
    n: ElementType(n, p, b, np.dtype(d) if d is not None else None) for n, p, b, d in _TABLE
}
# Readers accept either spelling, in any case (old files write "FP32", "I64", "BOOL"...).
_BY_ANY_NAME: dict[str, ElementType] = {}
for _t in ELEMENT_TYPES.values():
    _BY_ANY_NAME.setdefault(_t.precision.lower(), _t)
    _BY_ANY_NAME[_t.name.lower()] = _t
_BY_ANY_NAME.update({"bool": ELEMENT_TYPES["boolean"], "bin": ELEMENT_TYPES["u1"],
                     "unspecified": ELEMENT_TYPES["dynamic"], "?": ELEMENT_TYPES["dynamic"]})


def element_type(name: str) -> ElementType:
    """Look an element type up by either spelling (``f32`` or ``FP32``); raise on unknown names."""
    try:
        return _BY_ANY_NAME[name.strip().lower()]
    except KeyError:
        known = ", ".join(ELEMENT_TYPES)
        raise IRFormatError(f"unknown element type '{name}' (known: {known})") from None


def from_numpy(dtype: np.dtype) -> ElementType:
    """The element type that stores a numpy dtype as it is."""
    dtype = np.dtype(dtype)
    for t in ELEMENT_TYPES.values():
        if t.dtype == dtype:
            return t
    if dtype.kind in "OSU":
        return ELEMENT_TYPES["string"]
    raise IRFormatError(f"numpy dtype {dtype} has no OpenVINO element type")


# ---------------------------------------------------------------------------------------------
# Lookup tables for the float formats that numpy lacks: code -> float32 value.

def _f8_table(exp_bits: int, man_bits: int, bias: int, fn: bool) -> np.ndarray:
    codes = np.arange(256)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exp = (codes >> man_bits) & ((1 << exp_bits) - 1)
    man = codes & ((1 << man_bits) - 1)
    sub = man / (1 << man_bits) * 2.0 ** (1 - bias)
    norm = (1 + man / (1 << man_bits)) * 2.0 ** (exp - bias)
    val = sign * np.where(exp == 0, sub, norm)
    top = (1 << exp_bits) - 1
    if fn:  # e4m3 "FN": no infinities, only S.1111.111 is NaN
        val = np.where((exp == top) & (man == (1 << man_bits) - 1), np.nan, val)
    else:  # e5m2: IEEE-like
        val = np.where((exp == top) & (man == 0), sign * np.inf, val)
        val = np.where((exp == top) & (man != 0), np.nan, val)
    return val.astype(np.float32)


_NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                 -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=np.float32)
_F4E2M1 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                    -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0], dtype=np.float32)
_F8E8M0 = np.where(np.arange(256) == 255, np.nan, 2.0 ** (np.arange(256) - 127.0)).astype(np.float32)
_LUTS = {
    "f8e4m3": _f8_table(4, 3, 7, fn=True),
    "f8e5m2": _f8_table(5, 2, 15, fn=False),
    "f8e8m0": _F8E8M0,
    "nf4": _NF4,
    "f4e2m1": _F4E2M1,
}


# ---------------------------------------------------------------------------------------------
# Bit packing. Each unpack takes the raw bytes and the element count.

def _unpack_nibbles(raw: np.ndarray, count: int) -> np.ndarray:
    out = np.empty(raw.size * 2, dtype=np.uint8)
    out[0::2] = raw & 0x0F  # first element in the LOW nibble
    out[1::2] = raw >> 4
    return out[:count]


def _pack_nibbles(codes: np.ndarray) -> np.ndarray:
    codes = np.append(codes.astype(np.uint8) & 0x0F, np.zeros(codes.size % 2, np.uint8))
    return (codes[0::2] | (codes[1::2] << 4)).astype(np.uint8)


def _unpack_u2(raw: np.ndarray, count: int) -> np.ndarray:
    out = np.stack([(raw >> s) & 3 for s in (0, 2, 4, 6)], axis=1)  # low bits first
    return out.reshape(-1)[:count].astype(np.uint8)


def _pack_u2(codes: np.ndarray) -> np.ndarray:
    c = np.append(codes.astype(np.uint8) & 3, np.zeros(-codes.size % 4, np.uint8)).reshape(-1, 4)
    return (c[:, 0] | c[:, 1] << 2 | c[:, 2] << 4 | c[:, 3] << 6).astype(np.uint8)


def _unpack_u3(raw: np.ndarray, count: int) -> np.ndarray:
    # Per 8 values, 3 bytes: two bytes of low 2-bit pairs (first value in the top bits),
    # then one byte of the high bits (first value in the MSB).
    g = raw.reshape(-1, 3)
    lo = np.stack([(g[:, b] >> s) & 3 for b in (0, 1) for s in (6, 4, 2, 0)], axis=1)
    hi = np.unpackbits(g[:, 2:3], axis=1)
    return (lo | (hi << 2)).reshape(-1)[:count].astype(np.uint8)


def _pack_u3(codes: np.ndarray) -> np.ndarray:
    c = np.append(codes.astype(np.uint8) & 7, np.zeros(-codes.size % 8, np.uint8)).reshape(-1, 8)
    lo = c & 3
    b0 = lo[:, 0] << 6 | lo[:, 1] << 4 | lo[:, 2] << 2 | lo[:, 3]
    b1 = lo[:, 4] << 6 | lo[:, 5] << 4 | lo[:, 6] << 2 | lo[:, 7]
    b2 = np.packbits(c >> 2, axis=1)[:, 0]
    return np.stack([b0, b1, b2], axis=1).astype(np.uint8).reshape(-1)


def _unpack_u6(raw: np.ndarray, count: int) -> np.ndarray:
    # Per 4 values, 3 bytes: low nibbles two per byte (first value high), then 2-bit highs (first value top).
    g = raw.reshape(-1, 3)
    lo = np.stack([g[:, 0] >> 4, g[:, 0] & 15, g[:, 1] >> 4, g[:, 1] & 15], axis=1)
    hi = np.stack([(g[:, 2] >> s) & 3 for s in (6, 4, 2, 0)], axis=1)
    return (lo | (hi << 4)).reshape(-1)[:count].astype(np.uint8)


def _pack_u6(codes: np.ndarray) -> np.ndarray:
    c = np.append(codes.astype(np.uint8) & 63, np.zeros(-codes.size % 4, np.uint8)).reshape(-1, 4)
    lo, hi = c & 15, c >> 4
    b0 = lo[:, 0] << 4 | lo[:, 1]
    b1 = lo[:, 2] << 4 | lo[:, 3]
    b2 = hi[:, 0] << 6 | hi[:, 1] << 4 | hi[:, 2] << 2 | hi[:, 3]
    return np.stack([b0, b1, b2], axis=1).astype(np.uint8).reshape(-1)


def _unpack_u1(raw: np.ndarray, count: int) -> np.ndarray:
    return np.unpackbits(raw)[:count]  # first element in the MOST significant bit


def _pack_u1(codes: np.ndarray) -> np.ndarray:
    return np.packbits(codes.astype(np.uint8) & 1)


_UNPACK = {"u1": _unpack_u1, "u2": _unpack_u2, "u3": _unpack_u3, "u4": _unpack_nibbles,
           "i4": _unpack_nibbles, "u6": _unpack_u6, "nf4": _unpack_nibbles, "f4e2m1": _unpack_nibbles}
_PACK = {"u1": _pack_u1, "u2": _pack_u2, "u3": _pack_u3, "u4": _pack_nibbles, "i4": _pack_nibbles,
         "u6": _pack_u6, "nf4": _pack_nibbles, "f4e2m1": _pack_nibbles}


# ---------------------------------------------------------------------------------------------
# Public decode / encode.

def decode(raw: bytes | memoryview | np.ndarray, etype: ElementType, shape: tuple[int, ...]) -> np.ndarray:
    """Turn the .bin bytes of a constant into a numpy array of ``shape``."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    count = math.prod(shape)
    if etype.name == "string":
        return _decode_strings(buf, shape)
    need = etype.nbytes(count)
    if buf.size < need:
        raise IRFormatError(f"{etype.name} constant of shape {list(shape)} needs {need} bytes, has {buf.size}")
    if etype.dtype is not None:
        return buf[: need].view(etype.dtype).reshape(shape)
    if etype.name == "bf16":
        bits = buf[:need].view(np.uint16).astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    codes = _UNPACK[etype.name](buf[:need], count) if etype.name in _UNPACK else buf[:need]
    if etype.name == "i4":
        codes = ((codes.astype(np.int8) << 4) >> 4).astype(np.int8)  # sign-extend the nibble
    if etype.name in _LUTS:
        return _LUTS[etype.name][codes].reshape(shape)
    return codes.reshape(shape)


def encode(values: np.ndarray, etype: ElementType) -> bytes:
    """Turn an array into the bytes OpenVINO stores for ``etype``."""
    values = np.asarray(values)
    if etype.name == "string":
        return _encode_strings(values)
    if etype.dtype is not None:
        return np.ascontiguousarray(values, dtype=etype.dtype).tobytes()
    flat = values.reshape(-1)
    if etype.name == "bf16":
        bits = np.ascontiguousarray(flat, dtype=np.float32).view(np.uint32)
        # round to nearest even on the dropped 16 bits, as OpenVINO's bfloat16 constructor does
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return rounded.astype(np.uint16).tobytes()
    if etype.name in _LUTS:
        flat = _nearest_codes(flat, _LUTS[etype.name]) if flat.dtype.kind == "f" else flat
    codes = flat.astype(np.int64) & 0xFF
    packed = _PACK[etype.name](codes) if etype.name in _PACK else codes.astype(np.uint8)
    return packed.tobytes()


def _nearest_codes(values: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Code of the nearest table entry; ties go to the even code (round half to even), zeros and
    infinities keep their sign, NaN maps to a NaN code of the same sign."""
    v = values.astype(np.float32).reshape(-1)
    finite = np.flatnonzero(np.isfinite(lut))
    order = finite[np.argsort(lut[finite], kind="stable")]
    table = lut[order]
    i = np.clip(np.searchsorted(table, v), 1, len(table) - 1)
    with np.errstate(invalid="ignore"):
        d_lo, d_hi = np.abs(v - table[i - 1]), np.abs(table[i] - v)
    lo_code, hi_code = order[i - 1], order[i]
    codes = np.where((d_lo < d_hi) | ((d_lo == d_hi) & (lo_code % 2 == 0)), lo_code, hi_code)
    for special in (v == 0, np.isinf(v), np.isnan(v)):
        for neg in (False, True):
            sel = special & (np.signbit(v) == neg)
            if sel.any():
                codes[sel] = _special_code(lut, v[sel][0], neg, codes[sel])
    return codes


def _special_code(lut: np.ndarray, value: float, neg: bool, fallback: np.ndarray) -> np.ndarray | int:
    """The code of a signed zero, an infinity or a NaN, if the format has one."""
    match = (np.isnan(lut) if np.isnan(value) else lut == value) & (np.signbit(lut) == neg)
    return int(np.flatnonzero(match)[0]) if match.any() else fallback


def _decode_strings(buf: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    # int32 count, count+1 int32 offsets (relative to the character block), then the characters
    if buf.size < 4:
        raise IRFormatError("string constant is shorter than its 4-byte header")
    count = int(buf[:4].view(np.int32)[0])
    offsets = buf[4: 4 + 4 * (count + 1)].view(np.int32)
    chars = buf[4 + 4 * (count + 1):].tobytes()
    items = [chars[offsets[i]: offsets[i + 1]] for i in range(count)]
    out = np.empty(count, dtype=object)
    out[:] = items
    return out.reshape(shape)


def _encode_strings(values: np.ndarray) -> bytes:
    items = [v if isinstance(v, bytes) else str(v).encode() for v in values.reshape(-1)]
    offsets = np.cumsum([0] + [len(s) for s in items]).astype(np.int32)
    return np.int32(len(items)).tobytes() + offsets.tobytes() + b"".join(items)
