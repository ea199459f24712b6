"""How a :class:`~irtool.compare.Comparison` is shown: the rows and cells the terminal tables and
the HTML page share, and ``irtool compare --html``'s page: one self-contained file (inline CSS, an
inline SVG chart drawn here, no scripts, nothing fetched from the network)."""
from __future__ import annotations

from html import escape
from pathlib import Path

from irtool.compare import Comparison, LayerRow, Side
from irtool.files import atomic_write

# The chart: one row per layer; a label, then error bars, then time bars (pixels of the viewBox, which
# the page scales to its full width). Labels are whole layer names: the label column is as wide as the
# longest (CHAR: the width of one 11px monospace character), the two panels share the rest of WIDTH.
ROW, GAP, TOP, CHAR, WIDTH, MIN_PANEL = 18, 40, 48, 6.7, 1360, 240
ERROR_COLOR, INTRODUCED_COLOR, TIME_A, TIME_B = "#f4a582", "#b2182b", "#92c5de", "#2166ac"

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 12px 0 24px; }
table.layers { width: 100%; }
svg.chart { width: 100%; height: auto; display: block; }
th, td { padding: 3px 10px; text-align: right; border-bottom: 1px solid #ddd; }
th:first-child, td:first-child, td.name { text-align: left; }
tr.offender td { background: #fde0dd; font-weight: 600; }
td.name { font-family: ui-monospace, monospace; font-size: 12px; }
.notes { color: #666; }
.warnings { color: #b35806; font-weight: 600; }
svg text { font: 11px ui-monospace, monospace; fill: #222; }
"""


def render(c: Comparison, top: int = 3) -> str:
    """The page: the model-level table, the per-layer chart (NRMSD and introduced error; time in A
    and B), the per-layer table with the ``top`` worst offenders highlighted, and the notes."""
    offenders = {r.name for r in c.offenders(top)}
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>irtool compare: {escape(c.a.name)} vs {escape(c.b.name)}</title>",
             f"<style>{CSS}</style></head><body>",
             f"<h1>irtool compare</h1><p>A: <code>{escape(c.a.name)}</code><br>B: <code>{escape(c.b.name)}</code></p>",
             '<ul class="warnings">' + "".join(f"<li>{escape(w)}</li>" for w in c.warnings) + "</ul>" if c.warnings
             else "",
             _model_table(c), "<h2>Per layer</h2>", _chart(c.layers, offenders), _layer_table(c.layers, offenders)]
    if c.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in c.notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(c: Comparison, path: str | Path, top: int = 3) -> Path:
    """Write :func:`render`'s page to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(render(c, top))
    return path


# ------------------------------------------------------------------------------------------- tables
def model_rows(c: Comparison) -> list[tuple[str, str, str, str]]:
    """(what, A, B, B vs A) rows of the model-level table; the terminal table prints the same."""
    rows = [(f"{c.metric} ({c.data}, {c.samples} batches)", format_metric(c.metric, c.a.metric),
             format_metric(c.metric, c.b.metric), f"drop {format_drop(c.metric, c.drop)}")]
    if c.runs:
        rows.append(("latency, irtool (median)", _ms(c.a.latency_ms), _ms(c.b.latency_ms),
                     _ratio(c.b.latency_ms, c.a.latency_ms)))
    if c.a.openvino_latency_ms is not None or c.b.openvino_latency_ms is not None:
        rows.append(("latency, OpenVINO (median)", _ms(c.a.openvino_latency_ms), _ms(c.b.openvino_latency_ms),
                     _ratio(c.b.openvino_latency_ms, c.a.openvino_latency_ms)))
    rows.append(("weights (.bin)", _bytes(_bin(c.a)), _bytes(_bin(c.b)), _ratio(_bin(c.b), _bin(c.a))))
    rows.append(("layers run INT8 / FP32", _counts(c.a), _counts(c.b), ""))
    return rows


def _model_table(c: Comparison) -> str:
    body = "".join(f"<tr><td>{escape(w)}</td><td>{escape(a)}</td><td>{escape(b)}</td><td>{escape(r)}</td></tr>"
                   for w, a, b, r in model_rows(c))
    return f"<table><tr><th></th><th>A</th><th>B</th><th>B vs A</th></tr>{body}</table>"


def _layer_table(rows: list[LayerRow], offenders: set[str]) -> str:
    head = ("<tr><th>#</th><th>layer</th><th>type</th><th>precision A &rarr; B</th><th>time A (&micro;s)</th>"
            "<th>time B (&micro;s)</th><th>NRMSD</th><th>introduced</th></tr>")
    body = []
    for i, r in enumerate(rows):
        cls = ' class="offender"' if r.name in offenders else ""
        body.append(f"<tr{cls}><td>{i}</td><td class=\"name\">{escape(r.name)}</td><td>{escape(r.type)}</td>"
                    f"<td>{escape(precision_cell(r))}</td><td>{_us(r.time_a_us)}</td><td>{_us(r.time_us)}</td>"
                    f"<td>{r.nrmsd:.4f}</td><td>{r.introduced:.4f}</td></tr>")
    return f'<table class="layers">{head}{"".join(body)}</table>'


# ------------------------------------------------------------------------------------------- the chart
def chart_geometry(rows: list[LayerRow]) -> tuple[int, int, int]:
    """(label column, panel width, x of the time panel) for ``rows``: whole names, full width."""
    label = int(CHAR * max((len(r.name) for r in rows), default=10)) + 12
    panel = max(MIN_PANEL, (WIDTH - label - GAP - 10) // 2)
    return label, panel, label + panel + GAP


def _chart(rows: list[LayerRow], offenders: set[str]) -> str:
    """Horizontal bars, one row per layer in topological order: NRMSD (light) with the introduced
    error over it (dark), and the time of the layer in A and in B. Each panel's title sits above it,
    on two lines, within its own width."""
    label, panel, x_time = chart_geometry(rows)
    width, height = x_time + panel + 10, TOP + ROW * len(rows) + 10
    max_error = max((max(r.nrmsd, r.introduced) for r in rows), default=0.0) or 1.0
    max_time = max((t or 0.0 for r in rows for t in (r.time_us, r.time_a_us)), default=0.0) or 1.0
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           'role="img" aria-label="per-layer error and time">',
           f'<text x="{label}" y="14">NRMSD vs A (max {max_error:.4f})</text>',
           f'<text x="{label}" y="30">dark: introduced by the layer</text>',
           f'<text x="{x_time}" y="14">time per layer, &#181;s (max {max_time:.0f})</text>',
           f'<text x="{x_time}" y="30">light: A, dark: B</text>']
    for i, r in enumerate(rows):
        y = TOP + i * ROW
        weight = ' font-weight="bold"' if r.name in offenders else ""
        out.append(f'<text x="{label - 6}" y="{y + 12}" text-anchor="end"{weight}>{escape(r.name)}'
                   f"<title>{escape(r.name)} ({escape(r.type)})</title></text>")
        out.append(_bar(label, y + 2, r.nrmsd / max_error, ROW - 4, panel, ERROR_COLOR, f"NRMSD {r.nrmsd:.4f}"))
        out.append(_bar(label, y + 5, max(r.introduced, 0.0) / max_error, ROW - 10, panel, INTRODUCED_COLOR,
                        f"introduced {r.introduced:.4f}"))
        out.append(_bar(x_time, y + 2, (r.time_a_us or 0.0) / max_time, (ROW - 4) // 2, panel, TIME_A,
                        f"A: {_us(r.time_a_us)} us"))
        out.append(_bar(x_time, y + 2 + (ROW - 4) // 2, (r.time_us or 0.0) / max_time, (ROW - 4) // 2, panel, TIME_B,
                        f"B: {_us(r.time_us)} us ({precision_cell(r)})"))
    out.append(f'<line x1="{label}" y1="{TOP - 4}" x2="{label}" y2="{height - 6}" stroke="#999"/>')
    out.append(f'<line x1="{x_time}" y1="{TOP - 4}" x2="{x_time}" y2="{height - 6}" stroke="#999"/>')
    out.append("</svg>")
    return "\n".join(out)


def _bar(x: int, y: int, fraction: float, height: int, panel: int, color: str, title: str) -> str:
    w = max(0.0, min(fraction, 1.0)) * panel
    return (f'<rect x="{x}" y="{y}" width="{w:.1f}" height="{height}" fill="{color}">'
            f"<title>{escape(title)}</title></rect>")


# ------------------------------------------------------------------------------------------- formatting
def format_metric(metric: str, value: float) -> str:
    """Accuracy metrics (top-k, mAP) in percent, the others as plain numbers."""
    return f"{100 * value:.2f}%" if metric.startswith(("top", "map")) else f"{value:.6f}"


def format_drop(metric: str, drop: float) -> str:
    return f"{100 * drop:.2f} pt" if metric.startswith(("top", "map")) else f"{drop:.6f}"


def precision_cell(r: LayerRow) -> str:
    """``FP32 -> I8``; ``fused`` when B computes the layer inside another."""
    if r.precision == "fused":
        return "fused"
    return f"{r.precision_a} \u2192 {r.precision}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} ms"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _bin(side: Side) -> int:
    return side.bin_bytes if side.bin_bytes is not None else side.weights_bytes


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _ratio(b: float | None, a: float | None) -> str:
    return "" if not a or b is None else f"{b / a:.2f}x"


def _counts(side: Side) -> str:
    counts = side.layers_by_precision
    return f"{counts.get('I8', 0)} / {counts.get('FP32', 0)}"
