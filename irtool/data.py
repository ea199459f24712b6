"""Model inputs from files: .npz/.npy keyed by input name, samples concatenated along the batch axis.

N samples of a ``[1, C, H, W]`` input are one ``[N, C, H, W]`` array; :func:`batches` cuts such
arrays into the model's batch and :func:`concat_outputs` glues the outputs back the same way.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
import warnings
import zipfile
from pathlib import Path

import numpy as np

from irtool.errors import InputError, IrToolWarning
from irtool.metrics import ANNOTATION_KEYS
from irtool.runtime.plugin import TensorSpec


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of an .npz (by key) or an .npy (keyed by the file's stem)."""
    path = Path(path)
    _check_array_file(path)
    try:
        if path.suffix == ".npy":
            return {path.stem: np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: not a readable .npz/.npy file ({e or type(e).__name__})") from None


_MAGIC = {b"PK": ".npz", b"\x93N": ".npy"}  # a zip archive; numpy's format ("\x93NUMPY")


def _check_array_file(path: Path) -> None:
    """An :class:`InputError` unless ``path`` is a file that starts as an .npz or .npy does (a
    text file would otherwise reach numpy, whose message speaks of pickles)."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give an .npz or .npy file")
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror})") from None
    if head not in _MAGIC:
        raise InputError(f"{path}: not an .npz or .npy file (save arrays with numpy.savez, keyed by input name)")


def match_inputs(arrays: Mapping[str, np.ndarray], specs: Sequence[TensorSpec], source: str) -> dict[str, np.ndarray]:
    """Key ``arrays`` by the model's input names; ground truth (``labels``, ``gt_*``) is never an input.

    With one model input and one array, the array's name does not matter.
    """
    data = {k: v for k, v in arrays.items() if k not in ANNOTATION_KEYS}
    if len(specs) == 1 and len(data) == 1:
        return {specs[0].name: next(iter(data.values()))}
    out = {}
    for spec in specs:
        key = next((n for n in spec.names if n in data), None)
        if key is None:
            raise InputError(f"{source} has no array for input '{spec.name}' (it has: {', '.join(data) or 'none'})")
        out[spec.name] = data[key]
    return out


def warn_nonfinite(arrays: Mapping[str, np.ndarray], source: str) -> None:
    """An :class:`IrToolWarning` per float array of ``arrays`` holding NaN or infinity: they run
    (and propagate, as in OpenVINO), but are seldom meant."""
    for name, a in arrays.items():
        if a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
            nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
            what = " and ".join(f"{n} {kind}" for n, kind in ((nan, "NaN"), (inf, "infinite")) if n)
            warnings.warn(f"{source}: input '{name}' holds {what} value(s) of {a.size}; NaN propagates through FP32 layers "
                          "(as in OpenVINO)", IrToolWarning, stacklevel=2)


def batches(inputs: Mapping[str, np.ndarray], specs: Sequence[TensorSpec]) -> Iterator[dict[str, np.ndarray]]:
    """Split arrays holding N x the model's batch into model-sized batches, in order."""
    counts = set()
    for spec in specs:
        arr = inputs[spec.name]
        b = spec.shape[0] if spec.shape and spec.shape[0] > 0 else arr.shape[0] if arr.ndim else 1
        if arr.ndim == 0 or arr.shape[0] % b:
            raise InputError(f"input '{spec.name}': {arr.shape[0] if arr.ndim else 0} samples along the batch axis "
                             f"is not a multiple of the model's batch {b}")
        counts.add(arr.shape[0] // b)
    if len(counts) > 1:
        raise InputError(f"inputs hold different numbers of batches: {sorted(counts)}")
    n = counts.pop() if counts else 1
    for i in range(n):
        yield {s.name: _slice(inputs[s.name], s, i) for s in specs}


def _slice(arr: np.ndarray, spec: TensorSpec, i: int) -> np.ndarray:
    b = spec.shape[0] if spec.shape and spec.shape[0] > 0 else arr.shape[0]
    return arr[i * b:(i + 1) * b]


def concat_outputs(per_batch: list[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Outputs of successive batches joined along the batch axis (scalars are stacked)."""
    if len(per_batch) == 1:
        return dict(per_batch[0])
    return {k: np.concatenate([np.atleast_1d(o[k]) for o in per_batch], axis=0) for k in per_batch[0]}


def random_inputs(specs: Sequence[TensorSpec], seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs of the model's shapes (dynamic dims as 1): normal floats, small integers."""
    rng = np.random.default_rng(seed)
    out = {}
    for s in specs:
        shape = [d if d > 0 else 1 for d in s.shape]
        if s.dtype.kind in "iu":
            out[s.name] = rng.integers(0, 2, shape).astype(s.dtype)
        elif s.dtype.kind == "b":
            out[s.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            out[s.name] = rng.standard_normal(shape).astype(s.dtype)
    return out


def parse_shape_option(options: Sequence[str]) -> dict[str, list[int]] | list[list[int]] | None:
    """``--shape name:1,3,224,224`` (repeatable), or ``--shape 1,3,224,224`` for a one-input model."""
    if not options:
        return None
    named: dict[str, list[int]] = {}
    plain: list[list[int]] = []
    for opt in options:
        name, sep, dims = opt.rpartition(":") if ":" in opt else ("", "", opt)
        try:
            shape = [int(d) for d in dims.strip("[]").split(",") if d.strip()]
        except ValueError:
            raise InputError(f"--shape '{opt}': expected name:1,3,224,224 (integers)") from None
        if sep:
            named[name] = shape
        else:
            plain.append(shape)
    if named and plain:
        raise InputError("--shape: name every shape, or none")
    return named or plain
