"""`irtool compare`: the digits CNN against its INT8 versions (irtool's, NNCF's, the 2019 form), the
per-layer sensitivity table, and the CLI (tables, --json, --html, bad input)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import irtool
from irtool.compare import Comparison, compare
from irtool.quantization import QuantizeConfig
from irtool.quantization.default import quantize
from irtool.quantization.statistics_form import statistics_form
from tests.test_bad_input import run_cli

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
DIGITS, NNCF = SAMPLES / "digits_cnn.xml", SAMPLES / "digits_cnn_int8.xml"
VAL = SAMPLES / "digits_cnn_val.npz"
CONV2 = "__module.conv2/aten::_convolution/Convolution"
SIDE_KEYS = {"name", "metric", "latency_ms", "openvino_latency_ms", "bin_bytes", "weights_bytes", "layers_by_precision"}
LAYER_KEYS = {"name", "type", "precision", "fused_into", "precision_a", "time_us", "time_a_us", "nrmsd", "introduced"}
KEYS = {"a", "b", "metric", "higher_is_better", "drop", "data", "samples", "layer_samples", "runs", "layers", "notes", "warnings"}


@pytest.fixture(scope="module")
def calib() -> list[dict]:
    with np.load(SAMPLES / "digits_cnn_calib.npz") as c:
        return [{"input": c["input"][i:i + 1]} for i in range(len(c["input"]))]


@pytest.fixture(scope="module")
def fp32() -> irtool.Model:
    return irtool.read_model(DIGITS)


@pytest.fixture(scope="module")
def int8(fp32, calib) -> irtool.Model:
    return quantize(fp32, calib)[0]


@pytest.fixture(scope="module")
def versions(fp32, calib, int8) -> dict:
    """The INT8 forms of the digits CNN that compare must read: irtool's (compressed and expanded
    weights), NNCF's, and the 2019 statistics form."""
    return {"irtool": int8, "irtool-expanded": quantize(fp32, calib[:100], QuantizeConfig(compress_weights=False))[0],
            "nncf": NNCF, "statistics": statistics_form(fp32, calib[:100], QuantizeConfig(range="minmax"))[0]}


@pytest.mark.parametrize("version", ["irtool", "irtool-expanded", "nncf", "statistics"])
def test_every_convolution_and_matmul_is_listed_int8_with_an_error(version, versions, fp32):
    b = versions[version]
    model = b if isinstance(b, irtool.Model) else irtool.read_model(b)
    c = compare(fp32, b, VAL, latency=False, max_samples=8)
    rows = {r.name: r for r in c.layers}
    compute = [l.name for l in model.topological_order() if l.type in ("Convolution", "MatMul")]
    assert len(compute) == 4 and all(name in rows for name in compute)
    for name in compute:
        assert rows[name].precision == "I8" and rows[name].precision_a == "FP32"
        assert rows[name].nrmsd > 0 and rows[name].introduced > 0
    order = [l.name for l in model.topological_order() if l.name in rows]
    assert [r.name for r in c.layers] == order  # B's topological order
    assert rows["aten::relu/Relu"].precision == "fused"
    assert rows["aten::relu/Relu"].fused_into == "__module.conv1/aten::_convolution/Convolution"
    assert c.metric == "top1" and c.samples == 360 and c.layer_samples == 8 and abs(c.drop) < 0.02
    assert c.b.layers_by_precision["I8"] >= 4 and c.a.layers_by_precision == {"FP32": 7}


def test_identical_models_differ_by_nothing(fp32):
    c = compare(fp32, DIGITS, latency=False, max_samples=3)
    assert c.data == "random" and c.metric == "cosine" and c.a.metric == c.b.metric == pytest.approx(1.0)
    assert c.drop == pytest.approx(0.0, abs=1e-12)
    assert c.layers and all(r.nrmsd == 0.0 and r.introduced == 0.0 for r in c.layers)
    assert c.offenders() == [] and any("random inputs" in n for n in c.notes)


def test_the_fragile_sample_points_at_conv2(calib):
    """Four loud channels between conv1 and conv2 ruin conv2's input quantizer: conv2 introduces the
    largest error although the NRMSD itself is largest at the logits (errors propagate)."""
    fragile = irtool.read_model(SAMPLES / "digits_cnn_fragile.xml")
    c = compare(fragile, quantize(fragile, calib)[0], VAL, latency=False)
    assert c.offenders(1)[0].name == CONV2
    assert max(c.layers, key=lambda r: r.introduced).name == CONV2
    assert max(c.layers, key=lambda r: r.nrmsd).name != CONV2
    assert c.drop > 0.05  # top-1 points lost: the point of the sample


def test_latency_weights_and_times():
    c = compare(DIGITS, NNCF, latency=True, runs=3, max_samples=2)
    assert c.runs == 3 and c.a.latency_ms > 0 and c.b.latency_ms > 0
    assert c.b.bin_bytes < c.a.bin_bytes / 3 and c.a.bin_bytes == DIGITS.with_suffix(".bin").stat().st_size
    for r in c.layers:
        assert (r.time_us is None) == (r.precision == "fused")
    if c.a.openvino_latency_ms is not None:  # openvino installed: measured for both
        assert c.b.openvino_latency_ms > 0
    assert [r.name for r in c.sorted_layers("time")][0] == max(c.layers, key=lambda r: r.time_us or 0).name


def test_openvino_is_optional(fp32, int8, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_openvino(name, *args, **kwargs):
        if name == "openvino" or name.startswith("openvino."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_openvino)
    c = compare(fp32, int8, runs=1, max_samples=1)
    assert c.b.openvino_latency_ms is None and any("openvino package is not installed" in n for n in c.notes)
    assert c.b.bin_bytes is None and c.b.weights_bytes > 0  # a model given in memory
    with pytest.raises(irtool.InputError, match="openvino"):
        compare(fp32, int8, runs=1, max_samples=1, openvino=True)


# ------------------------------------------------------------------------------------------- CLI
def test_cli_json_and_html(tmp_path, capsys):
    html = tmp_path / "report.html"
    code, stdout, _ = run_cli(["compare", str(DIGITS), str(NNCF), "--val", str(VAL), "--samples", "2",
                               "--no-latency", "--json", "--html", str(html)], capsys)
    assert code in (0, None)
    result = json.loads(stdout)
    assert set(result) == KEYS | {"html"}
    assert set(result["a"]) == set(result["b"]) == SIDE_KEYS
    assert all(set(layer) == LAYER_KEYS for layer in result["layers"])
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and CONV2 in text
    assert "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # the temporary renamed away


def test_cli_tables(capsys):
    code, stdout, _ = run_cli(["compare", str(DIGITS), str(NNCF), "--val", str(VAL), "--samples", "2",
                               "--no-latency", "--sort", "error", "--top", "2"], capsys)
    assert code in (0, None)
    assert "top1" in stdout and "drop" in stdout and "largest introduced error" in stdout
    listed = [line.split()[1] for line in stdout.splitlines() if line.split()[:1] and line.split()[0].isdigit()]
    assert len(listed) == 2


def _renamed(tmp_path: Path) -> Path:
    model = irtool.read_model(DIGITS)
    for layer in model:
        layer.name = f"other/{layer.name}"
    return irtool.save_model(model, tmp_path / "other.xml")


@pytest.mark.parametrize("case, args, message", [
    ("missing file", ["compare", "nope.xml", str(DIGITS)], "nope.xml: no such file"),
    ("no common layers", ["compare", str(DIGITS), "{other}"], "no layer in common"),
    ("unknown metric", ["compare", str(DIGITS), str(NNCF), "--metric", "f1"], "unknown metric 'f1'"),
    ("labels needed", ["compare", str(DIGITS), str(NNCF), "--metric", "top1"], "needs class labels"),
    ("bad sort", ["compare", str(DIGITS), str(NNCF), "--sort", "name"], "--sort 'name'"),
    ("html folder", ["compare", str(DIGITS), str(NNCF), "--no-latency", "--samples", "1", "--html",
                     "{tmp}/no/such/r.html"], "does not exist"),
])
def test_cli_bad_input_is_one_line_exit_2(case, args, message, tmp_path, capsys):
    args = [a.replace("{other}", str(_renamed(tmp_path)) if "{other}" in a else a).replace("{tmp}", str(tmp_path))
            for a in args]
    code, _, err = run_cli(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("irtool: error: ") and message in lines[0], err


def test_comparison_is_plain_data(fp32):
    c = compare(fp32, NNCF, latency=False, max_samples=1)
    assert isinstance(c, Comparison) and json.loads(json.dumps(c.to_dict()))["layers"][0]["name"] == c.layers[0].name
