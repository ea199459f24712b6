"""Quantizer parameters from ranges: pure functions, no graph, no I/O.

Conventions follow NNCF (``quantization/fake_quantize.py``) so that an irtool INT8 IR is what an
OpenVINO user expects:

* weights: symmetric, per output channel, levels 255 (narrow range, -127..127), ``il = -max|w|``;
* activations, symmetric (``performance`` preset): levels 256; unsigned ``[0, max]`` when the tensor
  is never negative, else signed ``[-max * 256/254, max]`` (the grid -128..127 with 127 at ``max``);
* activations, asymmetric (``mixed`` preset): levels 256 over ``[min(lo, 0), max(hi, 0)]``, the
  borders nudged so that 0.0 falls exactly on a level;
* ``half_range`` (the overflow fix): weights use only 7 bits of the 8-bit grid, so that the u8 x s8
  pair sums of ``vpmaddubsw`` cannot saturate int16 on CPUs without VNNI.

The FakeQuantize output range always equals its input range (quantize-dequantize).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WEIGHT_LEVELS = 255
ACTIVATION_LEVELS = 256


@dataclass(frozen=True)
class FQParams:
    """Inputs 1..4 and the ``levels`` attribute of one FakeQuantize."""

    input_low: np.ndarray
    input_high: np.ndarray
    output_low: np.ndarray
    output_high: np.ndarray
    levels: int

    @property
    def scale(self) -> np.ndarray:
        """Size of one quantization step."""
        return (self.output_high - self.output_low) / (self.levels - 1)


def _fq(low: np.ndarray, high: np.ndarray, levels: int) -> FQParams:
    low = np.asarray(low, dtype=np.float32)
    high = np.asarray(high, dtype=np.float32)
    return FQParams(low, high, low, high, levels)


def fix_zero_range(max_abs: np.ndarray) -> np.ndarray:
    """Channels whose range is (almost) zero get a small positive one: a zero scale is undefined."""
    max_abs = np.asarray(max_abs, dtype=np.float32)
    floor = np.float32(max(float(np.max(max_abs, initial=0.0)) * 8.8e-6, 1e-8))
    return np.where(max_abs < floor, floor, max_abs)


def symmetric_weights(w_min: np.ndarray, w_max: np.ndarray, half_range: bool = False) -> FQParams:
    """Per-channel symmetric weights, levels 255; ``half_range`` doubles the range (7 effective bits)."""
    high = fix_zero_range(np.maximum(np.abs(w_min), np.abs(w_max)))
    if half_range:
        # the value grid of levels 128 (-64..63 with 63 at max), exported on the 255-level grid
        high = high * np.float32(254 / 127)
    return _fq(-high, high, WEIGHT_LEVELS)


def symmetric_activations(a_min: float | np.ndarray, a_max: float | np.ndarray) -> FQParams:
    """Per-tensor symmetric activations, levels 256: unsigned if never negative."""
    high = fix_zero_range(np.maximum(np.abs(a_min), np.abs(a_max)))
    if np.all(np.asarray(a_min) >= 0):
        return _fq(np.zeros_like(high), high, ACTIVATION_LEVELS)
    return _fq(-high * np.float32(256 / 254), high, ACTIVATION_LEVELS)


def asymmetric_activations(a_min: float | np.ndarray, a_max: float | np.ndarray) -> FQParams:
    """Asymmetric activations, levels 256, with 0.0 exactly representable."""
    low = np.minimum(np.asarray(a_min, dtype=np.float32), 0)
    high = np.maximum(np.asarray(a_max, dtype=np.float32), 0)
    tiny = high - low < 1e-8
    high = np.where(tiny, low + np.float32(1e-8), high)
    low, high = nudge_zero(low, high, ACTIVATION_LEVELS - 1)
    return _fq(low, high, ACTIVATION_LEVELS)


def nudge_zero(low: np.ndarray, high: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Move one border so that 0.0 is a grid point, growing the range on the side that grows least
    (NNCF's ``tune_range``)."""
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    zero_point = np.round(-low * steps / (high - low))
    with np.errstate(divide="ignore", invalid="ignore"):
        new_low = np.where(zero_point < steps, zero_point / (zero_point - steps) * high, low)
        new_high = np.where(zero_point > 0, (zero_point - steps) / zero_point * low, high)
    grow_low = high - new_low  # the range if we move the low border
    grow_high = new_high - low
    use_low = grow_low > grow_high
    low_out = np.where(use_low, new_low, low)
    high_out = np.where(use_low, high, new_high)
    return low_out.astype(np.float32), high_out.astype(np.float32)
