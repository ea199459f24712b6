"""Parsing and formatting of `<data>` attribute strings, the way OpenVINO reads and writes them.

Attributes stay strings in the graph so that unchanged ones are written back byte for byte; these
helpers give typed views and produce new strings in OpenVINO's spelling.
"""
from __future__ import annotations

from collections.abc import Iterable

from irtool.errors import IRFormatError

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def parse_bool(text: str) -> bool:
    """``true/false`` as OpenVINO writes them; old files carry ``True``, some ``1/0``."""
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise IRFormatError(f"'{text}' is not a boolean (true/false)")


def parse_ints(text: str) -> list[int]:
    """``"1, 1"`` or ``"1,1"`` -> ``[1, 1]``; ``""`` -> ``[]``."""
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise IRFormatError(f"'{text}' is not a list of integers") from None


def parse_floats(text: str) -> list[float]:
    """``"0.1, 2.5"`` -> ``[0.1, 2.5]``; ``""`` -> ``[]``."""
    try:
        return [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise IRFormatError(f"'{text}' is not a list of numbers") from None


def parse_shape(text: str) -> list[int]:
    """A Parameter ``shape``: ``"?,3,1..10,4"`` -> ``[-1, 3, -1, 4]`` (intervals are dynamic)."""
    out = []
    for dim in (d.strip() for d in text.split(",") if d.strip() != ""):
        if dim in ("?", "-1") or ".." in dim:
            out.append(-1)
        else:
            try:
                out.append(int(dim))
            except ValueError:
                raise IRFormatError(f"'{text}' is not a shape") from None
    return out


def format_bool(value: bool) -> str:
    return "true" if value else "false"


def format_ints(values: Iterable[int]) -> str:
    """Lists as OpenVINO writes them in `<data>`: ``"1, 1"``."""
    return ", ".join(str(int(v)) for v in values)


def format_float(value: float) -> str:
    """Scalar float/double attributes: 17 significant digits (``0.1`` -> ``0.10000000000000001``)."""
    return "%.17g" % float(value)


def format_floats(values: Iterable[float]) -> str:
    """Float lists are written with 6 significant digits (``"0.1, 2.5"``)."""
    return ", ".join("%g" % float(v) for v in values)


def format_shape(dims: Iterable[int]) -> str:
    """A Parameter ``shape``: dynamic dims as ``?``, no spaces."""
    return ",".join("?" if d < 0 else str(d) for d in dims)


def split_names(text: str) -> list[str]:
    """Tensor names are comma-joined; a literal comma inside a name is escaped ``\\,``."""
    names, cur, i = [], [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] == ",":
            cur.append(",")
            i += 2
            continue
        if text[i] == ",":
            names.append("".join(cur).strip())
            cur = []
        else:
            cur.append(text[i])
        i += 1
    names.append("".join(cur).strip())
    return [n for n in names if n]


def join_names(names: Iterable[str]) -> str:
    return ",".join(n.replace(",", "\\,") for n in names)
