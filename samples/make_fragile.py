"""A model made fragile on purpose, for accuracy-aware quantization: samples/digits_cnn_fragile.xml.

Four output channels of the digits CNN's first convolution (weights and bias) are scaled up 100x
and the second convolution's matching input channels scaled down 100x. ReLU and MaxPool commute with
positive scaling, so the FP32 model computes the same function (same top-1), but per-tensor INT8
activations between the two convolutions now spend their 256 levels on four loud channels: Default
quantization loses ~15 points of top-1. irtool only, no torch: ``python samples/make_fragile.py``.
Use it with digits_cnn_calib.npz and digits_cnn_val.npz.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import irtool
from irtool.passes.equalize import pairs, rescale

HERE = Path(__file__).resolve().parent
CHANNELS = (2, 5, 9, 13)
FACTOR = 100.0


def make_fragile(src: Path = HERE / "digits_cnn.xml", channels=CHANNELS, factor: float = FACTOR) -> irtool.Model:
    """The model of ``src`` with ``channels`` between its first two convolutions scaled by ``factor``."""
    model = irtool.read_model(src)
    first = pairs(model)[0]
    s = np.ones(first.first.outputs[0].dims[1])
    s[list(channels)] = 1.0 / factor
    rescale(model, first, s)
    model.name = "digits_cnn_fragile"
    return model


if __name__ == "__main__":
    out = HERE / "digits_cnn_fragile.xml"
    irtool.save_model(make_fragile(), out)
    print(f"wrote {out}")
