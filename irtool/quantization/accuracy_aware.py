"""The AccuracyAware method: Default quantization, then the least INT8 given up to meet an accuracy budget.

1. Evaluate the FP32 model and the Default INT8 model on the validation samples; done if the drop
   is within ``max_drop``.
2. Cheap fixes that keep every op INT8, each kept only if the full metric improves:
   cross-layer equalization across ReLU (loud channels no longer own a per-tensor range), then
   other range estimators for the activations of the ops that introduce the most error.
3. Reverting ops to FP32, one at a time: the ranking subset is the validation samples INT8 hurts
   most; candidate ops are pre-filtered by the output error each introduces (NRMSD of its output,
   INT8 emulation fed the FP32 model's tensors: :mod:`irtool.quantization.sensitivity`), then scored
   by reverting each alone and measuring the metric on the subset; the op whose revert helps MOST
   goes back to FP32 (the sort is descending by improvement -- NNCF's ascending sort can pick the
   least harmful op in its error mode). The full metric decides: a step that makes it worse is
   rolled back and the next candidate tried; ranking is redone after each kept step. Reverting
   everything, or ``max_iter`` steps, without meeting the budget is a failure
   (:class:`AccuracyError`), unless ``keep_best``.

Statistics are collected once and reused: a revert only re-plans and rebuilds the model.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from irtool.errors import InputError, IrToolError
from irtool.ir.graph import Model
from irtool.quantization.config import QuantizeConfig
from irtool.quantization.default import (Report, build, collect_statistics, quantized_ops, refuse_calibrated)
from irtool.quantization.markup import Plan, plan
from irtool.quantization.sensitivity import layer_errors
from irtool.quantization.statistics import TensorStats

DROP_TYPES = ("absolute", "relative")
NRMSD_SAMPLES = 100  # the per-layer error pre-filter needs fewer samples than the ranking itself
ESTIMATORS = ("minmax", "mean_minmax", "percentile:99.99", "kl", "mse")
Progress = Callable[[str, float], None]  # (what is being done, fraction of it done)


class AccuracyError(IrToolError):
    """The budget could not be met; ``report`` says what was tried."""

    def __init__(self, message: str, report: AccuracyReport):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class AccuracyConfig:
    """Options of the AccuracyAware method (defaults as NNCF's accuracy control where it has one)."""

    max_drop: float = 0.01  # in the metric's own units (top-1 as a fraction: 0.01 = 1 point)
    drop_type: str = "absolute"  # absolute | relative (drop / |FP32 metric|)
    max_iter: int = 100  # revert steps at most
    ranking_subset: int = 300  # samples the ranking evaluates on (the ones INT8 hurts most)
    candidates: int = 8  # ops scored by a trial revert after the error pre-filter (0: all)
    fixes: bool = True  # try equalization and range estimators before reverting anything
    keep_best: bool = False  # on failure, return the best model found instead of raising

    def __post_init__(self):
        if self.drop_type not in DROP_TYPES:
            raise InputError(f"drop type '{self.drop_type}' is not one of {', '.join(DROP_TYPES)}")
        if self.max_drop < 0:
            raise InputError(f"--max-drop must be >= 0, got {self.max_drop}")
        if self.max_iter < 0 or self.ranking_subset <= 0 or self.candidates < 0:
            raise InputError("--max-iter and --candidates must be >= 0 and the ranking subset > 0")


@dataclass
class Step:
    """One evaluated change: what was done, the full-set metric after it, and whether it was kept."""

    action: str
    metric: float
    drop: float
    int8_ops: int
    kept: bool


@dataclass
class AccuracyReport:
    """What the search did, for the summary table and scripts."""

    metric: str
    fp32: float
    default: float
    final: float = float("nan")
    drop: float = float("nan")
    max_drop: float = 0.01
    drop_type: str = "absolute"
    met: bool = False
    reverted: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    int8_ops: int = 0
    quantizable_ops: int = 0
    steps: list[Step] = field(default_factory=list)
    evaluations: int = 0
    seconds: float = 0.0
    quantization: Report | None = None  # the Default method's report for the final model


@dataclass
class _State:
    """A candidate quantization: the FP32 model it starts from, reverted ops, per-point estimators."""

    base: Model
    stats: dict[tuple[int, int], TensorStats]
    reverted: tuple[str, ...] = ()
    ranges: Mapping[str, str] = field(default_factory=dict)


def quantize_with_accuracy_control(
        model: Model, calibration: Sequence[Mapping[str, np.ndarray]], validation: Sequence[Mapping[str, np.ndarray]],
        metric=None, annotations=None, config: QuantizeConfig = QuantizeConfig(),
        accuracy: AccuracyConfig = AccuracyConfig(), progress: Progress | None = None) -> tuple[Model, AccuracyReport]:
    """AccuracyAware quantization of ``model`` (never modified).

    ``calibration``: input dicts for statistics; ``validation``: input dicts (one model batch each)
    the metric is computed on; ``metric``: an :class:`irtool.metrics.Metric` (or anything
    :func:`irtool.metrics.get_metric` accepts; None: what the annotations call for, see
    :func:`irtool.metrics.default_metric`) with its ``annotations`` (labels, boxes).
    Returns the quantized model and the report; raises :class:`AccuracyError` when the budget
    cannot be met (unless ``accuracy.keep_best``)."""
    from irtool.metrics import default_metric, get_metric

    t0 = time.perf_counter()
    metric = default_metric(annotations) if metric is None else metric
    refuse_calibrated(model)
    calibration, validation = list(calibration), list(validation)
    if not calibration or not validation:
        raise InputError("accuracy-aware quantization needs calibration samples and validation samples")
    search = _Search(model, calibration, validation, get_metric(metric), annotations, config, accuracy, progress)
    try:
        return search.run()
    finally:
        search.report.seconds = time.perf_counter() - t0
        if search.report.quantization is not None:
            search.report.quantization.seconds = search.report.seconds


def accuracy_aware_statistics_form(model: Model, calibration, validation, metric=None, annotations=None,
                                   config: QuantizeConfig = QuantizeConfig(), accuracy: AccuracyConfig = AccuracyConfig(),
                                   progress: Progress | None = None):
    """The search, then the 2019 statistics form with the reverted ops marked FP32: (model, the
    search's report, the form's report). The form records min/max only, so the search only reverts
    (no equalization or other range estimators, which the form could not carry)."""
    from irtool.quantization.statistics_form import statistics_form

    _, report = quantize_with_accuracy_control(model, calibration, validation, metric, annotations, config,
                                               replace(accuracy, fixes=False), progress)
    quantized, form = statistics_form(model, calibration, config, reverted=report.reverted)
    return quantized, report, form


class _Search:
    """One accuracy-aware run: the FP32 reference outputs, the cache of built candidates, the report."""

    def __init__(self, model, calibration, validation, metric, annotations, config, accuracy, progress):
        self.model, self.calibration, self.validation = model, calibration, validation
        self.metric, self.annotations = metric, annotations
        self.config = replace(config, ignored_scope=replace(config.ignored_scope, validate=True))
        self.accuracy = accuracy
        self.say = progress or (lambda text, fraction: None)
        self.batch = int(np.shape(next(iter(validation[0].values())))[0] or 1)  # samples per validation batch
        self._built: dict[tuple, tuple[Model, Report]] = {}
        self._evaluated: dict[tuple, list[dict]] = {}
        self._errors: dict[tuple, dict[str, float]] = {}
        self.report = AccuracyReport(metric.name, float("nan"), float("nan"), max_drop=accuracy.max_drop,
                                     drop_type=accuracy.drop_type)
        self.reference = self._outputs(model, "FP32 baseline")
        self.report.fp32 = self._compute(self.reference)

    # ------------------------------------------------------------------------------------- the search
    def run(self) -> tuple[Model, AccuracyReport]:
        r = self.report
        self.say("calibration", 0.0)
        the_plan = self._plan(self.model, ())
        stats = collect_statistics(self.model, the_plan, self.calibration, lambda i, n: self.say("calibration", i / n))
        state = _State(self.model, stats)
        value, quantized = self._evaluate(state, "Default quantization")
        r.default = value
        r.quantizable_ops = len(quantized_ops(the_plan))
        self._step("Default quantization", state, value, kept=True)
        best = (value, state)
        if not self._within(value) and self.accuracy.fixes:
            best = self._fixes(best)
        if not self._within(best[0]):
            best = self._revert(best)
        return self._finish(best)

    def _fixes(self, best: tuple[float, _State]) -> tuple[float, _State]:
        """Changes that keep every op INT8; each kept only if the full metric improves."""
        from irtool.passes.equalize import equalize

        value, state = best
        equalized, pairs = equalize(state.base)
        if pairs:
            self.say("cross-layer equalization", 0.0)
            stats = collect_statistics(equalized, self._plan(equalized, ()), self.calibration,
                                       lambda i, n: self.say("cross-layer equalization", i / n))
            trial = _State(equalized, stats, state.reverted, state.ranges)
            got, _ = self._evaluate(trial, "cross-layer equalization")
            action = f"cross-layer equalization ({pairs} pair{'s' * (pairs > 1)})"
            if self._better(got, value):
                value, state = got, trial
                self.report.fixes.append(action)
            self._step(action, trial, got, kept=state is trial)
        if self._within(value):
            return value, state
        subset = self._ranking_subset(state)
        errors = self._introduced_errors(state, subset[:NRMSD_SAMPLES])
        for op in sorted(errors, key=errors.get, reverse=True)[:3]:
            value, state = self._try_ranges(op, value, state, subset)
            if self._within(value):
                break
        return value, state

    def _try_ranges(self, op: str, value: float, state: _State, subset: list[int]) -> tuple[float, _State]:
        """Other range estimators for the activation quantizers in front of ``op``."""
        the_plan = self._plan(state.base, state.reverted)
        points = [p for p in the_plan.activations if any(c.layer.name == op for c in p.consumers)]
        for point in points:
            current = state.ranges.get(point.name, self.config.range)
            score = self._subset_score(state, subset)
            choice = None
            for est in ESTIMATORS:
                if est == current:
                    continue
                trial = replace(state, ranges={**state.ranges, point.name: est})
                got = self._subset_score(trial, subset)
                if got > score:
                    score, choice = got, trial
            if choice is None:
                continue
            est = choice.ranges[point.name]
            got, _ = self._evaluate(choice, f"range {est} for {op}")
            action = f"range estimator {est} for the input of {op}"
            kept = self._better(got, value)
            self._step(action, choice, got, kept)
            if kept:
                value, state = got, choice
                self.report.fixes.append(action)
        return value, state

    def _revert(self, best: tuple[float, _State]) -> tuple[float, _State]:
        value, state = best
        steps = 0
        while not self._within(value) and steps < self.accuracy.max_iter:
            ranked = self._rank(state)
            if not ranked:
                break
            for op in ranked:
                trial = replace(state, reverted=(*state.reverted, op))
                got, _ = self._evaluate(trial, f"revert {op}")
                steps += 1
                kept = not self._better(value, got)  # not worse: a tie still frees the ranking
                what = f"{op} ({state.base.layer(op).type})"
                self._step(f"revert {what} to FP32" if kept else f"revert {what} (rolled back: worse)", trial, got, kept)
                if kept:
                    value, state = got, trial
                    break
                if steps >= self.accuracy.max_iter:
                    break
            else:
                break  # every candidate made it worse
        return value, state

    def _finish(self, best: tuple[float, _State]) -> tuple[Model, AccuracyReport]:
        value, state = best
        r = self.report
        model, qreport = self._build(state)
        r.reverted = list(state.reverted)
        r.int8_ops = len(qreport.quantized_ops)
        # An all-FP32 model "meets" any budget, but it is not a quantized model: a failure.
        r.final, r.drop, r.met = value, self._drop(value), self._within(value) and r.int8_ops > 0
        r.quantization = qreport
        if not r.met and not self.accuracy.keep_best:
            reverts = sum(1 for s in r.steps if s.action.startswith("revert"))
            what = ("every quantized op was reverted" if r.int8_ops == 0 else
                    f"--max-iter {self.accuracy.max_iter} revert steps reached" if reverts >= self.accuracy.max_iter
                    else "no further revert improved the metric")
            raise AccuracyError(
                f"accuracy budget not met: {self.metric.name} drop {self._fmt(r.drop)} > {self._fmt(r.max_drop)} "
                f"({r.drop_type}); {what}; best {self.metric.name} {value:.4f} vs FP32 {r.fp32:.4f}, with "
                f"{len(state.reverted)} op(s) in FP32. Nothing written: raise --max-drop, or pass --keep-best", r)
        return model, r

    # ------------------------------------------------------------------------------------- ranking
    def _rank(self, state: _State) -> list[str]:
        """Ops still INT8, best revert first: pre-filtered by introduced error, scored by a trial revert."""
        subset = self._ranking_subset(state)
        errors = self._introduced_errors(state, subset[:NRMSD_SAMPLES])
        ops = sorted(errors, key=errors.get, reverse=True)
        if self.accuracy.candidates:
            ops = ops[:self.accuracy.candidates]
        scores = {}
        for i, op in enumerate(ops):
            self.say(f"ranking {op}", i / max(len(ops), 1))
            scores[op] = self._subset_score(replace(state, reverted=(*state.reverted, op)), subset)
        # Highest score after the revert first: the op whose FP32 return helps most.
        return sorted(scores, key=lambda op: (scores[op], errors[op]), reverse=True)

    def _ranking_subset(self, state: _State) -> list[int]:
        """Indices of the validation batches INT8 hurts most (by the metric per sample, then by
        output error), at most ``ranking_subset`` of them."""
        outputs = self._evaluated.get(self._key(state)) or self._outputs(self._build(state)[0], "ranking subset")
        error = np.array([_nmse(o, r) for o, r in zip(outputs, self.reference)])
        harm = np.zeros(len(outputs))
        q = self.metric.per_sample(outputs, self.annotations, self.reference)
        f = self.metric.per_sample(self.reference, self.annotations, self.reference)
        if q is not None and f is not None and np.size(q) == len(outputs) * self.batch:
            harm = (np.asarray(f, float) - np.asarray(q, float)).reshape(len(outputs), -1).sum(axis=1)
        order = np.lexsort((-error, -harm))  # most harmed first, then largest output error
        return sorted(order[:self.accuracy.ranking_subset].tolist())

    def _subset_score(self, state: _State, subset: list[int]) -> tuple[float, float]:
        """(metric on the subset, -output error): the larger, the better the state on the subset."""
        # FakeQuantize emulated in FP32: the same numbers as the integer path within a quantization
        # step, and cheaper; a ranking only has to order the candidates.
        compiled = self._compile(self._build(state)[0], precision="fp32")
        outputs = [compiled(self.validation[i]) for i in subset]
        reference = [self.reference[i] for i in subset]
        annotations = _subset(self.annotations, subset, self.batch)
        q = self.metric.per_sample(outputs, annotations, reference)
        value = float(np.mean(q)) if q is not None else self.metric.compute(outputs, annotations, reference)
        value = value if self.metric.higher_is_better else -value
        return value, -float(np.mean([_nmse(o, r) for o, r in zip(outputs, reference)]))

    def _introduced_errors(self, state: _State, subset: list[int]) -> dict[str, float]:
        """Per INT8 op: the error it introduces (NRMSD of its output, INT8 emulation fed the FP32
        model's tensors, against FP32), averaged over ``subset``. Kept per state: the fixes and the
        first ranking ask for the same state's."""
        key = (self._key(state), tuple(subset))
        if key not in self._errors:
            quantized, report = self._build(state)
            names = set(report.quantized_ops)
            ops = [l for l in quantized if l.name in names]
            samples = [self.validation[i] for i in subset]
            errors = layer_errors(state.base, quantized, samples, ops, propagated=False)
            self._errors[key] = {op.name: errors[op.name].introduced for op in ops}
        return self._errors[key]

    # ------------------------------------------------------------------------------------- helpers
    def _plan(self, model: Model, reverted: tuple[str, ...]) -> Plan:
        scope = self.config.ignored_scope
        scope = replace(scope, names=(*scope.names, *reverted), validate=not reverted and scope.validate)
        return plan(model, scope, self.config.model_type, self.config.overflow_fix)

    @staticmethod
    def _key(state: _State) -> tuple:
        return id(state.base), state.reverted, tuple(sorted(state.ranges.items()))

    def _build(self, state: _State) -> tuple[Model, Report]:
        key = self._key(state)
        if key not in self._built:
            the_plan = self._plan(state.base, state.reverted)
            missing = [p for p in the_plan.activations if (p.tensor.layer.id, p.tensor.port.id) not in state.stats]
            if missing:  # a revert can move a quantizer onto a tensor the first pass did not watch
                state.stats.update(collect_statistics(state.base, Plan(activations=missing), self.calibration))
            if len(self._built) > 64:
                self._built.clear()
            self._built[key] = build(state.base, the_plan, state.stats, self.config, len(self.calibration), state.ranges)
        return self._built[key]

    def _evaluate(self, state: _State, what: str) -> tuple[float, Model]:
        model, _ = self._build(state)
        outputs = self._outputs(model, what)
        self._evaluated[self._key(state)] = outputs  # the ranking subset of a kept state reuses them
        while len(self._evaluated) > 4:
            self._evaluated.pop(next(iter(self._evaluated)))
        return self._compute(outputs), model

    def _outputs(self, model: Model, what: str) -> list[dict]:
        compiled = self._compile(model)
        outputs = []
        for i, sample in enumerate(self.validation):
            outputs.append(compiled(sample))
            if i % 16 == 0:
                self.say(what, i / len(self.validation))
        return outputs

    def _compile(self, model: Model, precision: str = "auto"):
        from irtool.runtime import compile_model

        return compile_model(model, precision=precision)

    def _compute(self, outputs: list[dict]) -> float:
        self.report.evaluations += 1
        return float(self.metric.compute(outputs, self.annotations, self.reference))

    def _step(self, action: str, state: _State, value: float, kept: bool) -> None:
        ops = len(quantized_ops(self._plan(state.base, state.reverted)))
        self.report.steps.append(Step(action, value, self._drop(value), ops, kept))

    def _drop(self, value: float) -> float:
        fp32 = self.report.fp32
        drop = fp32 - value if self.metric.higher_is_better else value - fp32
        return drop / abs(fp32) if self.accuracy.drop_type == "relative" and fp32 else drop

    def _within(self, value: float) -> bool:
        return self._drop(value) <= self.accuracy.max_drop + 1e-12

    def _better(self, a: float, b: float) -> bool:
        """``a`` strictly better than ``b`` for this metric."""
        return a > b if self.metric.higher_is_better else a < b

    def _fmt(self, drop: float) -> str:
        return f"{drop * 100:.2f}%" if self.accuracy.drop_type == "relative" else f"{drop:.4f}"


def _nmse(out: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray]) -> float:
    """|ref - out|^2 / |ref|^2 over the first output of one batch (:func:`irtool.metrics.nmse`)."""
    from irtool.metrics import nmse

    a, b = (np.asarray(next(iter(o.values())), np.float64).reshape(1, -1) for o in (out, ref))
    return float(nmse(a, b)[0])


def _subset(annotations, batches: list[int], batch: int):
    """The annotations of the chosen batches, re-indexed as if those were the whole data set."""
    if annotations is None:
        return None
    return annotations.select([b * batch + j for b in batches for j in range(batch)])
