"""The IR layer: the in-memory graph and its reading/writing as OpenVINO .xml + .bin."""
from irtool.ir.graph import Constant, Edge, Input, Layer, LayerStats, Model, Output, Port, XmlNode
from irtool.ir.reader import read_model
from irtool.ir.writer import save_model, serialize

__all__ = ["Constant", "Edge", "Input", "Layer", "LayerStats", "Model", "Output", "Port", "XmlNode", "read_model",
           "save_model", "serialize"]
