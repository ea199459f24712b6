"""Ground truth of a validation set (the ``labels`` / ``gt_*`` arrays of its .npz), checked once."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from irtool.errors import InputError

# The arrays of a validation .npz that are ground truth, never model inputs (see irtool.data.match_inputs).
ANNOTATION_KEYS = ("labels", "gt_boxes", "gt_labels", "gt_image", "gt_difficult")
_GT_REQUIRED = ("gt_boxes", "gt_labels", "gt_image")


@dataclass(frozen=True, eq=False)  # eq on arrays is ambiguous: compare the fields instead
class Annotations:
    """Ground truth of a validation set, as flat arrays (the keys of the .npz).

    - ``labels`` [N] int: the class of each sample (classification).
    - ``gt_boxes`` [T, 4] float: detection boxes (x_min, y_min, x_max, y_max), normalized 0..1;
      ``gt_labels`` [T] int: their class ids as the detector outputs them (0 is usually background);
      ``gt_image`` [T] int: the sample each box belongs to; ``gt_difficult`` [T] bool, optional (VOC).
    - ``num_images``: the number of samples; it numbers the images of successive batches for mAP.
    """

    labels: np.ndarray | None = None
    gt_boxes: np.ndarray | None = None
    gt_labels: np.ndarray | None = None
    gt_image: np.ndarray | None = None
    gt_difficult: np.ndarray | None = None
    num_images: int | None = None

    def __post_init__(self) -> None:
        # frozen: the checked, normalized arrays are set once here
        for key, value in _checked_fields(self).items():
            object.__setattr__(self, key, value)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], num_images: int | None = None) -> Annotations:
        """The annotations among a validation .npz's arrays (the other arrays are model inputs).

        ``num_images`` defaults to the number of labels, else to the length of the first input array
        (N samples are stored as one ``[N, ...]`` array per input)."""
        given = {k: arrays[k] for k in ANNOTATION_KEYS if k in arrays}
        if num_images is None and "labels" not in given:
            num_images = next((len(v) for k, v in arrays.items() if k not in ANNOTATION_KEYS and np.ndim(v)), None)
        return cls(**given, num_images=num_images)

    @property
    def has_boxes(self) -> bool:
        return self.gt_boxes is not None

    def select(self, indices: Sequence[int] | np.ndarray) -> Annotations:
        """The annotations of samples ``indices`` (distinct), renumbered 0, 1.. in that order: a subset run."""
        idx = np.asarray(indices, np.int64).reshape(-1)
        labels = None if self.labels is None else self.labels[idx]
        if not self.has_boxes:
            return Annotations(labels=labels, num_images=len(idx))
        new_id = np.full(max(int(idx.max(initial=-1)), int(self.gt_image.max(initial=-1))) + 1, -1)
        new_id[idx] = np.arange(len(idx))
        keep = new_id[self.gt_image] >= 0
        return Annotations(labels, self.gt_boxes[keep], self.gt_labels[keep], new_id[self.gt_image[keep]],
                           self.gt_difficult[keep], len(idx))


def _checked_fields(a: Annotations) -> dict:
    """Arrays as 1-D int / [T, 4] float / bool, consistent lengths; InputError saying what is wrong."""
    out: dict = {}
    if a.labels is not None:
        out["labels"] = _integers("labels", a.labels)
        if a.num_images is None:
            out["num_images"] = len(out["labels"])
    present = [k for k in (*_GT_REQUIRED, "gt_difficult") if getattr(a, k) is not None]
    if not present:
        return out
    missing = [k for k in _GT_REQUIRED if k not in present]
    if missing:
        raise InputError(f"detection ground truth needs gt_boxes [T,4], gt_labels [T] and gt_image [T]; "
                         f"missing: {', '.join(missing)}")
    boxes = np.asarray(a.gt_boxes, np.float64)
    boxes = boxes.reshape(0, 4) if boxes.size == 0 else boxes
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise InputError(f"gt_boxes must be [T, 4] (x_min, y_min, x_max, y_max), not {list(boxes.shape)}")
    out["gt_boxes"] = boxes
    out["gt_labels"] = _integers("gt_labels", a.gt_labels)
    out["gt_image"] = _integers("gt_image", a.gt_image)
    difficult = np.zeros(len(boxes), bool) if a.gt_difficult is None else np.asarray(a.gt_difficult).reshape(-1)
    out["gt_difficult"] = difficult.astype(bool)
    for key in ("gt_labels", "gt_image", "gt_difficult"):
        if len(out[key]) != len(boxes):
            raise InputError(f"{key} has {len(out[key])} entries for {len(boxes)} gt_boxes")
    images = out.get("num_images", a.num_images)
    bad = (out["gt_image"] < 0) | (out["gt_image"] >= (images if images is not None else np.inf))
    if bad.any():
        last = images - 1 if images else "?"
        raise InputError(f"gt_image {out['gt_image'][bad][0]} is not a sample index (0..{last})")
    return out


def _integers(key: str, values: np.ndarray) -> np.ndarray:
    """1-D int64; floats are accepted when they hold whole numbers (labels saved as float)."""
    arr = np.asarray(values).reshape(-1)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    raise InputError(f"'{key}' must hold integer ids, not {arr.dtype} values")
