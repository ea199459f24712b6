"""The kernel registry: op type (+ opset) -> a Python function, attributes as keyword arguments.

A kernel is declared with its attributes in the signature, so the signature is the spec::

    @kernel("Clamp")
    def clamp(x, *, min: float, max: float): ...

`<data>` strings are converted by each parameter's annotation (``int``, ``float``, ``bool``,
``str``, ``list[int]``, ``list[float]``); attributes a kernel does not name are ignored, a missing
one without a default is an error naming the layer. ``impl`` is what the performance counters
report (``ref`` for numpy, ``jit`` for numba kernels, ``gemm_blas`` for BLAS).

Kernel modules (``irtool/runtime/kernels/*.py``) are imported lazily, by op type: a model imports
(and numba decorates) only the modules of the ops it has, not all ~50 of them (0.2 s a process).
Which module registers which op comes from the registrations themselves: an index made by importing
every module once (each kernel and specializer records the module whose import made it), saved
beside numba's cache of the kernels and made again when any kernel module's file changes (see
:func:`op_index`); a module added tomorrow is found the same way, with nothing to list by hand.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import os
import pkgutil
import sys
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
    module: str | None = None  # the module whose import registered it (see op_index)

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
# op -> the modules whose import registered a kernel or a specializer of it, in the order they did,
# each with the opset versions of those kernels (None: a kernel for every version)
_SOURCES: dict[str, dict[str, set[str] | None]] = {}
KERNELS = "irtool.runtime.kernels"


def _registering_module() -> str | None:
    """The module whose top-level code is running the registration (a helper function in another
    module may make the call, e.g. ``_cpu_int.at_run_time``: importing the module that called it
    registers it again)."""
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_name == "<module>":
            return f.f_globals.get("__name__")
        f = f.f_back
    return None


def _record(op: str, module: str | None, versions) -> None:
    if module is None:
        return
    sources = _SOURCES.setdefault(op, {})
    if module in sources and sources[module] is None:
        return
    sources[module] = None if versions is None else (sources.get(module) or set()) | set(versions)


def kernel(*ops: str, versions: tuple[str, ...] | None = None, impl: str = "ref", foldable: bool = True):
    """Register the decorated function as the kernel of ``ops`` (XML type names) for ``versions``."""

    def register(fn: Callable) -> Callable:
        module = _registering_module()
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
                       wants_outputs, module=module)
            _REGISTRY.setdefault(op, []).append(k)
            _record(op, module, k.versions)
        return fn

    return register


def specializer(*fns: Callable):
    """Register the decorated ``prepare(consts, **kwargs) -> run | None`` for the kernels ``fns``.

    At load time it gets the layer's constant inputs (None for the others) and its keyword arguments;
    it may return a function of the same positional inputs that computes what the kernel computes,
    with the work that depends only on the constants and attributes done once (None: the kernel as is).
    """

    def register(prep: Callable) -> Callable:
        module = _registering_module()
        for op, kernels in _REGISTRY.items():
            for i, k in enumerate(kernels):
                if k.fn in fns:
                    kernels[i] = dataclasses.replace(k, prepare=prep)
                    _record(op, module, k.versions)
        return prep

    return register


def keyword_defaults(fn: Callable) -> dict[str, object]:
    """The attributes of kernel ``fn`` that have defaults, with them: a specializer gets only the
    attributes a layer states, and passes these to the kernel's helpers for the rest."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty}


def find_kernel(layer: Layer) -> Kernel:
    """The kernel for ``layer``'s type and opset; a clear error when irtool has none."""
    for version in (layer.version, None):  # the modules for its version first, every one only if none has it
        candidates = kernels_of(layer.type, version)
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


def kernels_of(op: str, version: str | None = None) -> list[Kernel]:
    """The kernels registered for ``op`` (those that may run opset ``version``, when given: its own
    and those for every version), their modules imported first, in the order a full import of the
    kernel modules registers them (then kernels registered from elsewhere)."""
    entries = op_index().get(op, [])
    rank = {m: i for i, (m, _) in enumerate(entries)}
    key = (op, version)
    if key not in _loaded_ops:
        for name, versions in entries:
            if version is None or versions is None or version in versions:
                importlib.import_module(name)
        _loaded_ops.add(key)
    return sorted((k for k in _REGISTRY.get(op, []) if version is None or k.versions is None or version in k.versions),
                  key=lambda k: rank.get(k.module, len(rank)))


def supported_ops() -> list[str]:
    load_all()
    return sorted(_REGISTRY)


_loaded_ops: set[tuple[str, str | None]] = set()  # (op, version or None: all) whose modules are imported
_all_loaded = False
_index: dict[str, list] | None = None


def kernel_modules() -> list[str]:
    """The kernel modules a full import loads: every ``irtool/runtime/kernels/*.py`` not starting with _."""
    from irtool.runtime import kernels

    return [f"{KERNELS}.{m.name}" for m in pkgutil.iter_modules(kernels.__path__) if not m.name.startswith("_")]


def load_all() -> None:
    """Import every kernel module (registering every kernel): ``irtool ops``, error messages, the index."""
    global _all_loaded
    if not _all_loaded:
        for name in kernel_modules():
            importlib.import_module(name)
        _all_loaded = True


def full_index() -> dict[str, list]:
    """op -> ``[module, versions]`` for each kernel module that registers a kernel of it (or a
    specializer), in registration order; ``versions``: the opset versions of those kernels, sorted,
    or None when one takes every version. Made by importing every kernel module."""
    load_all()
    return {op: [[m, None if v is None else sorted(v)] for m, v in mods.items() if m.startswith(KERNELS + ".")]
            for op, mods in sorted(_SOURCES.items())}


def _index_key() -> list:
    """What the index depends on: every kernel module's file (name, size, modification time) and this one's."""
    from irtool.runtime import kernels

    entries = []
    for folder in kernels.__path__:
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                st = os.stat(os.path.join(folder, name))
                entries.append([name, st.st_size, st.st_mtime_ns])
    st = os.stat(__file__)
    return [sys.version_info[:2], entries, [st.st_size, st.st_mtime_ns]]


def index_path() -> str | None:
    """The saved index: ``<numba's cache of irtool's kernels>/kernel-index.json`` (see jit_cache)."""
    from irtool.runtime import jit_cache

    try:
        return str(jit_cache.cache_root() / "irtool" / "kernel-index.json")
    except Exception:  # no cache folder to be had: the index lives in this process only
        return None


def op_index() -> dict[str, list]:
    """op -> the kernel modules to import for it (see :func:`full_index`): read from the saved index while no kernel module's
    file has changed since it was made, else made by a full import (see :func:`full_index`) and saved."""
    global _index
    if _index is not None:
        return _index
    key = _index_key()
    path = index_path()
    if path is not None:
        try:
            with open(path) as f:
                saved = json.load(f)
            if saved.get("key") == json.loads(json.dumps(key)):
                _index = saved["index"]
                return _index
        except (OSError, ValueError, AttributeError):
            pass
    _index = full_index()
    if path is not None:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump({"key": key, "index": _index}, f, indent=0, sort_keys=True)
            os.replace(tmp, path)
        except OSError:
            pass
    return _index


def _load_all() -> None:  # (the name older callers use)
    load_all()
