"""irtool: INT8 post-training quantization and INT8 CPU inference of OpenVINO IR models.

The Python API mirrors the command line::

    import irtool
    model = irtool.read_model("model.xml")      # the plain in-memory graph
    irtool.save_model(model, "copy.xml")        # written as OpenVINO's serializer writes it
    print(irtool.summarize(model))              # what `irtool info` shows
"""
from irtool.errors import GraphError, InputError, IRFormatError, IrToolError, UnsupportedError
from irtool.ir import Constant, Layer, Model, Port, read_model, save_model
from irtool.summary import summarize

__version__ = "0.1.0"

__all__ = ["Constant", "GraphError", "IRFormatError", "InputError", "IrToolError", "Layer", "Model", "Port",
           "UnsupportedError", "read_model", "save_model", "summarize", "__version__"]
