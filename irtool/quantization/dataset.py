"""Calibration data: .npz/.npy files, folders of .npy files or images, or any iterable of input dicts.

Whatever the source, a dataset is an iterable of ``{input name: array}`` dicts, one model batch each;
``take`` applies ``--subset`` (the first N samples, or a percentage) and ``--shuffle``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irtool import data
from irtool.errors import InputError, IrToolWarning
from irtool.runtime.plugin import TensorSpec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class ImageOptions:
    """How images become model inputs (as OpenVINO's model conversion options name them)."""

    mean: tuple[float, ...] | None = None
    scale: tuple[float, ...] | None = None
    layout: str = "NCHW"
    reverse_input_channels: bool = False


def parse_subset(text: str | int | None, default: int = 300) -> tuple[int | None, float | None]:
    """``"300"`` -> (300, None); ``"2%"`` -> (None, 0.02); ``None`` -> the default count."""
    if text is None:
        return default, None
    text = str(text).strip()
    try:
        if text.endswith("%"):
            frac = float(text[:-1]) / 100
            if not 0 < frac <= 1:
                raise ValueError
            return None, frac
        n = int(text)
        if n <= 0:
            raise ValueError
        return n, None
    except ValueError:
        raise InputError(f"--subset '{text}': expected a positive count (300) or a percentage (2%)") from None


def load_dataset(path: str | Path, specs: Sequence[TensorSpec], images: ImageOptions | None = None) -> list[dict]:
    """Samples from an .npz/.npy file or a folder (of .npy files or images), one model batch each."""
    path = Path(path)
    if path.is_dir():
        return list(_folder(path, specs, images or ImageOptions()))
    return _batches(data.load_arrays(path), specs, str(path))


def _batches(arrays: Mapping[str, np.ndarray], specs: Sequence[TensorSpec], source: str) -> list[dict]:
    """The model inputs among ``arrays`` (annotations left out), checked, cut into model batches."""
    inputs = data.match_inputs(arrays, specs, source)
    _check(inputs, specs, source)
    return list(data.batches(inputs, specs))


def _folder(folder: Path, specs: Sequence[TensorSpec], images: ImageOptions) -> Iterator[dict]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | {".npy"})
    if not files:
        raise InputError(f"{folder}: no .npy or image files in the folder")
    if len(specs) != 1:
        raise InputError(f"{folder}: a folder of files feeds a one-input model; this one has {len(specs)} inputs "
                         "(use an .npz keyed by input name)")
    spec = specs[0]
    for f in files:
        arr = np.load(f, allow_pickle=False) if f.suffix == ".npy" else _image(f, spec, images)
        if arr.ndim == len(spec.shape) - 1:
            arr = arr[None]
        _check({spec.name: arr}, specs, str(f))
        yield {spec.name: arr}


def _image(path: Path, spec: TensorSpec, opts: ImageOptions) -> np.ndarray:
    """Read, resize to the model's input, reorder channels, normalize: (x - mean) / scale."""
    try:
        from PIL import Image
    except ImportError:
        raise InputError(f"{path}: reading images needs Pillow (pip install pillow), or give .npy files") from None
    layout = opts.layout.upper()
    if sorted(layout) != sorted("NCHW") or len(spec.shape) != 4:
        raise InputError(f"--layout '{opts.layout}': images feed 4-D inputs in NCHW or NHWC")
    dims = dict(zip(layout, spec.shape))
    channels, h, w = dims["C"], dims["H"], dims["W"]
    img = Image.open(path).convert("L" if channels == 1 else "RGB").resize((w, h), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32).reshape(h, w, channels)
    if opts.reverse_input_channels:
        x = x[..., ::-1]
    if opts.mean is not None:
        x = x - np.asarray(opts.mean, np.float32)
    if opts.scale is not None:
        x = x / np.asarray(opts.scale, np.float32)
    x = x.transpose(2, 0, 1) if layout == "NCHW" else x
    return np.ascontiguousarray(x[None]).astype(spec.dtype)


def _check(arrays: Mapping[str, np.ndarray], specs: Sequence[TensorSpec], source: str) -> None:
    for spec in specs:
        arr = arrays[spec.name]
        if arr.dtype != spec.dtype:
            raise InputError(f"{source}: input '{spec.name}' is {arr.dtype}, the model takes {spec.dtype}")
        if arr.ndim != len(spec.shape) or any(d > 0 and a != d for d, a in zip(spec.shape[1:], arr.shape[1:])):
            want = "[" + ",".join("N" if i == 0 else ("?" if d < 0 else str(d)) for i, d in enumerate(spec.shape)) + "]"
            raise InputError(f"{source}: input '{spec.name}' has shape {list(arr.shape)}, the model takes {want}")


def take(samples: Iterable[Mapping[str, np.ndarray]], count: int | None = 300, fraction: float | None = None,
         shuffle: bool = False, seed: int = 0, warn_short: bool = True) -> list[dict]:
    """The calibration subset: the first ``count`` samples (or ``fraction`` of them), optionally shuffled.

    Fewer samples than ``count`` are all used, with an :class:`IrToolWarning` (unless ``warn_short``
    is false: a default count, not one the user asked for)."""
    items = [dict(s) for s in samples]
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(items))
        items = [items[i] for i in order]
    n = max(1, round(len(items) * fraction)) if fraction is not None else count
    if warn_short and n is not None and n > len(items) and fraction is None:
        warnings.warn(f"a subset of {n} samples was asked for; the data holds {len(items)}: using all of them",
                      IrToolWarning, stacklevel=2)
    subset = items[:n] if n is not None else items
    if not subset:
        raise InputError("the calibration subset is empty: the data holds no samples")
    return subset


def load_validation(path: str | Path, specs: Sequence[TensorSpec]):
    """A validation .npz: its model batches (input dicts, in order) and its annotations (``labels``,
    ``gt_*``: see :class:`irtool.metrics.Annotations`)."""
    from irtool.metrics import Annotations

    arrays = data.load_arrays(path)
    return _batches(arrays, specs, str(path)), Annotations.from_arrays(arrays)
