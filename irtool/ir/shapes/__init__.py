"""Output shapes and element types of a layer from those of its inputs, by OpenVINO's
``validate_and_infer_types`` rules, for the common ops (:func:`infer`; the op families are in
:mod:`.elementwise`, :mod:`.spatial`, :mod:`.layout` and :mod:`.misc`).

A tensor is a :class:`T`: ``shape`` a tuple of dims (-1 for a dynamic one) or None (rank unknown),
``et`` an element type name (``f32``...) or None (unknown), and for small tensors known at load time
(Const, ShapeOf of a static shape, what a few shape ops make of them) ``value``. A rule
``fn(layer, ins) -> [T, ...]`` (one per output) is what OpenVINO infers; it raises :class:`Refusal`
where OpenVINO's validation refuses the layer, and gives None, or unknown dims, where it cannot tell
(values known only at run time). An op without a rule is not checked.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from irtool.ir import attrs as A

Shape = tuple  # of ints, -1 for a dynamic dim
Rule = Callable[..., "list[T] | None"]

RULES: dict[str, Rule] = {}
MAX_VALUE = 4096  # elements: larger constants are not read for shape inference


class Refusal(Exception):
    """What OpenVINO's validation says of a layer it refuses (the message, without the layer)."""


class T:
    """What is known of a tensor at load time."""

    __slots__ = ("shape", "et", "_value", "const")

    def __init__(self, shape: Shape | None, et: str | None = None, value: np.ndarray | None = None, const=None):
        self.shape = shape
        self.et = et
        self._value = value
        self.const = const  # the Constant behind it (read only when a rule asks for the value)

    @property
    def value(self) -> np.ndarray | None:
        if self._value is None and self.const is not None and math.prod(self.const.shape) <= MAX_VALUE:
            self._value = self.const.value
        return self._value

    def __repr__(self) -> str:
        return f"T({self.shape}, {self.et})"


def rule(*ops: str) -> Callable[[Rule], Rule]:
    """Register the decorated function as the shape rule of op types ``ops``."""

    def register(fn: Rule) -> Rule:
        for op in ops:
            RULES[op] = fn
        return fn

    return register


def find_rule(op: str) -> Rule | None:
    _load()
    return RULES.get(op)


@functools.cache
def _load() -> None:
    from irtool.ir.shapes import elementwise, layout, misc, spatial  # noqa: F401  (they register their rules)


# ---------------------------------------------------------------------------------------------
# Helpers for the rules.

@functools.lru_cache(maxsize=4096)
def ints(text: str) -> tuple[int, ...]:
    return tuple(A.parse_ints(text))


def attr_ints(layer, key: str, default: tuple = ()) -> tuple[int, ...]:
    text = layer.attrs.get(key)
    return default if text is None else ints(text)


def attr_int(layer, key: str, default: int) -> int:
    text = layer.attrs.get(key)
    return default if text is None else int(text)


def attr_bool(layer, key: str, default: bool) -> bool:
    text = layer.attrs.get(key)
    return default if text is None else A.parse_bool(text)


@functools.lru_cache(maxsize=256)
def type_name(text: str) -> str | None:
    """An element type's name (``f32`` for ``FP32`` too); None for dynamic/undefined or unknown names."""
    from irtool.errors import IRFormatError
    from irtool.ir.element_types import element_type

    try:
        name = element_type(text).name
    except IRFormatError:
        return None
    return None if name in ("dynamic", "undefined") else name


def attr_type(layer, key: str, default: str | None) -> str | None:
    text = layer.attrs.get(key)
    return default if text is None else type_name(text)


def attr_str(layer, key: str, default: str) -> str:
    text = layer.attrs.get(key)
    return default if text is None else text.strip().lower()


def int_values(t: T) -> list[int] | None:
    """The values of an integer tensor known at load time, flattened; None when unknown."""
    v = t.value
    if v is None or v.dtype.kind not in "iub":
        return None
    return [int(x) for x in v.reshape(-1).tolist()]


def float_values(t: T) -> list[float] | None:
    v = t.value
    if v is None or v.dtype.kind not in "iuf":
        return None
    return [float(x) for x in v.reshape(-1).tolist()]


def axis(value: int, rank: int, what: str = "axis") -> int:
    """``value`` normalized to 0..rank-1 (negative counts from the end); refused outside."""
    if not -rank <= value < rank:
        raise Refusal(f"{what} {value} is out of the range [{-rank}, {rank - 1}] of a rank-{rank} input")
    return value + rank if value < 0 else value


def same(shape: Shape | None, et: str | None) -> list[T]:
    return [T(shape, et)]


def merge_types(layer, ins: Sequence[T], what: str = "inputs") -> str | None:
    """The one element type of ``ins`` (None when unknown); refused when two differ."""
    found = None
    for t in ins:
        et = t.et
        if et is None or et in ("dynamic", "undefined"):
            continue
        if found is None:
            found = et
        elif et != found:
            raise Refusal(f"the {what} have different element types ({found} and {et})")
    return found


def merge_dim(a: int, b: int, what: str) -> int:
    if a == b or b < 0:
        return a
    if a < 0:
        return b
    raise Refusal(f"{what}: {a} and {b} differ")


def numpy_broadcast(a: Shape | None, b: Shape | None) -> Shape | None:
    """Two shapes broadcast as numpy does (OpenVINO's NUMPY auto-broadcast)."""
    if a is None or b is None:
        return None
    if a == b:
        return a
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + a
    b = (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        elif x < 0:
            out.append(y)
        elif y < 0:
            out.append(x)
        else:
            raise Refusal(f"shapes {fmt(a)} and {fmt(b)} do not broadcast (numpy rules)")
    return tuple(out)


def broadcast(layer, shapes: Sequence[Shape | None], default: str = "numpy") -> Shape | None:
    """The inputs' shapes combined by the layer's ``auto_broadcast`` (numpy, none; pdpd: the first)."""
    mode = attr_str(layer, "auto_broadcast", default)
    out = shapes[0]
    if mode == "numpy":
        for s in shapes[1:]:
            out = numpy_broadcast(out, s)
        return out
    if mode == "none":
        for s in shapes[1:]:
            if out is None or s is None:
                return None
            if len(out) != len(s):
                raise Refusal(f"shapes {fmt(out)} and {fmt(s)} differ (auto_broadcast none)")
            out = tuple(merge_dim(x, y, "auto_broadcast none: dims") for x, y in zip(out, s))
        return out
    return None  # pdpd: the first input's shape, merged with the others' (not checked)


def dynamic(rank: int) -> Shape:
    return (-1,) * rank


def fmt(shape: Shape | None) -> str:
    if shape is None:
        return "[...]"
    return "[" + ",".join("?" if d < 0 else str(d) for d in shape) + "]"


def shape_value(t: T) -> Shape | None:
    """A 1-D shape input (Reshape's target...) as a tuple when known."""
    values = int_values(t)
    return None if values is None else tuple(values)


def length_of(t: T) -> int | None:
    """How many elements a 1-D input has, when its shape says."""
    s = t.shape
    if s is None or len(s) != 1 or s[0] < 0:
        return None
    return s[0]
