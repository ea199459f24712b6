"""The IR layer: the in-memory graph and its reading/writing as OpenVINO .xml + .bin."""
from irtool.ir.graph import (BackEdge, Constant, Edge, Input, Layer, LayerStats, Model, Output, Port, PortMap,
                             XmlNode)
from irtool.ir.reader import read_model
from irtool.ir.writer import save_model, serialize

__all__ = ["BackEdge", "Constant", "Edge", "Input", "Layer", "LayerStats", "Model", "Output", "Port", "PortMap",
           "XmlNode", "read_model", "save_model", "serialize"]
