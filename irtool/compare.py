"""Two models side by side: metric, latency, weights, and per layer: precision, time, error.

The typical pair is an FP32 model (A) and its INT8 version (B: irtool's or NNCF's, compressed or
expanded weights, or the 2019 statistics form). Quantization keeps the names of the compute layers,
so layers are matched by name (and output shape), and each matched layer of B gets

- its precision as irtool's plugin runs B (the exec type's suffix: ``I8``, ``FP32``...; ``fused``
  when another layer computes it, e.g. a bias Add or a ReLU in a Convolution's epilogue);
- its time in B and in A (median ``real_time`` over timed runs, microseconds);
- the NRMSD of its output against A's, and the error it *introduces* (see
  :mod:`irtool.quantization.sensitivity`): the per-layer sensitivity report NNCF and POT users ask for.

The metric is measured on a validation set when one is given (default: :func:`irtool.metrics.default_metric`);
without one, on a few seeded random inputs as the cosine of B's outputs to A's (no labels needed).
OpenVINO's latency is added when ``import openvino`` works; irtool itself never needs it.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from irtool.errors import InputError
from irtool.ir.graph import Layer, Model
from irtool.ir.reader import read_model
from irtool.metrics import Annotations, Metric, default_metric, get_metric
from irtool.quantization.sensitivity import LayerError, comparable_layers, layer_errors
from irtool.runtime.profiling import EXECUTED

DEFAULT_SAMPLES = 16  # batches the per-layer errors average over; random inputs without data
DEFAULT_RUNS = 20  # timed runs per model (after one warm-up run)
SORTS = ("topo", "error", "time")
OV_CONFIG = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}  # as benchmarks/ measure it
_CONVERSIONS = ("Quantize", "Dequantize")  # steps irtool's INT8 path adds: not layers of the model
Source = str | Path | Model
Progress = Callable[[str, float], None]  # (what is being done, fraction of it done)


@dataclass
class Side:
    """One model's column of the model-level table."""

    name: str  # the .xml path, or the model's name
    metric: float
    latency_ms: float | None  # irtool, median of the timed runs; None: not measured
    openvino_latency_ms: float | None  # None: not measured (no openvino, or it failed: see notes)
    bin_bytes: int | None  # size of the .bin file; None for a model given in memory
    weights_bytes: int  # bytes of all constants, by their stored element types
    layers_by_precision: dict[str, int]  # executed layers of irtool's run by exec precision (I8, FP32...)


@dataclass
class LayerRow:
    """One layer of B that A has too, with B's precision and both models' times."""

    name: str
    type: str
    precision: str  # B in irtool's plugin: I8, FP32..., or "fused" (NOT_RUN: computed by fused_into)
    fused_into: str | None
    precision_a: str
    time_us: float | None  # B's median real_time; None when not timed, or fused
    time_a_us: float | None
    nrmsd: float  # B's output vs A's, averaged over the samples
    introduced: float  # nrmsd minus the largest nrmsd of its activation inputs


@dataclass
class Comparison:
    """What :func:`compare` found; ``to_dict()`` is what ``irtool compare --json`` prints."""

    a: Side
    b: Side
    metric: str
    higher_is_better: bool
    drop: float  # how much worse B is than A, in the metric's units (> 0: B is worse)
    data: str  # "validation" (the samples given) or "random" (seeded random inputs)
    samples: int  # batches the metric was measured on
    layer_samples: int  # batches the per-layer errors average over
    runs: int  # timed runs per model; 0 when latency was not measured
    layers: list[LayerRow]  # in B's topological order
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # A and B look like different models, ...

    def to_dict(self) -> dict:
        return asdict(self)

    def offenders(self, n: int = 3) -> list[LayerRow]:
        """The ``n`` layers that introduce the most error (only those that introduce some)."""
        ranked = sorted(self.layers, key=lambda r: (-r.introduced, -r.nrmsd))
        return [r for r in ranked[:n] if r.introduced > 0]

    def sorted_layers(self, by: str = "topo") -> list[LayerRow]:
        """The layers in topological order, by introduced error, or by B's time (largest first)."""
        if by not in SORTS:
            raise InputError(f"sort '{by}': use one of {', '.join(SORTS)}")
        if by == "error":
            return sorted(self.layers, key=lambda r: (-r.introduced, -r.nrmsd))
        if by == "time":
            return sorted(self.layers, key=lambda r: -(r.time_us or 0.0))
        return list(self.layers)


@dataclass
class _Timing:
    """One model's timed runs: median latency, median time per layer, the last run's counters."""

    latency_ms: float | None
    times: dict[str, float]
    records: dict  # node name -> ProfilingInfo


def compare(a: Source, b: Source, samples: str | Path | Iterable[Mapping[str, np.ndarray]] | None = None,
            annotations: Annotations | None = None, metric: str | Metric | Callable | None = None,
            latency: bool = True, openvino: bool | None = None, *, max_samples: int = DEFAULT_SAMPLES,
            runs: int = DEFAULT_RUNS, seed: int = 0, progress: Progress | None = None) -> Comparison:
    """Compare model ``b`` with the reference ``a`` (models or .xml paths).

    ``samples``: a validation .npz path (inputs and ``labels``/``gt_*``), or input dicts (one batch
    each) with their ``annotations``; None: ``max_samples`` seeded random inputs. ``metric``: a name,
    a :class:`~irtool.metrics.Metric` or a callable (default: top-1 with labels, mAP with boxes, else
    cosine to A). The per-layer errors average over the first ``max_samples`` batches. ``latency``:
    time ``runs`` inferences of each model; ``openvino``: also in OpenVINO (None: when installed;
    True: required; False: never).
    """
    say = progress or (lambda what, fraction: None)
    (model_a, path_a), (model_b, path_b) = _load(a), _load(b)
    layers = comparable_layers(model_a, model_b)
    if not layers:
        raise InputError(f"{_name(model_a, path_a)} and {_name(model_b, path_b)} have no layer in common (same "
                         "name and output shape): compare a model with a quantized version of itself")
    warnings = _model_warnings(model_a, model_b, len(layers))
    if max_samples < 1 or runs < 1:
        raise InputError(f"samples ({max_samples}) and runs ({runs}) must be at least 1")
    ov = _openvino(openvino) if latency else None  # openvino=True without it fails here, before any work
    from irtool.runtime import compile_model

    compiled_a, compiled_b = compile_model(model_a), compile_model(model_b)
    batches, annotations, data = _batches(samples, annotations, compiled_a.inputs, max_samples, seed)
    chosen = get_metric(metric if metric is not None else default_metric(annotations))
    chosen.check(annotations, reference=())  # a missing label says so before anything runs
    value_a, value_b = _metric_values(chosen, compiled_a, compiled_b, batches, annotations, say)
    subset = batches[:max_samples]
    errors = layer_errors(model_a, model_b, subset, layers, lambda i, n: say("per-layer errors", i / n))
    count = runs if latency else 0
    say("timing", 0.0)
    timing_a, timing_b = _timed(compiled_a, batches[0], count), _timed(compiled_b, batches[0], count)
    notes = _data_notes(data, len(batches))
    ov_a = _openvino_latency(ov, model_a, path_a, batches[0], count, notes, "A") if ov else None
    ov_b = _openvino_latency(ov, model_b, path_b, batches[0], count, notes, "B") if ov else None
    if latency and ov is None:
        notes.append("OpenVINO latency not measured: the openvino package is not installed"
                     if openvino is None else "OpenVINO latency not measured (openvino=False)")
    rows = [_row(model_b, l, errors[l.name], timing_a, timing_b) for l in layers]
    drop = value_a - value_b if chosen.higher_is_better else value_b - value_a
    return Comparison(_side(model_a, path_a, value_a, timing_a, ov_a), _side(model_b, path_b, value_b, timing_b, ov_b),
                      chosen.name, chosen.higher_is_better, drop, data, len(batches), len(subset), count, rows, notes,
                      warnings)


def _model_warnings(a: Model, b: Model, shared: int) -> list[str]:
    """What says A and B are not one model and a quantized version of it: other inputs, or fewer
    than half of A's layers found in B (a quantized model keeps its layers' names and shapes)."""
    out = []
    inputs = [sorted((p.outputs[0].dims if p.outputs else []) for p in m.parameters) for m in (a, b)]
    if inputs[0] != inputs[1]:
        out.append(f"A's inputs {inputs[0]} and B's {inputs[1]} differ in shape: these are different models")
    total = len(comparable_layers(a, a))
    if shared < total / 2:
        out.append(f"B has only {shared} of A's {total} layers (same name and output shape): these look like "
                   "different models, not a model and a quantized version of it; the per-layer table covers the "
                   "shared layers only")
    return out


# ------------------------------------------------------------------------------------------- inputs
def _load(source: Source) -> tuple[Model, Path | None]:
    if isinstance(source, Model):
        return source, None
    return read_model(source), Path(source)


def _name(model: Model, path: Path | None) -> str:
    return str(path) if path is not None else model.name


def _batches(samples, annotations: Annotations | None, specs, max_samples: int,
             seed: int) -> tuple[list[dict], Annotations | None, str]:
    """The input batches, their annotations, and where they come from ("validation" or "random")."""
    from irtool import data

    if samples is None:
        return [data.random_inputs(specs, seed + i) for i in range(max_samples)], annotations, "random"
    if isinstance(samples, (str, Path)):
        from irtool.quantization.dataset import load_validation

        batches, found = load_validation(samples, specs)
        return batches, annotations if annotations is not None else found, "validation"
    batches = [dict(s) for s in samples]
    if not batches:
        raise InputError("no samples to compare the models on (an empty data set)")
    return batches, annotations, "validation"


def _outputs(compiled, batches: Sequence[Mapping[str, np.ndarray]], say: Callable[[float], None]) -> list[dict]:
    outputs = []
    for i, batch in enumerate(batches):
        outputs.append(compiled(batch))
        if i % 16 == 0:
            say(i / len(batches))
    return outputs


def _metric_values(metric: Metric, compiled_a, compiled_b, batches: Sequence[Mapping[str, np.ndarray]],
                   annotations: Annotations | None, say: Progress) -> tuple[float, float]:
    """The metric of A and of B on all batches; A's outputs are the reference (cosine, nmse)."""
    outputs_a = _outputs(compiled_a, batches, lambda f: say("A: outputs", f))
    outputs_b = _outputs(compiled_b, batches, lambda f: say("B: outputs", f))
    return metric.compute(outputs_a, annotations, outputs_a), metric.compute(outputs_b, annotations, outputs_a)


def _data_notes(data: str, count: int) -> list[str]:
    if data != "random":
        return []
    return [f"no validation data: {count} seeded random inputs (standard normal), which an INT8 model calibrated "
            "on real data may clip; pass validation samples for meaningful numbers"]


# ------------------------------------------------------------------------------------------- timing
def _timed(compiled, batch: Mapping[str, np.ndarray], runs: int) -> _Timing:
    """``runs`` timed inferences after a warm-up (numba compiles on first use); with ``runs`` 0,
    the warm-up alone, for the exec types."""
    request = compiled.create_infer_request()
    request.infer(batch)
    latencies: list[float] = []
    per_layer: dict[str, list[float]] = {}
    for _ in range(runs):
        t0 = time.perf_counter()
        request.infer(batch)
        latencies.append((time.perf_counter() - t0) * 1000)
        for rec in request.get_profiling_info():
            if rec.status == EXECUTED:
                per_layer.setdefault(rec.node_name, []).append(rec.real_time)
    records = {rec.node_name: rec for rec in request.get_profiling_info()}
    times = {name: statistics.median(v) for name, v in per_layer.items()}
    return _Timing(statistics.median(latencies) if latencies else None, times, records)


def _openvino(wanted: bool | None):
    """The openvino module, imported only here and only if wanted; None when absent or not wanted."""
    if wanted is False:
        return None
    try:
        import openvino
    except ImportError:
        if wanted:
            raise InputError("OpenVINO latency was asked for, but the openvino package is not installed "
                             "(pip install openvino)") from None
        return None
    return openvino


def _openvino_latency(ov, model: Model, path: Path | None, batch: Mapping[str, np.ndarray], runs: int,
                      notes: list[str], label: str) -> float | None:
    """Median latency of ``runs`` inferences in OpenVINO's CPU plugin (latency hint, f32 inference
    precision: INT8 layers still run INT8); None, with a note, when OpenVINO cannot run the model."""
    try:
        with tempfile.TemporaryDirectory(prefix="irtool-compare-") as tmp:
            if path is None:  # a model given in memory: OpenVINO reads files
                from irtool.ir import save_model

                path = save_model(model, Path(tmp) / "model.xml")
            compiled = ov.Core().compile_model(str(path), "CPU", OV_CONFIG)
        request = compiled.create_infer_request()
        feed = _openvino_feed(compiled, batch)
        request.infer(feed)
        latencies = []
        for _ in range(runs):
            t0 = time.perf_counter()
            request.infer(feed)
            latencies.append((time.perf_counter() - t0) * 1000)
        return statistics.median(latencies)
    except Exception as e:  # OpenVINO's errors are RuntimeErrors of any kind: report, do not fail the comparison
        notes.append(f"OpenVINO could not run {label}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        return None


def _openvino_feed(compiled, batch: Mapping[str, np.ndarray]) -> dict[int, np.ndarray]:
    """irtool's inputs by name -> OpenVINO's by position (by tensor name when they share one)."""
    values = list(batch.values())
    feed = {}
    for i, port in enumerate(compiled.inputs):
        names = port.get_names()
        feed[i] = next((v for k, v in batch.items() if k in names), values[min(i, len(values) - 1)])
    return feed


# ------------------------------------------------------------------------------------------- tables
def _row(model_b: Model, layer: Layer, error: LayerError, timing_a: _Timing, timing_b: _Timing) -> LayerRow:
    precision, fused_into = _precision(model_b, layer, timing_b.records)
    precision_a = _suffix(timing_a.records.get(layer.name))
    return LayerRow(layer.name, layer.type, precision, fused_into, precision_a, timing_b.times.get(layer.name),
                    timing_a.times.get(layer.name), error.nrmsd, error.introduced)


def _suffix(rec) -> str:
    """``jit_avx2_I8`` -> ``I8``; ``fused`` for a layer that did not run on its own; ``-`` if unknown."""
    if rec is None:
        return "-"
    return rec.exec_type.rsplit("_", 1)[-1] if rec.status == EXECUTED else "fused"


def _precision(model: Model, layer: Layer, records: Mapping) -> tuple[str, str | None]:
    """The layer's exec precision, or ("fused", the executed layer that computes it)."""
    precision = _suffix(records.get(layer.name))
    if precision != "fused":
        return precision, None
    # Fusion folds a layer into the one that feeds it (bias Add and ReLU into a Convolution, a
    # FakeQuantize into the INT8 layer before it): walk up the activation inputs to a layer that ran.
    seen, todo = set(), [layer]
    while todo:
        current = todo.pop(0)
        for src in model.input_values(current):
            rec = records.get(src.layer.name)
            if src.layer.type in ("Const", "Parameter") or src.layer.name in seen:
                continue
            if rec is not None and rec.status == EXECUTED:
                return "fused", src.layer.name
            seen.add(src.layer.name)
            todo.append(src.layer)
    return "fused", None


def _side(model: Model, path: Path | None, metric: float, timing: _Timing, ov_latency: float | None) -> Side:
    from irtool.summary import summarize

    bin_path = path.with_suffix(".bin") if path is not None else None
    bin_bytes = bin_path.stat().st_size if bin_path is not None and bin_path.exists() else None
    by_precision = Counter(_suffix(r) for r in timing.records.values()
                           if r.status == EXECUTED and r.node_type not in _CONVERSIONS)
    return Side(_name(model, path), metric, timing.latency_ms, ov_latency, bin_bytes,
                sum(summarize(model).weights_bytes.values()), dict(sorted(by_precision.items())))
