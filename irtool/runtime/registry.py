"""The kernel registry: op type (+ opset) -> a Python function, attributes as keyword arguments.

A kernel is declared with its attributes in the signature, so the signature is the spec::

    @kernel("Clamp")
    def clamp(x, *, min: float, max: float): ...

`<data>` strings are converted by each parameter's annotation (``int``, ``float``, ``bool``,
``str``, ``list[int]``, ``list[float]``); attributes a kernel does not name are ignored, a missing
one without a default is an error naming the layer. ``impl`` is what the performance counters
report (``ref`` for numpy, ``jit`` for numba kernels, ``gemm_blas`` for BLAS).
"""
from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field

from irtool.errors import IRFormatError, UnsupportedError
from irtool.ir import attrs as A
from irtool.ir.graph import Layer

_CONVERTERS: dict[object, Callable[[str], object]] = {
    int: int,
    float: float,
    bool: A.parse_bool,
    str: str,
    list[int]: A.parse_ints,
    list[float]: A.parse_floats,
}


@dataclass(frozen=True)
class Kernel:
    """A registered implementation of one op type for some opsets."""

    op: str
    fn: Callable
    impl: str  # "ref", "jit", "gemm_blas"...
    versions: frozenset[str] | None  # None: every opset
    params: dict[str, tuple[Callable[[str], object], bool]] = field(default_factory=dict)  # name -> (conv, required)
    foldable: bool = True  # may run at load time when all inputs are constant
    wants_layer: bool = False  # gets the Layer as keyword `layer` (output types, port dims)
    wants_outputs: bool = False  # gets `outputs_used`: which outputs anything reads (skip the rest)
    prepare: Callable | None = None  # load-time specializer, see `specializer`

    def bind(self, layer: Layer) -> dict[str, object]:
        """The keyword arguments for ``layer``: its attributes converted, defaults for the rest."""
        kwargs: dict[str, object] = {}
        for name, (conv, required) in self.params.items():
            key = name.rstrip("_")  # `type_` -> type
            if key not in layer.attrs and key.replace("_", "-") in layer.attrs:
                key = key.replace("_", "-")  # exclude_pad -> exclude-pad
            text = layer.attrs.get(key)
            if text is None:
                if required:
                    raise IRFormatError(f"layer '{layer.name}' ({layer.type}): attribute '{key}' is missing")
                continue
            try:
                kwargs[name] = conv(text)
            except (ValueError, IRFormatError):
                raise IRFormatError(f"layer '{layer.name}' ({layer.type}): attribute {key}='{text}' "
                                    "has the wrong form") from None
        if self.wants_layer:
            kwargs["layer"] = layer
        return kwargs


_REGISTRY: dict[str, list[Kernel]] = {}


def kernel(*ops: str, versions: tuple[str, ...] | None = None, impl: str = "ref", foldable: bool = True):
    """Register the decorated function as the kernel of ``ops`` (XML type names) for ``versions``."""

    def register(fn: Callable) -> Callable:
        hints = typing.get_type_hints(fn)
        params: dict[str, tuple[Callable[[str], object], bool]] = {}
        wants_layer = wants_outputs = False
        for p in inspect.signature(fn).parameters.values():
            if p.kind is not inspect.Parameter.KEYWORD_ONLY:
                continue
            if p.name == "layer":
                wants_layer = True
                continue
            if p.name == "outputs_used":
                wants_outputs = True
                continue
            hint = hints.get(p.name, str)
            if typing.get_origin(hint) is typing.Union or type(hint).__name__ == "UnionType":
                hint = next(a for a in typing.get_args(hint) if a is not type(None))
            params[p.name] = (_CONVERTERS[hint], p.default is inspect.Parameter.empty)
        for op in ops:
            k = Kernel(op, fn, impl, frozenset(versions) if versions else None, params, foldable, wants_layer,
                       wants_outputs)
            _REGISTRY.setdefault(op, []).append(k)
        return fn

    return register


def specializer(*fns: Callable):
    """Register the decorated ``prepare(consts, **kwargs) -> run | None`` for the kernels ``fns``.

    At load time it gets the layer's constant inputs (None for the others) and its keyword arguments;
    it may return a function of the same positional inputs that computes what the kernel computes,
    with the work that depends only on the constants and attributes done once (None: the kernel as is).
    """

    def register(prep: Callable) -> Callable:
        for kernels in _REGISTRY.values():
            for i, k in enumerate(kernels):
                if k.fn in fns:
                    kernels[i] = dataclasses.replace(k, prepare=prep)
        return prep

    return register


def keyword_defaults(fn: Callable) -> dict[str, object]:
    """The attributes of kernel ``fn`` that have defaults, with them: a specializer gets only the
    attributes a layer states, and passes these to the kernel's helpers for the rest."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty}


def find_kernel(layer: Layer) -> Kernel:
    """The kernel for ``layer``'s type and opset; a clear error when irtool has none."""
    _load_all()
    candidates = _REGISTRY.get(layer.type, [])
    for k in candidates:
        if k.versions is not None and layer.version in k.versions:
            return k
    for k in candidates:
        if k.versions is None:
            return k
    where = f"layer '{layer.name}'" + (f" (line {layer.sourceline})" if layer.sourceline else "")
    if candidates:
        have = sorted({v for k in candidates for v in (k.versions or ())})
        raise UnsupportedError(f"{where}: {layer.type} {layer.version} is not supported by irtool's CPU plugin "
                               f"(supported versions: {', '.join(have)})")
    raise UnsupportedError(f"{where}: op {layer.type} ({layer.version}) is not supported by irtool's CPU plugin; "
                           f"supported ops: {', '.join(supported_ops())}")


def supported_ops() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def _load_all() -> None:
    import irtool.runtime.kernels  # noqa: F401  (registers every kernel module on import)
