"""irtool: INT8 post-training quantization and INT8 CPU inference of OpenVINO IR models.

The Python API mirrors the command line::

    import irtool
    model = irtool.read_model("model.xml")      # the plain in-memory graph
    irtool.save_model(model, "copy.xml")        # written as OpenVINO's serializer writes it
    print(irtool.summarize(model))              # what `irtool info` shows
    compiled = irtool.compile_model(model)      # the numba CPU plugin
    outputs = compiled({"input": x})            # outputs by name, in model order
"""
from irtool.errors import GraphError, InputError, IRFormatError, IrToolError, UnsupportedError
from irtool.ir import Constant, Layer, Model, Port, read_model, save_model
from irtool.summary import summarize


def compile_model(model, shapes=None, precision="auto", fuse=True):
    """Load a model (a :class:`Model` or an .xml path) into irtool's CPU plugin; see
    :func:`irtool.runtime.compile_model`. Imported lazily: numba loads only when a model runs."""
    from irtool.runtime import compile_model as _compile

    return _compile(model, shapes, precision, fuse)


__version__ = "0.1.0"


def quantize(model, dataset, format="fq", **options):
    """Default post-training quantization; returns the INT8 :class:`Model` (the input is not modified).

    ``model``: a :class:`Model` or an .xml path. ``dataset``: an .npz/.npy path, a folder of .npy
    files or images, or any iterable of ``{input name: array}`` dicts (one model batch each).
    ``format``: ``"fq"`` (FakeQuantize layers, as NNCF writes) or ``"statistics"`` (the 2019 form:
    I8 marks, FP32 weights and a `<statistics>` block; see :mod:`irtool.quantization.statistics_form`).
    ``options``: the fields of :class:`irtool.quantization.QuantizeConfig` (``preset``, ``range``,
    ``model_type``, ``bias_correction``, ``overflow_fix``, ``compress_weights``, ``ignored_scope``,
    ``subset_size``). The run's report is available as ``irtool.quantization.quantize``'s second result.
    """
    from pathlib import Path

    from irtool.quantization import QuantizeConfig
    from irtool.quantization import dataset as ds
    from irtool.quantization.default import quantize as default_method
    from irtool.quantization.statistics_form import FORMATS, statistics_form

    if format not in FORMATS:
        raise InputError(f"format '{format}' is not one of {', '.join(FORMATS)}")
    if format == "statistics":
        options.setdefault("range", "minmax")  # the only range the 2019 form records
    run = statistics_form if format == "statistics" else default_method
    if not isinstance(model, Model):
        model = read_model(model)
    config = QuantizeConfig(**options)
    if isinstance(dataset, (str, Path)):
        dataset = ds.load_dataset(dataset, compile_model(model).inputs)
    return run(model, ds.take(dataset, config.subset_size), config)[0]

__all__ = ["compile_model", "quantize", "Constant", "GraphError", "IRFormatError", "InputError", "IrToolError", "Layer", "Model", "Port",
           "UnsupportedError", "read_model", "save_model", "summarize", "__version__"]
