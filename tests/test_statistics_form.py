"""The 2019 calibrated-IR form (``--format statistics``) on the digits sample: OpenVINO loads it and
computes FP32; irtool runs its I8 layers in INT8 from the statistics; the block round-trips and is
checked when read."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

import irtool
from irtool.errors import InputError, IRFormatError, UnsupportedError
from irtool.ir import serialize
from irtool.ir.statistics import format_value
from irtool.ir.validate import validate
from irtool.quantization.default import quantize
from irtool.quantization.statistics_form import ChannelRange, statistics_form
from tests.oracle import SAMPLES, ov
from tests.test_bad_input import run_cli
from tests.test_samples import calib, irtool_logits, val

DIGITS = SAMPLES / "digits_cnn.xml"
CONV2 = "__module.conv2/aten::_convolution/Convolution"
HEAVY = ("Convolution", "MatMul")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """digits_cnn in the 2019 form, written by irtool: (path, report)."""
    model, report = statistics_form(irtool.read_model(DIGITS), calib("digits_cnn"))
    return irtool.save_model(model, tmp_path_factory.mktemp("stats") / "digits_cnn_i8.xml"), report


def exec_types(xml, precision: str = "auto") -> dict[str, str]:
    compiled = irtool.compile_model(xml, precision=precision)
    request = compiled.create_infer_request()
    request.infer({"input": val("digits_cnn")[0][:1]})
    return {p.node_name: p.exec_type for p in request.get_profiling_info() if p.status == "EXECUTED"}


def marks(xml) -> dict[str, str]:
    return {l.name: l.attrs["quantization_level"] for l in irtool.read_model(xml) if "quantization_level" in l.attrs}


# ------------------------------------------------------------------------------------------- the file
def test_written_form_marks_layers_and_appends_statistics(written, capsys):
    xml, report = written
    model = irtool.read_model(xml)
    heavy = [l.name for l in model if l.type in HEAVY]
    assert set(heavy) <= set(report.i8) and marks(xml) == {name: "I8" for name in report.i8}
    assert report.fp32 == [] and report.statistics == len(model.statistics)
    for layer in model:  # one value per output channel (axis 1) for every layer the plugin runs
        if layer.type in HEAVY + ("ReLU", "MaxPool", "Parameter"):
            assert model.statistics[layer.name].min.size == layer.outputs[0].dims[1], layer.name
    assert xml.read_text().endswith("\t</statistics>\n</net>\n")  # appended last, as the 2019 tool did
    assert xml.with_suffix(".bin").read_bytes() == DIGITS.with_suffix(".bin").read_bytes()  # FP32 weights
    code, out, _ = run_cli(["validate", str(xml)], capsys)
    assert code == 0 and out.strip().endswith("valid"), out


def test_round_trips_byte_identically(written):
    xml, _ = written
    text, weights = serialize(irtool.read_model(xml))
    assert text == xml.read_bytes() and weights == xml.with_suffix(".bin").read_bytes()


@pytest.mark.parametrize("value", [0.0, 3.1, -1.25, 123456.789, 2.5e-4, -7e-9, 0.0009999999, 1e-3])
def test_values_are_written_as_read(value):
    once = format_value(value)
    assert format_value(float(once)) == once and abs(float(once) - value) <= 5e-7 * max(1.0, abs(value))


def test_openvino_loads_it_and_computes_fp32(written):
    xml, _ = written
    x = val("digits_cnn")[0][:16]
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    ours, ref = core.compile_model(str(xml), "CPU", config), core.compile_model(str(DIGITS), "CPU", config)
    for i in range(len(x)):
        np.testing.assert_array_equal(ours(x[i:i + 1])[0], ref(x[i:i + 1])[0])


# ------------------------------------------------------------------------------------------- irtool's plugin
def test_irtool_runs_the_marked_layers_in_int8(written):
    xml, report = written
    types = exec_types(xml)
    heavy = [name for name in report.i8 if irtool.read_model(xml).layer(name).type in HEAVY]
    assert len(heavy) == 4 and all(types[name].endswith("_I8") for name in heavy), types
    assert all(t.endswith("_FP32") for t in exec_types(xml, "fp32").values())  # fp32 ignores the marks


def test_int8_top1_within_half_a_point_of_fp32(written):
    x, y = val("digits_cnn")
    fp32 = np.mean(irtool_logits(DIGITS, x).argmax(1) == y)
    int8 = np.mean(irtool_logits(written[0], x).argmax(1) == y)
    assert fp32 - int8 <= 0.005 + 1e-9, (fp32, int8)


def test_fp32_precision_computes_the_fp32_model():
    x = val("digits_cnn")[0][:8]
    model, _ = statistics_form(irtool.read_model(DIGITS), calib("digits_cnn")[:20])
    ours, ref = irtool.compile_model(model, precision="fp32"), irtool.compile_model(DIGITS)
    for i in range(len(x)):
        np.testing.assert_array_equal(ours({"input": x[i:i + 1]})["logits"], ref({"input": x[i:i + 1]})["logits"])


def test_reverted_layer_stays_fp32(tmp_path):
    model, report = statistics_form(irtool.read_model(DIGITS), calib("digits_cnn")[:50], reverted=[CONV2])
    xml = irtool.save_model(model, tmp_path / "reverted.xml")
    assert marks(xml)[CONV2] == "FP32" and report.fp32 == [(CONV2, "reverted")]
    types = exec_types(xml)
    assert types[CONV2].endswith("_FP32"), types
    assert all(types[name].endswith("_I8") for name in report.i8 if "Convolution" in name), types


def test_layer_without_statistics_for_its_input_stays_fp32(written):
    model = irtool.read_model(written[0])
    del model.statistics["__module.pool/aten::max_pool2d/MaxPool"]
    del model.statistics["aten::relu/Relu_1"]  # the quantizer of conv3 would move above the MaxPool
    types = exec_types(model)
    assert types["__module.conv3/aten::_convolution/Convolution"].endswith("_FP32"), types
    assert types[CONV2].endswith("_I8"), types


def test_unknown_reverted_name_is_an_error():
    with pytest.raises(InputError, match="reverted layer.*conv9"):
        statistics_form(irtool.read_model(DIGITS), calib("digits_cnn")[:2], reverted=["conv9"])


def test_options_the_form_cannot_express_are_refused():
    from irtool.quantization import QuantizeConfig

    for config in (QuantizeConfig(range="minmax", preset="mixed"), QuantizeConfig(range="kl")):
        with pytest.raises(InputError, match="2019 statistics form"):
            statistics_form(irtool.read_model(DIGITS), calib("digits_cnn")[:2], config)


# ------------------------------------------------------------------------------------------- already calibrated
def test_reported_as_quantized_and_not_quantized_again(written):
    model = irtool.read_model(written[0])
    info = irtool.summarize(model)
    assert info.quantized and info.quantized_by == ["statistics (2019 form)"]
    assert info.quantization_info["statistics/I8"] == str(len(written[1].i8))
    for run in (quantize, statistics_form):
        with pytest.raises(UnsupportedError, match=r"already calibrated \(statistics \(2019 form\)\)"):
            run(model, calib("digits_cnn")[:2])


# ------------------------------------------------------------------------------------------- CLI and API
def test_cli_quantize_format_statistics(tmp_path, capsys):
    shutil.copy(DIGITS, tmp_path / "digits.xml")
    shutil.copy(DIGITS.with_suffix(".bin"), tmp_path / "digits.bin")
    code, out, err = run_cli(["quantize", str(tmp_path / "digits.xml"), "--data", str(SAMPLES / "digits_cnn_calib.npz"),
                              "--subset", "50", "--format", "statistics", "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["output"] == str(tmp_path / "digits_i8.xml") and len(report["i8"]) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.bin", "digits.xml", "digits_i8.bin", "digits_i8.xml"]
    assert irtool.read_model(tmp_path / "digits_i8.xml").statistics


def test_python_api_format():
    model = irtool.quantize(DIGITS, calib("digits_cnn")[:10], format="statistics")
    assert model.statistics and irtool.summarize(model).quantized_by == ["statistics (2019 form)"]
    with pytest.raises(InputError, match="format 'xml'"):
        irtool.quantize(DIGITS, calib("digits_cnn")[:10], format="xml")


# ------------------------------------------------------------------------------------------- malformed blocks
MALFORMED = {
    "wrong channel count": (r"(<name>x</name>\s*<min>)[^<]*(</min>\s*<max>)[^<]*", r"\g<1>0.0, 0.0\g<2>1.0, 1.0",
                            r"layer 'x': 2 values per bound, but the layer's output has 1 channel "),
    "not a number": (r"(<name>aten::relu/Relu</name>\s*<min>)0\.000000", r"\g<1>abc",
                     r"<min> value 'abc' is not a finite number"),
    "nan": (r"(<name>x</name>\s*<min>)[^<]*", r"\g<1>nan", r"<min> value 'nan' is not a finite number"),
    "no max": (r"(<name>x</name>\s*<min>[^<]*</min>)\s*<max>[^<]*</max>", r"\g<1>", r"layer 'x' has no <max>"),
    "min above max": (r"(<name>x</name>\s*<min>)[^<]*", r"\g<1>50.000000", r"channel 0 has min 50 > max "),
    "twice": (r"(\t\t<layer>\s*<name>x</name>.*?</layer>\n)", r"\g<1>\g<1>", r"gives layer 'x' twice"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_statistics_are_one_clear_error(case, written, tmp_path, capsys):
    pattern, replacement, message = MALFORMED[case]
    text, n = re.subn(pattern, replacement, written[0].read_text(), count=1, flags=re.S)
    assert n == 1
    xml = tmp_path / "bad.xml"
    xml.write_text(text)
    shutil.copy(written[0].with_suffix(".bin"), tmp_path / "bad.bin")
    with pytest.raises(IRFormatError, match=rf"^{re.escape(str(xml))}:\d+: .*{message}"):
        irtool.read_model(xml)
    code, _, err = run_cli(["copy", str(xml), "-o", str(tmp_path / "out.xml")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and re.search(message, err), err
    assert any(re.search(message, p.message) and p.severity == "error" for p in validate(xml))


# ------------------------------------------------------------------------------------------- statistics
def test_channel_ranges_take_axis_1():
    r = ChannelRange()
    r.update(np.array([[[1.0, -2.0], [3.0, 4.0]]], np.float32))  # [1, 2 channels, 2]
    r.update(np.array([[[0.5, 0.0], [9.0, 5.0]]], np.float32))
    np.testing.assert_array_equal(r.result().min, [-2.0, 3.0])
    np.testing.assert_array_equal(r.result().max, [1.0, 9.0])
    flat = ChannelRange()
    flat.update(np.array([[1.0, 2.0, 3.0]], np.float32))  # [N, C]: per feature
    flat.update(np.array([[1.0, 2.0, 3.0, 7.0]], np.float32))  # C changed: one range in all
    assert flat.result().min.tolist() == [1.0] and flat.result().max.tolist() == [7.0]
