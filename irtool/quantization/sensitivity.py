"""Per-layer sensitivity: how far each layer of a model strays from the same layer of a reference.

Used by the AccuracyAware method (which ops to try in FP32 first) and by ``irtool compare`` (the
per-layer table). Both models run in irtool's plugin in FP32 (FakeQuantize emulated, the 2019 form's
I8 marks expanded into FakeQuantize first, no epilogue fusion), so every layer's own output is
visible; layers are matched by name, which quantization keeps for the compute layers.

- ``nrmsd``: the error of a layer's output, as the 2019 Calibration Tool ranked layers: the RMS
  deviation from the reference tensor divided by that tensor's range (max - min), averaged over
  samples. Errors propagate, so it grows along the network.
- ``introduced``: the error the layer adds itself: its NRMSD when the layers before it deliver the
  reference's tensors (its input quantizers, weights and arithmetic are the model's own, a quantizer
  moved above a MaxPool or Reshape included; data-movement layers add none). This is "its NRMSD
  minus what its inputs bring", measured rather than subtracted: a difference of NRMSDs misleads
  where a layer rescales the error it inherits. On samples/digits_cnn_fragile.xml (Default INT8, its
  validation set) subtraction ranks the classifier MatMul first, 0.074 (its logits have a small
  range), ahead of conv2, 0.030, whose input quantizer the loud channels ruin; measured, the MatMul
  adds 0.009 and conv2 0.030. It points at the culprit.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from irtool.ir.graph import Layer, Model, Output
from irtool.passes.fold import is_constant
from irtool.quantization.markup import AGNOSTIC

Key = tuple[str, int]  # (layer name, output position): a tensor, by the name both models share
SKIPPED = ("Const", "Parameter", "Result", "FakeQuantize")  # not compute layers, or a quantizer (its
# error is charged to the layer it quantizes for: see activation_sources)


@dataclass(frozen=True)
class LayerError:
    """One layer's error against the reference, averaged over the samples."""

    nrmsd: float  # the worst of its outputs, errors of earlier layers included (NaN: not measured)
    introduced: float  # the same, the layer fed the reference's tensors: the error it adds


def nrmsd(value: np.ndarray, ref: np.ndarray) -> float:
    """Normalized root-mean-square deviation: RMS(value - ref) / (max - min of ref); the plain RMS
    deviation when ``ref`` is constant (no range to normalize by)."""
    ref = np.asarray(ref, np.float64)
    if not ref.size:
        return 0.0
    span = float(ref.max() - ref.min())
    rmsd = float(np.sqrt(np.mean((np.asarray(value, np.float64) - ref) ** 2)))
    return rmsd / span if span > 0 else rmsd


def comparable_layers(reference: Model, model: Model) -> list[Layer]:
    """Layers of ``model`` in topological order that ``reference`` has too: same name, same output
    shapes. Constants, inputs, outputs, quantizers and layers computed from constants only (weights
    decompression, shape arithmetic) are left out: they are not where activations lose accuracy."""
    shapes = {l.name: [p.dims for p in l.outputs] for l in reference if l.type not in SKIPPED}
    const: dict = {}
    return [l for l in model.topological_order()
            if l.type not in SKIPPED and shapes.get(l.name) == [p.dims for p in l.outputs]
            and not is_constant(model, Output(l, l.outputs[0]), const)]


def activation_sources(model: Model, layer: Layer, const: dict | None = None) -> list[Key]:
    """The tensors ``layer`` computes from: its non-constant inputs, each traced back through
    FakeQuantize and data-movement layers (MaxPool, Reshape...: they keep values) to the layer that
    computed it. Fed the reference's tensors there, the layer still reads them through its own input
    quantizers, wherever the quantizer was placed: their error is error the layer introduces."""
    const = {} if const is None else const
    keys = []
    for src in model.input_values(layer):
        while src.layer.type == "FakeQuantize" or (src.layer.type in AGNOSTIC and src.index == 0):
            src = model.producer(src.layer, 0)
        if not is_constant(model, src, const):
            keys.append((src.layer.name, src.index))
    return keys


def layer_errors(reference: Model, model: Model, samples: Iterable[Mapping[str, np.ndarray]],
                 layers: Sequence[Layer] | None = None, propagated: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, LayerError]:
    """NRMSD and introduced error of ``layers`` of ``model`` (default: :func:`comparable_layers`)
    against the same-named layers of ``reference``, averaged over ``samples`` (input dicts), in the
    order of ``layers``. Per sample: one run of the reference, one of ``model`` as it is (skipped when
    not ``propagated``: ``nrmsd`` is then NaN) and one of ``model`` with the :func:`activation_sources`
    of ``layers`` replaced by the reference's tensors. A tensor the reference lacks, or has in another
    shape, counts as error 0 and is not replaced. Memory: the reference's tensors of one sample."""
    layers = comparable_layers(reference, model) if layers is None else list(layers)
    const: dict = {}
    own = {l.name: [(l.name, i) for i in range(len(l.outputs))] for l in layers}
    measured = {k for keys in own.values() for k in keys}
    sources = {k for l in layers for k in activation_sources(model, l, const)}
    kept = measured | sources  # the reference's tensors held per sample
    ref_run, run = _fp32_request(reference), _fp32_request(model)
    free, fed = dict.fromkeys(measured, 0.0), dict.fromkeys(measured, 0.0)
    samples = list(samples)
    for n, sample in enumerate(samples):
        ref: dict[Key, np.ndarray] = {}
        ref_run.infer(sample, _keep(ref, kept))
        if propagated:
            run.infer(sample, _measure(ref, free, substitute=set()))
        run.infer(sample, _measure(ref, fed, substitute=sources))  # last: it hands ref's arrays to kernels
        if progress:
            progress(n + 1, len(samples))
    count = max(len(samples), 1)

    def worst(total: dict[Key, float], layer: Layer) -> float:  # the worst output, averaged over samples
        return max(total[k] for k in own[layer.name]) / count
    return {l.name: LayerError(worst(free, l) if propagated else float("nan"), _introduced(l, worst(fed, l)))
            for l in layers}


def _introduced(layer: Layer, measured: float) -> float:
    """A data-movement layer adds no error (max, reshape.. of quantized values are quantized values:
    exact); what it shows fed exact inputs is the quantizer in front of it, which belongs to the
    layer it quantizes for, and is charged there (see :func:`activation_sources`)."""
    return 0.0 if layer.type in AGNOSTIC else measured


def _keep(ref: dict[Key, np.ndarray], kept: set[Key]):
    """An observer storing a copy of each tensor in ``kept`` (the plugin may reuse its arrays)."""
    def observe(layer: Layer, k: int, value: np.ndarray | None) -> None:
        if (layer.name, k) in kept and value is not None:  # None: an output nothing reads
            ref[(layer.name, k)] = value.copy()
    return observe


def _measure(ref: Mapping[Key, np.ndarray], total: dict[Key, float], substitute: set[Key]):
    """An observer adding each measured tensor's NRMSD against ``ref`` to ``total``, then replacing
    the tensors in ``substitute`` by the reference's: the layers after read exact inputs."""
    def observe(layer: Layer, k: int, value: np.ndarray | None) -> np.ndarray | None:
        key = (layer.name, k)
        expected = ref.get(key)
        if expected is None or value is None or np.shape(value) != expected.shape:
            return None
        if key in total:
            total[key] += nrmsd(value, expected)
        return expected if key in substitute and expected.dtype == np.asarray(value).dtype else None
    return observe


def _fp32_request(model: Model):
    """An infer request running ``model`` as irtool computes it in INT8, emulated in FP32, unfused:
    every layer's own output is observed (a fused Add/ReLU would hide the Convolution's)."""
    from irtool.passes.statistics_form import expand_statistics
    from irtool.runtime import compile_model

    # precision="fp32" ignores the 2019 form's I8 marks: make them FakeQuantize layers first
    return compile_model(expand_statistics(model), precision="fp32", fuse=False).create_infer_request()
