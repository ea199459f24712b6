"""The 2019 calibrated-IR form (``irtool quantize --format statistics``), as the Calibration Tool wrote it.

The FP32 IR with its FP32 weights unchanged, each calibrated layer marked ``quantization_level="I8"``
in its `<data>` (``"FP32"``: a layer that could be quantized but is kept in FP32: reverted, in the
ignored scope, or reading a tensor without statistics), and a `<statistics>` block, last in `<net>`,
with the range of every layer's output per channel. OpenVINO reads the file and computes in FP32
(its reader skips both the marks and the block); irtool's plugin runs the I8 layers in INT8
(:mod:`irtool.passes.statistics_form`).

* Marked layers: the ops the Default method quantizes (:func:`~irtool.quantization.markup.plan`:
  convolutions, MatMul, and for CNNs residual Adds and pooling), with the config's model type and
  ignored scope.
* Statistics: every layer the FP32 plugin runs whose output 0 is float (and every float input), per
  channel on axis 1 as the 2019 tool took it (``getDims()[1]``; a 2-D ``[N, C]`` output is thus per
  feature, a tensor of rank < 2 has one value). A layer whose channel count varies between samples
  gets one value in all; a layer name used twice gets none (the block is keyed by name).
* Range per channel: the lowest and highest value over the samples, what the 2019 tool recorded
  (``range="minmax"``). Other estimators are refused: a mean of per-sample extremes taken per
  channel collapses to the channel's mean where a sample has one value per channel (``[N, C]``),
  and the histogram-based ones describe a whole tensor, not its channels. ``preset="mixed"``
  (asymmetric) is refused too: the form's INT8 layers are symmetric. Bias correction, the overflow
  fix and weights compression do not apply: weights stay FP32 and are quantized at load time.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from irtool.errors import InputError, UnsupportedError
from irtool.ir.graph import Layer, LayerStats, Model
from irtool.ir.statistics import format_value
from irtool.passes.statistics_form import LEVEL, calibrated_plan
from irtool.quantization.config import QuantizeConfig
from irtool.quantization.markup import plan
from irtool.quantization.observe import run_observed
from irtool.summary import summarize

FORMATS = ("fq", "statistics")  # irtool quantize --format: FakeQuantize IR | the 2019 form
DEFAULT_CONFIG = QuantizeConfig(range="minmax")
Progress = Callable[[int, int], None]


@dataclass
class StatisticsReport:
    """What :func:`statistics_form` did."""

    model_type: str
    samples: int
    i8: list[str] = field(default_factory=list)  # layers marked I8
    fp32: list[tuple[str, str]] = field(default_factory=list)  # (layer marked FP32, why)
    statistics: int = 0  # layers with a range in the block
    seconds: float = 0.0


def statistics_form(model: Model, samples: Iterable[Mapping[str, np.ndarray]],
                    config: QuantizeConfig = DEFAULT_CONFIG, reverted: Iterable[str] = (),
                    progress: Progress | None = None) -> tuple[Model, StatisticsReport]:
    """The 2019 calibrated form of ``model`` (never modified) from ``samples`` (input dicts).

    ``reverted``: names of layers to mark FP32 (as the accuracy-aware search of the 2019 tool did);
    each must be a layer the Default method would quantize. See the module docstring for the rest.
    """
    t0 = time.perf_counter()
    _check(model, config)
    base = plan(model, config.ignored_scope, config.model_type, "none")  # validates the ignored scope
    ignored = {op.id: why for op, why in base.skipped if why.startswith("ignored scope")}
    candidates = {op.id for op in base.ops} | set(ignored)
    reverted = _checked_reverted(reverted, {model.layers[i].name for i in candidates}, model.name)
    samples = list(samples)
    if not samples:
        raise InputError("the calibration subset is empty: the data holds no samples")
    stats = collect_channel_ranges(model, samples, progress)
    scope = replace(config.ignored_scope, names=(*config.ignored_scope.names, *reverted))
    i8 = {op.id for op in calibrated_plan(model, stats, scope, base.model_type).ops}
    kept = {i: "reverted" if model.layers[i].name in reverted else ignored.get(i, "no statistics for its input")
            for i in candidates - i8}
    out = model.copy()
    out.statistics = stats
    report = StatisticsReport(base.model_type, len(samples), statistics=len(stats))
    report.i8, report.fp32 = _mark(out, i8, kept)
    report.seconds = time.perf_counter() - t0
    return out, report


def _check(model: Model, config: QuantizeConfig) -> None:
    info = summarize(model)
    if info.quantized:
        by = ", ".join(info.quantized_by) or f"{info.fake_quantize} FakeQuantize layers"
        raise UnsupportedError(f"model '{model.name}' is already calibrated ({by}); quantize its FP32 original")
    if config.preset == "mixed":
        raise InputError("preset 'mixed' (asymmetric activations) does not fit the 2019 statistics form, "
                         "whose INT8 layers are symmetric; use preset 'performance'")
    if config.range != "minmax":
        raise InputError(f"range '{config.range}' does not fit the 2019 statistics form, which records the "
                         "extremes of each channel; use range 'minmax'")


def _checked_reverted(reverted: Iterable[str], candidates: set[str], model_name: str) -> set[str]:
    names = set(reverted)
    unknown = sorted(names - candidates)
    if unknown:
        raise InputError(f"reverted layer(s) {', '.join(unknown)}: not layers that '{model_name}' quantizes "
                         "(names as in the .xml, of convolutions, MatMuls, residual Adds, pooling...)")
    return names


def _mark(model: Model, i8: set[int], kept: dict[int, str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Set ``quantization_level`` in `<data>`: I8 on ``i8``, FP32 on ``kept`` (id -> why); the names,
    in topological order."""
    marked, fp32 = [], []
    for layer in model.topological_order():
        if layer.id in i8:
            layer.attrs[LEVEL] = "I8"
            marked.append(layer.name)
        elif layer.id in kept:
            layer.attrs[LEVEL] = "FP32"
            fp32.append((layer.name, kept[layer.id]))
    return marked, fp32


# ------------------------------------------------------------------------------------------- statistics
class ChannelRange:
    """Per-channel extremes of one tensor over a calibration run (channel axis 1, batch axis 0)."""

    def __init__(self) -> None:
        self.min: np.ndarray | None = None
        self.max: np.ndarray | None = None

    def update(self, x: np.ndarray) -> None:
        """Fold one inference's tensor in."""
        x = np.asarray(x, dtype=np.float32)
        if x.size == 0:
            return
        rows = x.reshape(x.shape[0], x.shape[1], -1) if x.ndim >= 2 else x.reshape(1, 1, -1)
        lo, hi = rows.min(axis=(0, 2)), rows.max(axis=(0, 2))  # one value per channel
        if self.min is not None and lo.size != self.min.size:
            # the channel count changed (a dynamic axis 1): one range for the whole tensor from now on
            self.min, self.max = self.min.min(keepdims=True), self.max.max(keepdims=True)
        if self.min is not None and self.min.size == 1:
            lo, hi = lo.min(keepdims=True), hi.max(keepdims=True)
        self.min = lo if self.min is None else np.minimum(self.min, lo)
        self.max = hi if self.max is None else np.maximum(self.max, hi)

    def result(self) -> LayerStats | None:
        """The range per channel, as the file will hold it (None when never seen or not finite)."""
        if self.min is None:
            return None
        lo, hi = self.min.astype(np.float64), self.max.astype(np.float64)
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            return None
        return LayerStats(_as_written(lo), _as_written(hi))


def _as_written(values: np.ndarray) -> np.ndarray:
    """The values as the file will spell them: the model in memory and the one read back agree."""
    return np.array([float(format_value(float(v))) for v in values], dtype=np.float64)


def collect_channel_ranges(model: Model, samples: list[Mapping[str, np.ndarray]],
                           progress: Progress | None = None) -> dict[str, LayerStats]:
    """One pass of the FP32 plugin over ``samples``: the range per channel of every float layer
    output 0 and model input, by layer name, in file order."""
    names = Counter(l.name for l in model)
    ranges: dict[int, ChannelRange] = {}

    def observe(layer: Layer, index: int, value: np.ndarray) -> None:
        value = np.asarray(value)
        if index == 0 and value.dtype.kind == "f" and names[layer.name] == 1:
            ranges.setdefault(layer.id, ChannelRange()).update(value)

    run_observed(model, samples, observe, progress)
    found = {lid: r.result() for lid, r in ranges.items()}
    return {l.name: found[l.id] for l in model if found.get(l.id) is not None}
