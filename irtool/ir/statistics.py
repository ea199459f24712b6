"""The 2019 Calibration Tool's `<statistics>` block, read into and written from ``Model.statistics``.

```xml
<statistics>
	<layer>
		<name>conv1</name>
		<min>0.000000, -1.250000</min>
		<max>3.100000, 2.000000</max>
	</layer>
</statistics>
```
One entry per layer name: the range of its output (port 0) per channel, channels on axis 1 as the
tool took them (``getDims()[1]``), one value for a tensor of rank < 2. One value for a tensor with
more channels is accepted too (the 2019 plugin broadcast it): irtool writes that when the channel
count varied between calibration samples.

Values are written as the tool's ``std::to_string`` did (C's ``%f``), except magnitudes below 1e-3,
which ``%f`` would flatten to a few digits or to 0: those are written ``%e`` (``std::stof`` reads
both). A file in this spelling round-trips byte for byte; other spellings are read and written
back in this one.

The checks, each a (line, message) problem: ``<name>``, ``<min>`` and ``<max>`` present, each value
a finite number, as many minima as maxima, min <= max, a name given once, and, for a name of a layer
of the model with a static channel count, that count or 1. A name that matches no layer is kept as
it is (OpenVINO's reader never looked at the block, the 2019 plugin ignored such entries).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from lxml import etree

from irtool.ir.graph import Layer, LayerStats, XmlNode

Problem = tuple[int, str]  # (.xml line, message)


def channels_of(dims: list[int]) -> int | None:
    """The channel count of an output with these dims (axis 1; 1 below rank 2); None if dynamic."""
    if len(dims) < 2:
        return 1
    return dims[1] if dims[1] >= 0 else None


def layer_channels(layers: list[Layer]) -> dict[str, int | None]:
    """Layer name -> channel count of its output 0 (the first layer of a name wins)."""
    out: dict[str, int | None] = {}
    for layer in layers:
        out.setdefault(layer.name, channels_of(layer.outputs[0].dims) if layer.outputs else 1)
    return out


def read_statistics(el: etree._Element,
                    channels: Mapping[str, int | None]) -> tuple[dict[str, LayerStats], list[Problem]]:
    """The entries of a `<statistics>` element and the problems found (checked as the module says)."""
    stats: dict[str, LayerStats] = {}
    problems: list[Problem] = []
    seen: set[str] = set()
    for entry in el.iterchildren("layer"):
        name_el = entry.find("name")
        name = (name_el.text or "") if name_el is not None else ""  # as written: names may hold spaces
        if not name.strip():
            problems.append((entry.sourceline, "<statistics> entry without a layer <name>"))
            continue
        if name in seen:
            problems.append((entry.sourceline, f"<statistics> gives layer '{name}' twice"))
            continue
        seen.add(name)
        values, found = _entry(entry, name, channels.get(name))
        problems += found
        if values is not None:
            stats[name] = values
    return stats, problems


def _entry(entry: etree._Element, name: str, want: int | None) -> tuple[LayerStats | None, list[Problem]]:
    label = f"<statistics> layer '{name}'"
    arrays = []
    for tag in ("min", "max"):
        el = entry.find(tag)
        if el is None:
            return None, [(entry.sourceline, f"{label} has no <{tag}>")]
        values, bad = _numbers(el.text or "")
        if bad is not None:
            return None, [(el.sourceline, f"{label}: <{tag}> value '{bad}' is not a finite number")]
        if values.size == 0:
            return None, [(el.sourceline, f"{label}: <{tag}> holds no values")]
        arrays.append(values)
    lo, hi = arrays
    line = entry.sourceline
    if lo.size != hi.size:
        return None, [(line, f"{label}: {lo.size} minima but {hi.size} maxima")]
    if want is not None and lo.size not in (1, want):
        return None, [(line, f"{label}: {lo.size} values per bound, but the layer's output has {want} "
                             f"channel{'s' * (want != 1)} (axis 1): one value per channel, or one in all")]
    if np.any(lo > hi):
        c = int(np.argmax(lo > hi))
        return None, [(line, f"{label}: channel {c} has min {lo[c]:g} > max {hi[c]:g}")]
    return LayerStats(lo, hi), []


def _numbers(text: str) -> tuple[np.ndarray, str | None]:
    """``"0.5, -1.25"`` -> the values, or the first word that is not a finite number."""
    words = [w.strip() for w in text.split(",")]
    if words == [""]:
        return np.zeros(0), None  # no values: the caller says so
    values = []
    for w in words:
        try:
            v = float(w)
        except ValueError:
            return np.zeros(0), w
        if not math.isfinite(v):
            return np.zeros(0), w
        values.append(v)
    return np.asarray(values, dtype=np.float64), None


def format_value(v: float) -> str:
    """``%f`` as the 2019 tool wrote; ``%e`` for magnitudes that ``%f`` would flatten (< 1e-3)."""
    e = "%e" % v
    return e if 0 < abs(float(e)) < 1e-3 else "%f" % v


def statistics_node(stats: Mapping[str, LayerStats]) -> XmlNode:
    """The `<statistics>` element of ``stats``, in its order."""
    def values(a: np.ndarray) -> str:
        return ", ".join(format_value(float(v)) for v in np.asarray(a).reshape(-1))

    entries = [XmlNode("layer", children=[XmlNode("name", text=name), XmlNode("min", text=values(s.min)),
                                          XmlNode("max", text=values(s.max))])
               for name, s in stats.items()]
    return XmlNode("statistics", children=entries)
