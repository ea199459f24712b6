"""irtool: INT8 post-training quantization and INT8 CPU inference of OpenVINO IR models.

The Python API mirrors the command line::

    import irtool
    model = irtool.read_model("model.xml")      # the plain in-memory graph
    irtool.save_model(model, "copy.xml")        # written as OpenVINO's serializer writes it
    print(irtool.summarize(model))              # what `irtool info` shows
    compiled = irtool.compile_model(model)      # the numba CPU plugin
    outputs = compiled({"input": x})            # outputs by name, in model order
    print(irtool.coverage().summary())          # what `irtool ops` shows: the ops the plugin runs
"""
from irtool.coverage import coverage
from irtool.errors import GraphError, InputError, IRFormatError, IrToolError, UnsupportedError
from irtool.ir import Constant, Layer, Model, Port, read_model, save_model
from irtool.summary import summarize


def compile_model(model, shapes=None, precision="auto", fuse=True, config=None):
    """Load a model (a :class:`Model` or an .xml path) into irtool's CPU plugin; see
    :func:`irtool.runtime.compile_model`. Imported lazily: numba loads only when a model runs."""
    from irtool.runtime import compile_model as _compile

    return _compile(model, shapes, precision, fuse, config)


__version__ = "0.1.0"


def quantize(model, dataset, *, method="default", format="fq", validation=None, metric=None, accuracy=None,
             **options):
    """Post-training quantization; returns the INT8 :class:`Model` (the input is not modified).

    ``model``: a :class:`Model` or an .xml path. ``dataset``: an .npz/.npy path, a folder of .npy
    files or images, or any iterable of ``{input name: array}`` dicts (one model batch each).
    ``format``: ``"fq"`` (FakeQuantize layers, as NNCF writes) or ``"statistics"`` (the 2019 form:
    I8 marks, FP32 weights and a `<statistics>` block; see :mod:`irtool.quantization.statistics_form`).
    ``options``: the fields of :class:`irtool.quantization.QuantizeConfig` (``preset``, ``range``,
    ``model_type``, ``bias_correction``, ``overflow_fix``, ``compress_weights``, ``ignored_scope``,
    ``subset_size``).

    ``method="accuracy-aware"`` also needs ``validation``: a validation .npz path, or a pair
    (input dicts, :class:`irtool.metrics.Annotations`); ``metric``: a name (``top1``, ``map``,
    ``cosine``...), an :class:`irtool.metrics.Metric` or any callable ``fn(outputs, annotations) ->
    float``; ``accuracy``: an :class:`irtool.quantization.AccuracyConfig` (``max_drop``...).
    The run's report: the second result of ``irtool.quantization.quantize`` /
    ``irtool.quantization.quantize_with_accuracy_control``.
    """
    from pathlib import Path

    from irtool.quantization import AccuracyConfig, QuantizeConfig, quantize_with_accuracy_control
    from irtool.quantization.accuracy_aware import accuracy_aware_statistics_form
    from irtool.quantization import dataset as ds
    from irtool.quantization.default import quantize as default_method
    from irtool.quantization.statistics_form import FORMATS, statistics_form

    if format not in FORMATS:
        raise InputError(f"format '{format}' is not one of {', '.join(FORMATS)}")
    if method not in ("default", "accuracy-aware"):
        raise InputError(f"method '{method}': use 'default' or 'accuracy-aware'")
    if format == "statistics":
        options.setdefault("range", "minmax")  # the only range the 2019 form records
    if not isinstance(model, Model):
        model = read_model(model)
    config = QuantizeConfig(**options)
    if isinstance(dataset, (str, Path)):
        dataset = ds.load_dataset(dataset, compile_model(model).inputs)
    samples = ds.take(dataset, config.subset_size, warn_short="subset_size" in options)  # the default 300 is a ceiling
    if method == "default":
        return (statistics_form if format == "statistics" else default_method)(model, samples, config)[0]
    if validation is None:
        raise InputError("method 'accuracy-aware' needs validation= (a .npz path, or (inputs, annotations))")
    if isinstance(validation, (str, Path)):
        validation = ds.load_validation(validation, compile_model(model).inputs)
    inputs, annotations = validation
    accuracy = accuracy if isinstance(accuracy, AccuracyConfig) else AccuracyConfig(**(accuracy or {}))
    if format == "statistics":
        return accuracy_aware_statistics_form(model, samples, inputs, metric, annotations, config, accuracy)[0]
    return quantize_with_accuracy_control(model, samples, inputs, metric, annotations, config, accuracy)[0]


__all__ = ["compile_model", "coverage", "quantize", "Constant", "GraphError", "IRFormatError", "InputError", "IrToolError", "Layer", "Model", "Port",
           "UnsupportedError", "read_model", "save_model", "summarize", "__version__"]
