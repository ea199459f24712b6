"""The Default method: statistics in one streaming pass, FakeQuantize insertion, fast bias correction,
weights compression. ``quantize(model, dataset, config) -> (Model, Report)``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from irtool.errors import InputError, UnsupportedError
from irtool.ir.graph import Input, Layer, Model, XmlNode
from irtool.passes.patterns import constant_addend
from irtool.passes.weights import compress_weights
from irtool.quantization import params as P
from irtool.quantization.config import QuantizeConfig
from irtool.quantization.insert import insert_activation_fq, insert_weight_fq, shared_ranges
from irtool.quantization.markup import Plan, WeightPoint, plan
from irtool.quantization.observe import run_observed
from irtool.quantization.ranges import parse_estimator
from irtool.quantization.statistics import TensorStats
from irtool.summary import summarize

Progress = Callable[[int, int], None]


@dataclass
class Report:
    """What a quantization run did, for the summary table and scripts."""

    model_type: str
    preset: str
    samples: int
    quantized_ops: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (layer, reason)
    activation_fqs: int = 0
    weight_fqs: int = 0
    bias_corrected: int = 0
    compressed: int = 0
    weights_bytes_before: int = 0
    weights_bytes_after: int = 0
    seconds: float = 0.0
    stats_bytes: int = 0  # memory the streaming statistics held


def quantize(model: Model, dataset: Iterable[Mapping[str, np.ndarray]], config: QuantizeConfig = QuantizeConfig(),
             progress: Progress | None = None) -> tuple[Model, Report]:
    """Default post-training quantization of ``model`` (never modified) on ``dataset`` (input dicts)."""
    t0 = time.perf_counter()
    refuse_calibrated(model)
    the_plan = plan(model, config.ignored_scope, config.model_type, config.overflow_fix)
    samples = list(dataset)
    if not samples:
        raise InputError("the calibration subset is empty: the data holds no samples")
    stats = collect_statistics(model, the_plan, samples, progress)
    out, report = build(model, the_plan, stats, config, len(samples))
    report.seconds = time.perf_counter() - t0
    return out, report


def refuse_calibrated(model: Model) -> None:
    """An already quantized model is refused: quantizing FakeQuantize outputs again only loses accuracy."""
    info = summarize(model)
    if info.quantized:
        by = ", ".join(info.quantized_by) or f"{info.fake_quantize} FakeQuantize layers"
        raise UnsupportedError(f"model '{model.name}' is already calibrated ({by}); quantize its FP32 original")


def build(model: Model, the_plan: Plan, stats: Mapping[tuple[int, int], TensorStats], config: QuantizeConfig,
          samples: int, ranges: Mapping[str, str] | None = None) -> tuple[Model, Report]:
    """The quantized copy of ``model`` for ``the_plan`` from collected ``stats`` (no inference runs).

    ``ranges`` overrides the range estimator of single activation points, by point name (the
    accuracy-aware search tries other estimators on the activations that hurt most)."""
    preset = config.preset or ("mixed" if the_plan.model_type == "transformer" else "performance")
    out = model.copy()
    report = Report(the_plan.model_type, preset, samples)
    report.weights_bytes_before = sum(summarize(model).weights_bytes.values())
    for point, (lo, hi) in zip(the_plan.activations, activation_ranges(the_plan, stats, config.range, ranges)):
        fq = P.asymmetric_activations(lo, hi) if preset == "mixed" else P.symmetric_activations(lo, hi)
        insert_activation_fq(out, point, fq)
    report.activation_fqs = len(the_plan.activations)
    for point in the_plan.weights:
        src = model.producer(point.op, 0)  # in the original graph: the tensor the statistics saw
        act_stats = stats.get((src.layer.id, src.port.id)) if config.bias_correction else None
        report.bias_corrected += _insert_weight_fq(out, point, act_stats)
    report.weight_fqs = len(the_plan.weights)
    report.quantized_ops = quantized_ops(the_plan)
    report.skipped = [(l.name, why) for l, why in the_plan.skipped]
    out.remove_dead()
    _record(out, config, preset, the_plan, samples)
    if config.compress_weights:
        out, report.compressed = compress_weights(out)
    report.weights_bytes_after = sum(summarize(out).weights_bytes.values())
    report.stats_bytes = sum(s.nbytes() for s in stats.values())
    return out, report


def quantized_ops(the_plan: Plan) -> list[str]:
    """Names of the ops that run INT8 under ``the_plan`` (their own inputs quantized: not the
    data-movement ops a quantizer was moved above)."""
    return the_plan.op_names


# ------------------------------------------------------------------------------------------- statistics
def collect_statistics(model: Model, the_plan: Plan, samples: list[Mapping[str, np.ndarray]],
                       progress: Progress | None = None) -> dict[tuple[int, int], TensorStats]:
    """One streaming pass of the FP32 plugin over ``samples``; statistics of every planned tensor."""
    wanted = {(p.tensor.layer.id, p.tensor.port.id): TensorStats(channel_axis=p.channel_axis)
              for p in the_plan.activations}
    for w in the_plan.weights:  # bias correction needs the mean of each weighted op's activation input
        src = model.producer(w.op, 0)
        key = (src.layer.id, src.port.id)
        if key not in wanted:
            wanted[key] = TensorStats(channel_axis=1 if w.op.type != "MatMul" else -1, histogram=False)
    by_layer: dict[int, list[tuple[int, TensorStats]]] = {}
    for (lid, pid), s in wanted.items():
        by_layer.setdefault(lid, []).append((model.layers[lid].output_index(pid), s))

    def observe(layer: Layer, index: int, value: np.ndarray) -> None:
        for i, s in by_layer.get(layer.id, ()):
            if i == index:
                s.update(value)

    run_observed(model, samples, observe, progress)
    missed = [model.layers[lid].name for (lid, _), s in wanted.items() if s.samples == 0]
    if missed:  # a planned tensor that no step produced: a bug, not bad input
        raise RuntimeError(f"no statistics were collected for {', '.join(missed)}")
    return wanted


def activation_ranges(the_plan: Plan, stats: Mapping[tuple[int, int], TensorStats], estimator: str,
                      overrides: Mapping[str, str] | None = None) -> list[tuple[float, float]]:
    """(low, high) per activation point, by ``estimator`` or the point's override; the points of a
    group (a Concat's inputs) get the union of their ranges."""
    overrides = overrides or {}
    ranges = [parse_estimator(overrides.get(p.name, estimator))[1](stats[(p.tensor.layer.id, p.tensor.port.id)])
              for p in the_plan.activations]
    return shared_ranges(the_plan.activations, ranges)


# ------------------------------------------------------------------------------------------- insertion
def _insert_weight_fq(model: Model, point: WeightPoint, act_stats: TensorStats | None) -> int:
    """Quantize the op's weights (``Const(f32) -> FakeQuantize``), then correct the op's bias (when
    ``act_stats`` are given); returns 1 if the bias was corrected."""
    w, fq = insert_weight_fq(model, point)
    op = model.layers[point.op.id]
    return int(_correct_bias(model, op, w, _fake_quantize(w, fq), act_stats))


def _fake_quantize(w: np.ndarray, fq: P.FQParams) -> np.ndarray:
    from irtool.runtime.kernels.fake_quantize import fake_quantize

    return fake_quantize(w, fq.input_low, fq.input_high, fq.output_low, fq.output_high, levels=fq.levels)


# ------------------------------------------------------------------------------------------- bias correction
def _correct_bias(model: Model, op: Layer, w: np.ndarray, wq: np.ndarray, s: TensorStats | None) -> bool:
    """Fast bias correction: add to the op's bias the mean output shift that weight quantization
    causes, ``(W - Wq) . mean(x)`` per output channel; skipped when the shift is >= 2x the bias (NNCF)."""
    if s is None or s.channel_mean is None:
        return False
    bias = _bias_of(model, op)
    if bias is None:
        return False
    add, index, value = bias
    shift = _output_shift(op, w - wq, s.channel_mean)
    if shift is None or shift.size != value.size:
        return False
    if np.any(np.abs(shift) >= 2 * np.maximum(np.abs(value.reshape(-1)), 1e-12)) and np.abs(value).max() > 0:
        return False
    new = (value.reshape(-1) + shift).astype(value.dtype).reshape(value.shape)
    const = model.add_constant(new, f"{add.name}/bias_corrected")
    model.connect(const, Input(add, add.inputs[index]))
    return True


def _bias_of(model: Model, op: Layer) -> tuple[Layer, int, np.ndarray] | None:
    """The Add right after ``op`` whose other input is a per-channel constant: (add, input index, value)."""
    found = constant_addend(model, op)
    if found is None or model.producer(found[0], found[1]).layer.type != "Const":  # replaced: must be a Const
        return None
    return found


def _output_shift(op: Layer, dw: np.ndarray, mean_in: np.ndarray) -> np.ndarray | None:
    """Per-output-channel ``sum(dW * mean(x))`` for conv-like and MatMul ops."""
    if op.type == "Convolution":  # [O, I, k...]: sum over kernel positions, then over input channels
        return dw.reshape(dw.shape[0], dw.shape[1], -1).sum(axis=2) @ mean_in
    if op.type == "GroupConvolution":  # [G, O/G, I/G, k...]
        g, o, i = dw.shape[:3]
        per_group = dw.reshape(g, o, i, -1).sum(axis=3)
        return np.einsum("goi,gi->go", per_group, mean_in.reshape(g, i)).reshape(g * o)
    if op.type == "MatMul" and dw.ndim == 2:
        wt = dw if op.attr_bool("transpose_b", False) else dw.T  # [N, K]
        # the statistics hold the mean per axis 1; only for a [batch, K] input is that K (a 3-D
        # [batch, tokens, K] input, as in a transformer, has per-token means: no correction)
        return wt @ mean_in if mean_in.size == wt.shape[1] else None
    return None


# ------------------------------------------------------------------------------------------- rt_info
def _record(model: Model, config: QuantizeConfig, preset: str, the_plan: Plan, samples: int) -> None:
    """irtool's parameters in rt_info, under irtool/quantization (as NNCF records nncf/quantization)."""
    import irtool

    values = {"version": irtool.__version__, "method": "default", "preset": preset, "range": config.range,
              "model_type": the_plan.model_type, "subset_size": str(samples),
              "bias_correction": str(config.bias_correction).lower(), "overflow_fix": config.overflow_fix,
              "compress_weights": str(config.compress_weights).lower()}
    scope = config.ignored_scope
    if scope.names or scope.patterns or scope.types:
        values["ignored_scope"] = repr({"names": list(scope.names), "patterns": list(scope.patterns),
                                        "types": list(scope.types)})
    node = XmlNode("quantization", children=[XmlNode(k, {"value": v}) for k, v in values.items()])
    rt = model.rt_info or XmlNode("rt_info")
    rt.children = [c for c in rt.children if c.tag != "irtool"] + [XmlNode("irtool", children=[node])]
    model.rt_info = rt
