"""The CPU plugin: ``compile_model`` does the load-time work once, infer requests run the plan.

Load time: read the IR, fix input shapes, pick a kernel per layer, fold every layer whose inputs are
all constant (weights decompression, shape subgraphs...), and plan tensor lifetimes so that each
intermediate is dropped right after its last use. Run time: a flat loop over the remaining steps,
timing each one for the performance counters.
"""
from __future__ import annotations

import operator
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irtool.errors import InputError, IRFormatError, LayerError, UnsupportedError
from irtool.ir import attrs as A
from irtool.ir.checks import check_model, output_shape_checker
from irtool.ir.element_types import element_type
from irtool.ir.graph import Layer, Model
from irtool.ir.reader import read_model
from irtool.passes.fold import fold_static_shapes
from irtool.runtime import cpu, threads
from irtool.runtime.fusion import fuse_epilogues
from irtool.runtime.profiling import EXECUTED, NOT_RUN, ProfilingInfo, exec_type, precision_of
from irtool.runtime.registry import Kernel, find_kernel
from irtool.runtime.state import SLOT as STATE_SLOT
from irtool.runtime.state import STATEFUL, States, VariableState, variables_of

Shapes = Mapping[str, Sequence[int]] | Sequence[Sequence[int]] | None
# The dtype of a string input or output (what OpenVINO's ``Type.string.to_dtype()`` gives). Inputs
# may be numpy str, bytes or object (str/bytes items) arrays; outputs are numpy str arrays, UTF-8
# decoded with U+FFFD for invalid bytes, as OpenVINO's ``compiled_model(inputs)`` returns them.
# Inside, a string tensor is an object array of bytes (see irtool.runtime.kernels.strings).
STRING = np.dtype(np.bytes_)
Observer = Callable[[Layer, int, np.ndarray], np.ndarray | None]  # may return a replacement


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: its canonical name, every name it answers to, shape and type."""

    name: str
    names: tuple[str, ...]
    shape: tuple[int, ...]  # -1 for a dynamic dim
    dtype: np.dtype
    slot: int


@dataclass
class Step:
    layer: Layer
    kernel: Kernel
    kwargs: dict[str, Any]
    inputs: list[int]
    outputs: list[int]
    frees: list[int] = field(default_factory=list)
    serial: bool = False  # too little work to wake other threads for (see threads.SERIAL_BELOW)
    run: Callable | None = None  # the kernel bound to its attributes and constants (see _bind)


class Outputs(dict):
    """Outputs keyed by name in model order; ``outputs[0]`` also works, as in OpenVINO."""

    def __getitem__(self, key):
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)


class CompiledModel:
    """A model ready to run; call it (or :meth:`infer`) with a dict by input name or a list."""

    def __init__(self, model: Model, inputs: list[TensorSpec], outputs: list[TensorSpec], steps: list[Step],
                 constants: dict[int, np.ndarray], nslots: int, order: list[Layer], folded: set[int],
                 absorbed: list[Layer] = ()):
        self.model = model
        self.inputs = inputs
        self.outputs = outputs
        self._steps = steps
        self._constants = constants
        self._nslots = nslots
        self._template: list[Any] = [None] * nslots  # the slots an inference starts from: the constants
        for slot, value in constants.items():
            self._template[slot] = value
        self._order = order
        self._folded = folded
        self._isa = cpu.isa()
        self._default: InferRequest | None = None
        self._absorbed = list(absorbed)  # layers of the model that load-time transformations fused away
        # what the run loop needs of each step, unpacked once: (step, run, a getter of its inputs from
        # the slots (C-level: a list comprehension per step cost ~0.4 us), how many inputs, the output
        # slot or -1 for several, slots to drop after it, serial?)
        self._plan = [(s, s.run, _getter(s.inputs), len(s.inputs), s.outputs[0] if len(s.outputs) == 1 else -1,
                       tuple(s.frees), s.serial) for s in steps]
        # each step's first input type (the counters' precision), recorded by the first inference: types
        # do not change between inferences (inputs are checked against the model's)
        self._dtypes: list[np.dtype] | None = None
        self._cold = True  # no inference has run yet: the kernels are not compiled (see InferRequest.infer)
        # slots whose array is a step's own buffer, rewritten by the next inference (INT8 layers; see
        # _int8_bound._bound_runner): what leaves an inference from them (or from a view) is a copy
        self._reused = {slot for s in steps if getattr(s.run, "reuses_output", False) for slot in s.outputs}
        self._running: set[int] = set()  # threads in an inference of this model (with reused buffers)
        # a stateful model's variables (ReadValue/Assign) and the slot each request puts its own in
        # (the last input of those steps; see irtool.runtime.state)
        stateful = [s for s in steps if s.layer.type in STATEFUL]
        self._variables = variables_of(s.layer for s in stateful)
        self._state_slot = stateful[0].inputs[-1] if stateful else None
        self._output_names = [spec.name for spec in outputs]
        self._string_outputs = [i for i, spec in enumerate(outputs) if spec.dtype == STRING]

    def create_infer_request(self, cpu_times: bool = False) -> InferRequest:
        """A request; ``cpu_times`` also measures each layer's process CPU time for the counters
        (a system call per layer: otherwise the counters report the real time as the CPU time)."""
        return InferRequest(self, cpu_times)

    def infer(self, inputs: Mapping[str, Any] | Sequence[Any], observe: Observer | None = None) -> Outputs:
        if self._default is None:
            self._default = self.create_infer_request()
        return self._default.infer(inputs, observe)

    __call__ = infer

    def get_profiling_info(self) -> list[ProfilingInfo]:
        """Counters of the last inference run through :meth:`infer`."""
        return self._default.get_profiling_info() if self._default else []

    def input(self, key: int | str = 0) -> TensorSpec:
        return _lookup(self.inputs, key, "input")


class InferRequest:
    """Runs the plan; keeps the counters of its last inference."""

    def __init__(self, compiled: CompiledModel, cpu_times: bool = False):
        self._c = compiled
        self._cpu_times = cpu_times
        self._stamps: tuple[list[int], list[int] | None] = ([], None)  # the last inference's clock readings
        self._dtypes: list[np.dtype] = []
        self._states = States(compiled._variables) if compiled._state_slot is not None else None

    def query_state(self) -> list[VariableState]:
        """The variables of a stateful model (ReadValue/Assign) as this request holds them."""
        return self._states.query() if self._states is not None else []

    def reset_state(self) -> None:
        """Every variable back to its initial value (the next inference's ReadValues give it)."""
        if self._states is not None:
            self._states.reset()

    def infer(self, inputs: Mapping[str, Any] | Sequence[Any], observe: Observer | None = None) -> Outputs:
        """Run once. ``observe(layer, output_index, array)``, if given, sees every tensor a step
        produces (calibration streams statistics through it; nothing is kept). An array it returns
        replaces the tensor for the layers after (sensitivity analysis feeds a layer the reference
        model's tensors this way); None leaves it."""
        return Outputs(zip(self._c._output_names, self.run(inputs, observe)))

    def run(self, inputs: Mapping[str, Any] | Sequence[Any], observe: Observer | None = None) -> list[np.ndarray]:
        """:meth:`infer`, the outputs as a list in model order (two outputs may carry one name: a
        sub-graph's Results of one tensor)."""
        c = self._c
        if c._cold and observe is None:
            # A model's first inference makes numba compile (or load from its cache) every kernel
            # it calls: seconds, not microseconds. OpenVINO's counters never see its compilation
            # (done in compile_model), so neither do ours: the first inference runs once untimed. It
            # leaves the variables of a stateful model as they were.
            c._cold = False
            saved = self._states.snapshot() if self._states is not None else None
            # and random generators (RandomUniform) where they were
            kept = [(run, run.snapshot()) for _, run, *_ in c._plan if hasattr(run, "snapshot")]
            try:
                self.infer(inputs, getattr(c, "_first_check", None))
            except LayerError:
                c._cold = True  # (checked again next time)
                raise
            if saved is not None:
                self._states.restore(saved)
            for run, state in kept:
                run.restore(state)
        slots = c._template.copy()
        if self._states is not None:
            slots[c._state_slot] = self._states.begin()
        for spec, value in _match_inputs(c.inputs, inputs):
            slots[spec.slot] = value
        perf = time.perf_counter_ns
        proc = time.process_time_ns if self._cpu_times else None
        stamps, cpu = [perf()], [proc()] if proc else None
        stamp = stamps.append
        serial = False
        step = None
        dtypes = [] if c._dtypes is None else None
        tid = threading.get_ident() if c._reused else None
        if tid is not None:
            if tid in c._running:  # an observer running the model again: its buffers are in use
                raise UnsupportedError("this compiled model is already running an inference on this thread (an "
                                       "observer called it): compile the model a second time for that")
            c._running.add(tid)
        # NaN/inf in the data propagate as in OpenVINO, silently: numpy's "invalid value" warnings
        # would only say where a kernel met them (under 1 us per inference)
        quiet = np.errstate(all="ignore")
        quiet.__enter__()
        try:
            for step, run, get, nin, out, frees, small in c._plan:  # the hot loop: nothing looked up by name
                if small is not serial:
                    serial = small
                    threads.serial(serial)
                if nin == 1:
                    arg = get(slots)
                    if dtypes is not None:
                        dtypes.append(_precision(step, arg))
                    result = run(arg)
                else:
                    args = get(slots)
                    if dtypes is not None:
                        dtypes.append(_precision(step, args[0]) if args else np.dtype(np.float32))
                    result = run(*args)
                if out >= 0:
                    slots[out] = result
                else:
                    for slot, value in zip(step.outputs, result):
                        slots[slot] = value
                if observe is not None:
                    for i, slot in enumerate(step.outputs):
                        replacement = observe(step.layer, i, _detached(slots[slot], slot, c._reused))
                        if replacement is not None:
                            slots[slot] = replacement
                for slot in frees:
                    slots[slot] = None
                stamp(perf())
                if proc:
                    cpu.append(proc())
        except (ValueError, IndexError) as e:  # shapes the model cannot take
            raise InputError(f"layer '{step.layer.name}' ({step.layer.type}): {e}") from None
        finally:
            quiet.__exit__(None, None, None)
            if serial:
                threads.serial(False)
            if tid is not None:
                c._running.discard(tid)
        if self._states is not None:  # the Assigns' values become the states once the inference is done
            self._states.commit()
        self._stamps = stamps, cpu  # the counters come from them when asked for
        if dtypes is not None:
            c._dtypes = dtypes
        self._dtypes = c._dtypes
        results = [_detached(slots[spec.slot], spec.slot, c._reused) for spec in c.outputs]
        for i in c._string_outputs:
            results[i] = _text(results[i])
        return results

    __call__ = infer

    def get_profiling_info(self) -> list[ProfilingInfo]:
        """One record per layer of the model but constants (topological order), EXECUTED or NOT_RUN
        (folded at load time, or nothing to compute)."""
        c = self._c
        stamps, cpu = self._stamps
        real = [t1 - t0 for t0, t1 in zip(stamps, stamps[1:])]
        times = zip(real, [t1 - t0 for t0, t1 in zip(cpu, cpu[1:])] if cpu else real)
        ran = {step.layer.id: (step, t, d) for step, t, d in zip(c._steps, times, self._dtypes)}
        out = []
        for layer in c._order:
            if layer.type == "Const":
                continue
            if layer.id in ran:
                step, (real, cpu_ns), dtype = ran[layer.id]
                out.append(ProfilingInfo(layer.name, layer.type, exec_type(step.kernel.impl, getattr(step.run, "isa", c._isa),
                                                   getattr(step.run, "exec_dtype", dtype)),
                                         real / 1000, cpu_ns / 1000, EXECUTED))
            else:
                out.append(_not_run(layer))
        return out + [_not_run(layer) for layer in c._absorbed]


PRECISIONS = ("auto", "int8", "fp32", "bf16")
HINTS = {"f32": "auto", "bf16": "bf16"}  # OpenVINO's INFERENCE_PRECISION_HINT values -> precision


def _detached(value, slot: int, reused: set[int]) -> np.ndarray:
    """``value`` as an array of the caller's own: a copy when it is a reused buffer (``slot`` in
    ``reused``) or, in a model that has some, a view (of one, perhaps)."""
    a = np.asarray(value)
    return a.copy() if reused and (slot in reused or a.base is not None) else a


def _precision(step: Step, first_input) -> np.dtype:
    """The type a step computes in, for the counters: its first input's, but u8 codes for a layer
    that quantizes its float input itself (lpt.fuse_input_quantize)."""
    from irtool.runtime.kernels.int8_epilogue import INT8  # (called on a model's first inference only)

    layer = step.layer
    if layer.version == INT8 and "quantize" in layer.attrs:
        return np.dtype(np.uint8)
    return getattr(first_input, "dtype", np.dtype(np.float32))  # (a ReadValue-6's only input: the states)


def _not_run(layer: Layer) -> ProfilingInfo:
    """A layer with nothing to run: folded at load time, fused into another, or Parameter/Result."""
    ports = layer.outputs or layer.inputs
    prec = ports[0].precision if ports else "FP32"
    return ProfilingInfo(layer.name, layer.type, f"unknown_{prec}", 0.0, 0.0, NOT_RUN)


def compile_model(model: Model | str | Path, shapes: Shapes = None, precision: str = "auto",
                  fuse: bool = True, config: Mapping[str, str] | None = None) -> CompiledModel:
    """Load ``model`` (a :class:`Model` or a path to its .xml) for running on this CPU.

    ``shapes`` fixes input shapes (by input name, or a list in input order), resolving dynamic dims
    as OpenVINO's ``reshape`` does. ``precision``: ``auto``/``int8`` apply the low-precision
    transformations to a quantized model (its FakeQuantize layers become integer arithmetic; the
    I8 layers of the 2019 statistics form get their FakeQuantize layers first); ``fp32`` runs every
    layer in FP32, FakeQuantize as its FP32 emulation, and ignores the 2019 marks; ``bf16`` is ``auto``
    with float32 Convolutions in bf16 (runtime/bf16.py; OpenVINO's default on a CPU with bf16, never
    irtool's). ``fuse`` folds bias Adds and activations into the weighted layer before them
    (bit-identical results, fewer passes). ``config``: OpenVINO's ``{"INFERENCE_PRECISION_HINT": "bf16"}``
    (or ``"f32"``) sets the precision too.
    """
    for key, value in (config or {}).items():
        if key != "INFERENCE_PRECISION_HINT" or str(value).lower() not in HINTS:
            raise InputError(f"config {key}={value}: irtool takes INFERENCE_PRECISION_HINT f32 or bf16")
        if precision == "auto":
            precision = HINTS[str(value).lower()]
    if precision not in PRECISIONS:
        raise InputError(f"precision '{precision}' is not one of {', '.join(PRECISIONS)}")
    threads.configure()
    if not isinstance(model, Model):
        model = read_model(model)
    check_model(model)  # every layer against its op: ports, attributes, types, shapes (irtool.ir.checks)
    original = model
    if precision != "fp32" and model.statistics is not None:  # the 2019 form: I8 marks + <statistics>
        from irtool.passes.statistics_form import expand_statistics

        model = expand_statistics(model)
    if not shapes:  # a static shape in the IR is the shape at run time (reshaping may change it)
        model = fold_static_shapes(model)
    if precision != "fp32" and any(l.type == "FakeQuantize" for l in model):
        from irtool.runtime.lpt import low_precision

        model = low_precision(model)
    if fuse:
        model = fuse_epilogues(model)
    if precision == "bf16":
        from irtool.runtime.bf16 import bf16_layers

        model = bf16_layers(model)
    order = model.topological_order()
    fixed = _resolve_shapes(model, shapes)
    slot_of: dict[tuple[int, int], int] = {}
    constants: dict[int, np.ndarray] = {}
    inputs, outputs, steps, folded, results = [], [], [], set(), []

    def new_slot(layer: Layer, port_index: int) -> int:
        slot_of[(layer.id, layer.outputs[port_index].id)] = n = len(slot_of)
        return n

    for layer in order:
        if layer.type == "Parameter":
            inputs.append(_input_spec(layer, new_slot(layer, 0), fixed.get(layer.id)))
        elif layer.type == "Const":
            constants[new_slot(layer, 0)] = layer.constant.value
        elif layer.type == "Result":
            src = model.producer(layer, 0)
            outputs.append(_output_spec(layer, src, slot_of[(src.layer.id, src.port.id)], len(outputs)))
            results.append(layer.id)
        else:
            kern = find_kernel(layer)
            ins = [slot_of[(s.layer.id, s.port.id)] for s in model.input_values(layer)]
            if layer.type in STATEFUL:  # the request's variables come in as the last input
                ins.append(slot_of.setdefault(STATE_SLOT, len(slot_of)))
            outs = [new_slot(layer, i) for i in range(len(layer.outputs))]
            kwargs = kern.bind(layer)
            if kern.wants_outputs:
                kwargs["outputs_used"] = tuple(bool(model.consumers(layer, i)) for i in range(len(layer.outputs)))
            step = Step(layer, kern, kwargs, ins, outs)
            if _fold(step, constants):
                folded.add(layer.id)
            else:
                steps.append(step)
    # outputs in the order of the Result layers in the file, as OpenVINO gives them (the topological
    # order of a transformed graph may differ)
    rank = {lid: i for i, lid in enumerate(model.layers)}
    outputs = [spec for _, spec in sorted(zip((rank[r] for r in results), outputs), key=lambda pair: pair[0])]
    _plan_lifetimes(steps, set(constants), {o.slot for o in outputs})
    for step in steps:
        step.serial = threads.is_small(step.layer)
        step.run = _bind(step, constants)
    names = {l.name for l in order}
    absorbed = [l for l in original.topological_order() if l.name not in names and l.type != "Const"]
    compiled = CompiledModel(original, inputs, outputs, steps, constants, len(slot_of), order, folded, absorbed)
    # shapes known only at run time are checked on the first inference (not after a reshape: the IR's
    # static dims are those of its own input shapes)
    compiled._first_check = None if shapes else output_shape_checker(model, original.path)
    return compiled


def _bind(step: Step, constants: dict[int, np.ndarray]) -> Callable:
    """The step's kernel as a function of its inputs alone: specialized at load time where the kernel
    has a specializer, otherwise its attributes bound as keyword arguments."""
    fn, kwargs = step.kernel.fn, step.kwargs
    if step.kernel.prepare is not None:
        run = step.kernel.prepare([constants.get(i) for i in step.inputs], **kwargs)
        if run is not None:
            return run
    return (lambda *args: fn(*args, **kwargs)) if kwargs else fn


def _fold(step: Step, constants: dict[int, np.ndarray]) -> bool:
    """Run ``step`` now if its result cannot depend on the inputs; record the constants it makes.
    (ShapeOf of a static shape is a Const already: passes.fold.fold_static_shapes.)"""
    layer = step.layer
    if not step.kernel.foldable or not all(i in constants for i in step.inputs):
        return False
    try:
        result = step.kernel.fn(*(constants[i] for i in step.inputs), **step.kwargs)
    except (ValueError, IndexError, TypeError) as e:  # constants the op cannot take: the IR is wrong
        raise IRFormatError(f"layer '{layer.name}' ({layer.type}): cannot compute it from its constant "
                            f"inputs at load time: {e}") from None
    results = [result] if len(step.outputs) == 1 else list(result)
    for slot, value in zip(step.outputs, results):
        constants[slot] = value
    return True


def _plan_lifetimes(steps: list[Step], constants: set[int], outputs: set[int]) -> None:
    """Mark each intermediate to be dropped after the step that reads it last."""
    last: dict[int, int] = {}
    for i, step in enumerate(steps):
        for slot in (*step.inputs, *step.outputs):
            last[slot] = i
    for slot, i in last.items():
        if slot not in constants and slot not in outputs:
            steps[i].frees.append(slot)


def _names(layer: Layer, port_names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*port_names, layer.name]))


def _input_spec(layer: Layer, slot: int, fixed: tuple[int, ...] | None) -> TensorSpec:
    port = layer.outputs[0]
    shape = fixed or tuple(port.dims or A.parse_shape(layer.attrs.get("shape", "")))
    etype = element_type(layer.attrs.get("element_type") or port.element_type.name)
    dtype = STRING if etype.name == "string" else etype.dtype or np.dtype(np.float32)
    return TensorSpec(_names(layer, port.names)[0], _names(layer, port.names), shape, dtype, slot)


def _output_spec(result: Layer, src, slot: int, index: int) -> TensorSpec:
    names = list(src.port.names)
    name = names[0] if names else f"output{index}"
    etype = src.port.element_type
    dtype = STRING if etype.name == "string" else etype.dtype or np.dtype(np.float32)
    return TensorSpec(name, tuple(dict.fromkeys([name, *names, result.name])), tuple(src.port.dims), dtype, slot)


def _resolve_shapes(model: Model, shapes: Shapes) -> dict[int, tuple[int, ...]]:
    """``shapes`` as ``parameter layer id -> shape``; unknown names are an error."""
    if not shapes:
        return {}
    params = model.parameters
    if not isinstance(shapes, Mapping):
        if len(shapes) != len(params):
            raise InputError(f"{len(shapes)} shapes given for {len(params)} model inputs")
        return {p.id: tuple(int(d) for d in s) for p, s in zip(params, shapes)}
    fixed = {}
    for name, shape in shapes.items():
        match = [p for p in params if name == p.name or name in p.outputs[0].names]
        if not match:
            known = ", ".join(_names(p, p.outputs[0].names)[0] for p in params)
            raise InputError(f"--shape names '{name}', which is not an input of the model (inputs: {known})")
        fixed[match[0].id] = tuple(int(d) for d in shape)
    return fixed


def _lookup(specs: list[TensorSpec], key: int | str, kind: str) -> TensorSpec:
    if isinstance(key, int):
        return specs[key]
    for s in specs:
        if key in s.names:
            return s
    raise InputError(f"the model has no {kind} named '{key}' ({kind}s: {', '.join(s.name for s in specs)})")


def _getter(slots: list[int]) -> Callable[[list], Any]:
    """``f(values)``: the value at the one slot, or a tuple of those at several (or none)."""
    if len(slots) == 0:
        return lambda values: ()
    return operator.itemgetter(*slots)  # one slot: its value; several: a tuple


def _match_inputs(specs: list[TensorSpec], given: Mapping[str, Any] | Sequence[Any]):
    """Pair given arrays with inputs, checking names, dtypes and shapes; one clear error otherwise."""
    if isinstance(given, Mapping):
        pairs = [(_lookup(specs, k, "input"), v) for k, v in given.items()]
        seen = {id(spec) for spec, _ in pairs}
        missing = [s.name for s in specs if id(s) not in seen]
        if missing:
            raise InputError(f"missing input(s): {', '.join(missing)}")
    else:
        if isinstance(given, np.ndarray):
            given = [given]
        if len(given) != len(specs):
            raise InputError(f"{len(given)} inputs given, the model takes {len(specs)} "
                             f"({', '.join(s.name for s in specs)})")
        pairs = zip(specs, given)
    for spec, value in pairs:  # (checked cheaply: this runs every inference)
        arr = value if type(value) is np.ndarray else np.asarray(value)
        if arr.dtype != spec.dtype and spec.dtype == STRING:
            arr = _strings(arr, spec)
        elif arr.dtype != spec.dtype:
            raise InputError(f"input '{spec.name}' is {arr.dtype}, the model takes {spec.dtype} "
                             f"({precision_of(spec.dtype)}); convert the data first")
        if arr.shape != spec.shape and (len(arr.shape) != len(spec.shape)
                                        or any(d >= 0 and d != a for d, a in zip(spec.shape, arr.shape))):
            want = "[" + ",".join("?" if d < 0 else str(d) for d in spec.shape) + "]"
            raise InputError(f"input '{spec.name}' has shape {list(arr.shape)}, the model takes {want}")
        yield spec, arr


def _strings(arr: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """A str, bytes or object (of str/bytes) array as a string tensor: an object array of bytes
    (str encoded as UTF-8)."""
    if arr.dtype.kind not in "USO":
        raise InputError(f"input '{spec.name}' is {arr.dtype}, the model takes strings (STRING): a numpy "
                         "array of str or bytes")
    items = arr.reshape(-1).tolist()
    for j, item in enumerate(items):
        if not isinstance(item, bytes):
            if not isinstance(item, str):
                raise InputError(f"input '{spec.name}' holds {type(item).__name__} {item!r}, the model takes "
                                 "strings (STRING): str or bytes")
            items[j] = item.encode()
    out = np.empty(len(items), object)
    out[:] = items
    return out.reshape(arr.shape)


def _text(value: np.ndarray) -> np.ndarray:
    """A string tensor as a numpy str array (invalid UTF-8 as U+FFFD)."""
    if value.dtype.kind == "U":
        return value
    items = [s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s) for s in value.reshape(-1).tolist()]
    return np.array(items, dtype=np.str_).reshape(value.shape)


__all__ = ["CompiledModel", "InferRequest", "Outputs", "TensorSpec", "compile_model"]
