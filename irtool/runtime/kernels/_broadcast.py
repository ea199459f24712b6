"""OpenVINO's auto_broadcast rules for elementwise ops."""
from __future__ import annotations

import numpy as np

from irtool.errors import IRFormatError


def align(a: np.ndarray, b: np.ndarray, mode: str, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Bring ``b`` (and ``a``) to shapes numpy can combine under ``mode`` (numpy, none, pdpd)."""
    mode = mode.lower()
    if mode == "numpy":
        return a, b
    if mode == "none":
        if a.shape != b.shape:
            raise ValueError(f"auto_broadcast=none needs equal shapes, got {list(a.shape)} and {list(b.shape)}")
        return a, b
    if mode == "pdpd":
        # b's dims align with a's starting at `axis` (-1: right-aligned, as numpy); trailing 1s dropped
        if axis == -1:
            axis = a.ndim - b.ndim
        shape = list(b.shape)
        while shape and shape[-1] == 1 and len(shape) > 1:
            shape.pop()
        shape = [1] * axis + shape + [1] * (a.ndim - axis - len(shape))
        return a, b.reshape(shape)
    raise IRFormatError(f"auto_broadcast='{mode}' is not one of numpy, none, pdpd")
