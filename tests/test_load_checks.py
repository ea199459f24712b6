"""Mutated IRs (issue 15): each class of mutant that once escaped as a bare Python exception is now one
irtool error line naming the file/layer, from read_model, compile_model, infer or quantize, and the
command line exits non-zero without a traceback. The check pass raises no false alarm on the
shipped IRs, and ``irtool validate`` reports what it finds."""
from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import irtool
from irtool.errors import IrToolError, LayerError
from irtool.ir.checks import check_model, model_problems
from tests.test_bad_input import run_cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


def mutant(tmp_path: Path, sample: str, *edits: tuple[str, str], count: int = 1) -> Path:
    """A copy of ``samples/<sample>.xml`` (+ .bin) in ``tmp_path`` with each (regex, replacement)
    applied ``count`` times; each regex must match."""
    text = (SAMPLES / f"{sample}.xml").read_text()
    for pattern, new in edits:
        text, n = re.subn(pattern, new, text, count=count, flags=re.S)
        assert n, pattern
    dest = tmp_path / f"{sample}.xml"
    dest.write_text(text)
    shutil.copy(SAMPLES / f"{sample}.bin", dest.with_suffix(".bin"))
    return dest


def feed(compiled) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {s.name: rng.standard_normal(tuple(max(d, 1) for d in s.shape)).astype(s.dtype) for s in compiled.inputs}


def load_and_run(path: Path) -> None:
    """read_model, compile_model and one inference."""
    compiled = irtool.compile_model(irtool.read_model(path))
    compiled.infer(feed(compiled))


def one_line(error: BaseException, *needles: str) -> str:
    text = str(error)
    assert isinstance(error, IrToolError), repr(error)
    assert "\n" not in text, text
    for needle in needles:
        assert re.search(needle, text), (needle, text)
    return text


def refused(path: Path, *needles: str, run=load_and_run) -> str:
    with pytest.raises(IrToolError) as info:
        run(path)
    return one_line(info.value, *needles)


def cli_refuses(args: list[str], capsys) -> str:
    code, out, err = run_cli([str(a) for a in args], capsys)
    assert code not in (0, None), (out, err)
    assert "Traceback" not in out + err
    return out + err


# ---------------------------------------------------------------------------------------------
# Const shapes and element types (ir/element_types.py, the reader)

CONST_DATA = r'<data element_type="f32" shape="16, 1, 3, 3" offset="0" size="576" />'


@pytest.mark.parametrize("shape, why", [
    (", ".join(["1"] * 65), "more than 64 dims"),
    ("-1, -1, 3, 3", "negative"),
    ("-1", "negative"),
])
def test_a_const_shape_of_too_many_dims_or_dynamic_dims_is_refused(tmp_path, shape, why):
    path = mutant(tmp_path, "digits_cnn", (re.escape(CONST_DATA), CONST_DATA.replace("16, 1, 3, 3", shape)))
    refused(path, r"digits_cnn\.xml:16: Const 'self\.conv1\.weight'", why, run=irtool.read_model)


@pytest.mark.parametrize("etype", ["dynamic", "undefined"])
def test_a_const_of_no_element_type_is_refused(tmp_path, etype):
    path = mutant(tmp_path, "digits_cnn", (re.escape(CONST_DATA), CONST_DATA.replace("f32", etype)))
    refused(path, r"digits_cnn\.xml:16: Const 'self\.conv1\.weight'", "not a type a constant can have",
            run=irtool.read_model)


def test_a_string_const_over_bytes_that_are_not_strings_is_refused(tmp_path):
    # f32 weights read as OpenVINO's string packing: a count, then offsets, that point nowhere
    path = mutant(tmp_path, "digits_cnn", (re.escape(CONST_DATA), CONST_DATA.replace("f32", "string")))
    refused(path, r"digits_cnn\.xml:\d+", "self\\.conv1\\.weight")


# ---------------------------------------------------------------------------------------------
# Attributes that are not numbers (ir/graph.py attr_int/attr_float)

@pytest.mark.parametrize("value", ["nan", "abc", "0x10", ""])
def test_a_fake_quantize_levels_that_is_not_an_integer_is_refused(tmp_path, value):
    path = mutant(tmp_path, "digits_cnn_int8", (r'levels="256"', f'levels="{value}"'))
    refused(path, r"digits_cnn_int8\.xml:\d+: FakeQuantize-opset1 layer '.*'", "levels")


@pytest.mark.parametrize("value", ["abc", "0x10", "", "1,2"])
def test_a_clamp_bound_that_is_not_a_number_is_refused(tmp_path, value):
    path = mutant(tmp_path, "mobilenetv2_mini", (r'<data min="0" max="6" />', f'<data min="{value}" max="6" />'))
    refused(path, r"mobilenetv2_mini\.xml:87: Clamp-opset1 layer '__module\.stem\.2/aten::hardtanh_/Clamp'", "min")


# ---------------------------------------------------------------------------------------------
# Ports, types and shapes that disagree with the op

def test_an_op_with_fewer_inputs_than_its_type_needs_is_refused(tmp_path):
    # the first ReLU retyped to Gather (3 inputs): "gather() missing 2 required positional arguments"
    path = mutant(tmp_path, "digits_cnn", (r'name="aten::relu/Relu" type="ReLU"', 'name="aten::relu/Relu" type="Gather"'))
    refused(path, r"digits_cnn\.xml:87: Gather-opset1 layer 'aten::relu/Relu' \(id 5\): has 1 input, "
                  r"Gather-opset1 takes 3")


def test_a_fake_quantize_with_a_range_input_dropped_is_refused(tmp_path):
    # (an IndexError in graph.py / lpt.py): FakeQuantize takes 5 inputs
    path = mutant(tmp_path, "digits_cnn_int8",
                  (r'\s*<edge from-layer="\d+" from-port="0" to-layer="5" to-port="4" />', ""),
                  (r'(<layer id="5" name="x/fq_output_0" type="FakeQuantize".*?)<port id="4" precision="FP32" />', r"\1"))
    refused(path, r"digits_cnn_int8\.xml:39: FakeQuantize-opset1 layer 'x/fq_output_0' \(id 5\): has 4 inputs, "
                  r"FakeQuantize-opset1 takes 5")


def test_a_layer_retyped_to_result_whose_output_is_still_read_is_refused(tmp_path):
    # (a KeyError in plugin.py)
    path = mutant(tmp_path, "digits_cnn", (r'name="aten::relu/Relu" type="ReLU"', 'name="aten::relu/Relu" type="Result"'))
    refused(path, r"digits_cnn\.xml:87: Result-opset1 layer 'aten::relu/Relu' \(id 5\): has 1 output port, "
                  r"Result-opset1 has 0 \(a Result ends the graph")


def test_a_const_whose_shape_disagrees_with_its_port_is_refused(tmp_path):
    # (a broadcast ValueError / AxisError in the kernels)
    path = mutant(tmp_path, "digits_cnn",
                  (r'shape="1, 16, 1, 1" offset="576" size="64"', 'shape="16, 1, 1, 1" offset="576" size="64"'))
    refused(path, r"digits_cnn\.xml:51: Const-opset1 layer '__module\.conv1/aten::_convolution/Reshape' \(id 3\): "
                  r"shape=\"16, 1, 1, 1\" disagrees with its port's dims \[1,16,1,1\]")


def test_an_input_port_whose_dims_disagree_with_its_producer_is_refused(tmp_path):
    path = mutant(tmp_path, "digits_cnn",
                  (r'(<layer id="5" name="aten::relu/Relu" type="ReLU" version="opset1">\s*<input>\s*<port id="0" '
                   r'precision="FP32">\s*<dim>1</dim>\s*)<dim>16</dim>', r"\1<dim>17</dim>"))
    refused(path, r"digits_cnn\.xml:87: ReLU-opset1 layer 'aten::relu/Relu' \(id 5\): input port 0 has shape "
                  r"\[1,17,32,32\], but '__module\.conv1/aten::_convolution/Add' \(id 4\) gives it \[1,16,32,32\]")


def test_a_parameter_with_no_output_port_is_refused_at_info_and_run(tmp_path, capsys):
    # `irtool info`: an IndexError in summary.py; `irtool run` called it a cycle
    path = mutant(tmp_path, "digits_cnn",
                  (r'(<layer id="0" name="x" type="Parameter" version="opset1">\s*<data [^>]*/>)\s*<output>.*?</output>',
                   r"\1"))
    text = path.read_text()
    assert "<output>" not in text.split('type="Parameter"')[1].split("</layer>")[0]
    for command in ("info", "run", "validate"):
        message = cli_refuses([command, path], capsys)
        if command != "validate":
            assert "cycle" not in message
            assert re.search(r"digits_cnn\.xml:4: .*'x'.* (0 output ports|no output)", message), message
    refused(path, r"digits_cnn\.xml:4: Parameter 'x' has 0 output ports", run=irtool.read_model)


def test_a_parameter_dim_below_minus_one_is_refused_before_quantizing(tmp_path, capsys):
    path = mutant(tmp_path, "digits_cnn", (r"(<port id=\"0\" precision=\"FP32\" names=\"input\">\s*)<dim>1</dim>",
                                           r"\1<dim>-7</dim>"))
    refused(path, r"digits_cnn\.xml:8: <dim>-7</dim> is not a dimension", run=irtool.read_model)
    out = tmp_path / "q.xml"
    cli_refuses(["quantize", path, "--data", SAMPLES / "digits_cnn_calib.npz", "--subset", "2", "-o", out], capsys)
    assert not out.exists() and not out.with_suffix(".bin").exists()


def test_a_u64_parameter_feeding_a_convolution_is_refused(tmp_path):
    # (a UFuncTypeError in conv.py)
    path = mutant(tmp_path, "digits_cnn", (r'element_type="f32" />\s*<output>\s*<port id="0" precision="FP32" names="input"',
                                           'element_type="u64" />\n<output><port id="0" precision="U64" names="input"'))
    refused(path, r"digits_cnn\.xml:\d+: Convolution-opset1 layer '__module\.conv1/aten::_convolution/Convolution'")


# ---------------------------------------------------------------------------------------------
# NaN weights

def nan_weights(tmp_path: Path, sample: str, offset: int, count: int) -> Path:
    path = mutant(tmp_path, sample, ("<net ", "<net "))
    binary = bytearray(path.with_suffix(".bin").read_bytes())
    binary[offset: offset + 4 * count] = struct.pack("<f", float("nan")) * count
    path.with_suffix(".bin").write_bytes(binary)
    return path


def test_quantizing_nan_weights_is_one_line(tmp_path, capsys):
    # (an OverflowError in int8._zero_points)
    path = nan_weights(tmp_path, "digits_cnn", 0, 144)  # self.conv1.weight, all of it
    calib = SAMPLES / "digits_cnn_calib.npz"
    with pytest.raises(IrToolError) as info:
        irtool.quantize(path, calib, subset_size=2)
    one_line(info.value, "self\\.conv1\\.weight|conv1", "NaN")
    cli_refuses(["quantize", path, "--data", calib, "--subset", "2", "-o", tmp_path / "q.xml"], capsys)
    assert not (tmp_path / "q.xml").exists()


def test_nan_in_an_mvn_input_runs_as_openvino_does(tmp_path):
    # (a ZeroDivisionError in the MVN kernel): NaN in, NaN out
    model = irtool.read_model(SAMPLES / "transformer_mini.xml")
    compiled = irtool.compile_model(model)
    inputs = feed(compiled)
    name = compiled.inputs[0].name
    if inputs[name].dtype.kind == "f":
        inputs[name][...] = np.nan
    compiled.infer(inputs)  # no exception
    path = nan_weights(tmp_path, "transformer_mini", 0, 1 << 14)
    try:
        load_and_run(path)
    except IrToolError as e:
        one_line(e)


# ---------------------------------------------------------------------------------------------
# No false alarms; validate reports what the check pass finds

SHIPPED = sorted(SAMPLES.glob("*.xml")) + sorted((ROOT / "tests" / "fixtures").rglob("*.xml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_check_pass_accepts_every_shipped_ir(path):
    model = irtool.read_model(path)
    check_model(model)
    assert model_problems(model, structure=True) == []
    from irtool.ir.validate import validate

    assert [p for p in validate(path) if p.severity == "error"] == []


def test_validate_reports_a_shape_mismatch(tmp_path, capsys):
    path = mutant(tmp_path, "digits_cnn",
                  (r'shape="1, 16, 1, 1" offset="576" size="64"', 'shape="16, 1, 1, 1" offset="576" size="64"'))
    code, out, err = run_cli(["validate", str(path)], capsys)
    assert code == 1
    assert "Traceback" not in out + err
    assert re.search(r"digits_cnn\.xml:51: error: .*disagrees with its port's dims \[1,16,1,1\]", out), out


def test_validate_reports_an_output_shape_openvino_would_infer_otherwise(tmp_path, capsys):
    # the first convolution's output stated as 30x30: its 'same' padding makes 32x32
    path = mutant(tmp_path, "digits_cnn",
                  (r'(<layer id="2" name="__module\.conv1/aten::_convolution/Convolution".*?<output>\s*<port id="2" '
                   r'precision="FP32">\s*<dim>1</dim>\s*<dim>16</dim>\s*)<dim>32</dim>\s*<dim>32</dim>',
                   r"\1<dim>30</dim><dim>30</dim>"))
    text = path.read_text()
    assert "<dim>30</dim>" in text
    code, out, err = run_cli(["validate", str(path)], capsys)
    assert code == 1, out
    assert re.search(r"digits_cnn\.xml:26: error: .*output port 2 has shape \[1,16,30,30\] in the IR, but OpenVINO's "
                     r"rules give \[1,16,32,32\]", out), out
    with pytest.raises(LayerError):
        check_model(irtool.read_model(path))


def test_nan_in_a_fake_quantize_range_runs_or_is_one_line(tmp_path):
    # (an OverflowError in int8._zero_points: a NaN zero point cast to int16): such a FakeQuantize
    # stays FP32 emulation
    text = (SAMPLES / "digits_cnn_int8.xml").read_text()
    model = irtool.read_model(SAMPLES / "digits_cnn_int8.xml")
    fq = next(l for l in model.layers.values() if l.type == "FakeQuantize")
    for k in range(1, 5):
        src = model.producer(fq, k).layer
        offset = int(re.search(rf'<layer id="{src.id}" [^>]*>\s*<data [^>]*offset="(\d+)"', text).group(1))
        path = nan_weights(tmp_path / str(k), "digits_cnn_int8", offset, 1) if (tmp_path / str(k)).mkdir() is None \
            else None
        compiled = irtool.compile_model(path)
        compiled.infer(feed(compiled))


@pytest.mark.parametrize("version", ["", "extension"])
def test_an_op_under_a_version_no_opset_names_is_held_to_what_every_version_has(tmp_path, version):
    # the plugin runs a known type by its name: an Add retyped to a one-input op under version "" reached
    # the kernel with two ("_unary.<locals>.run() takes 1 positional argument but 2 were given")
    path = mutant(tmp_path, "digits_cnn", (r'type="Add" version="opset1"', f'type="Acosh" version="{version}"'))
    refused(path, r"digits_cnn\.xml:62: Acosh-.* layer '__module\.conv1/aten::_convolution/Add' \(id 4\): has 2 inputs, "
                  r"Acosh \(any version\) takes 1")


def test_mvn_with_zero_eps_over_a_constant_row_gives_nan_not_zero_division():
    from irtool.runtime.kernels.reduce import _mvn_rows, _mvn_rows_serial

    x = np.ones((2, 8), np.float32)
    for kernel in (_mvn_rows, _mvn_rows_serial):
        out = np.empty_like(x)
        kernel(x, True, 0.0, False, out)
        assert np.isnan(out).all()


# ---------------------------------------------------------------------------------------------
# DOCTYPE and entity declarations, wherever they stand

LAUGHS = ('<!DOCTYPE net [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
          '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>')


@pytest.mark.parametrize("case", ["after-comment-holding-net", "lower-case", "spaced", "entity-alone",
                                  "utf16-bom", "utf16-no-bom", "utf8-bom", "in-cdata"])
def test_a_doctype_or_entity_declaration_anywhere_is_refused_before_parsing(tmp_path, case, monkeypatch):
    path = mutant(tmp_path, "digits_cnn", ("<net ", "<net "))
    text = path.read_text()
    head, rest = text.split("\n", 1)
    if case == "after-comment-holding-net":  # passed the old scan: it looked only before the first "<net"
        body = rest.replace("<net ", '<net attr="&d;" ', 1)
        text = f'{head}\n<!-- <net name="x"> -->\n{LAUGHS}\n{body}'
    elif case == "lower-case":
        text = f"{head}\n{LAUGHS.replace('DOCTYPE', 'doctype')}\n{rest}"
    elif case == "spaced":
        text = f"{head}\n\n  <! DOCTYPE net>\n{rest}"
    elif case == "entity-alone":
        text = text.replace("<layers>", '<layers><!ENTITY x "y">', 1)
    elif case == "in-cdata":
        text = text.replace("<layers>", "<layers><![CDATA[ <!DOCTYPE x> ]]>", 1)
    else:
        text = f"{head}\n{LAUGHS}\n{rest}"
    data = text.encode("utf-8")
    if case == "utf16-bom":
        data = text.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")
    elif case == "utf16-no-bom":
        data = text.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16-le")
    elif case == "utf8-bom":
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)
    from lxml import etree

    def no_parsing(*args, **kwargs):
        raise AssertionError("libxml2 was handed a document with a DTD")

    monkeypatch.setattr(etree, "fromstring", no_parsing)
    refused(path, r"digits_cnn\.xml:\d+: a DOCTYPE/DTD is not allowed in an IR", run=irtool.read_model)
    monkeypatch.undo()
    from irtool.ir.validate import validate

    assert any("DOCTYPE/DTD is not allowed" in p.message for p in validate(path))


def test_an_encoding_the_scan_cannot_read_is_refused(tmp_path):
    path = mutant(tmp_path, "digits_cnn", ('<\\?xml version="1.0"\\?>', '<?xml version="1.0" encoding="IBM037"?>'))
    refused(path, r"digits_cnn\.xml:1: encoding \"IBM037\" is not one irtool reads", run=irtool.read_model)


def test_a_utf16_ir_without_declarations_still_reads(tmp_path):
    path = mutant(tmp_path, "digits_cnn", ('<\\?xml version="1.0"\\?>', '<?xml version="1.0" encoding="UTF-16"?>'))
    path.write_bytes(path.read_text().encode("utf-16"))
    assert len(irtool.read_model(path).layers) == len(irtool.read_model(SAMPLES / "digits_cnn.xml").layers)


@pytest.mark.parametrize("new_type, why", [("LogicalOr", "a logical op takes boolean inputs, not f32"),
                                           ("BitwiseAnd", "a bitwise op takes integer or boolean inputs, not f32")])
@pytest.mark.parametrize("version", ["opset13", ""])
def test_a_float_add_retyped_to_a_logical_or_bitwise_op_is_refused(tmp_path, new_type, why, version):
    # (numpy's casting errors at infer, found by tools/fuzz.py)
    path = mutant(tmp_path, "digits_cnn", (r'type="Add" version="opset1"', f'type="{new_type}" version="{version}"'))
    refused(path, rf"digits_cnn\.xml:62: {new_type}-{version} layer .*: OpenVINO refuses it: {why}")


def test_an_op_under_an_opset_that_lacks_it_is_refused(tmp_path):
    # MVN-6 renamed opset1 (MVN is in opset2 on): the plugin ran MVN-1's kernel with MVN-6's two inputs
    path = mutant(tmp_path, "transformer_mini", (r'type="MVN" version="opset6"', 'type="MVN" version="opset1"'))
    refused(path, r"transformer_mini\.xml:\d+: MVN-opset1 layer .*: MVN is not an op of opset1 \(OpenVINO's opsets have "
                  r"it in opset2\.\.opset\d+\)")


@pytest.mark.parametrize("new_type", ["BitwiseNot", "BitwiseLeftShift"])
def test_a_float_op_retyped_to_a_bitwise_one_is_refused(tmp_path, new_type):
    old = 'name="aten::relu/Relu" type="ReLU" version="opset1"' if new_type == "BitwiseNot" else \
        'type="Add" version="opset1"'
    path = mutant(tmp_path, "digits_cnn", (old, old.replace('type="ReLU"', f'type="{new_type}"')
                                           .replace('type="Add"', f'type="{new_type}"').replace("opset1", "opset15")))
    refused(path, rf"{new_type}-opset15 layer .*: OpenVINO refuses it: a bitwise op takes integer or boolean inputs")


@pytest.mark.parametrize("levels", ["-7", "0", "1"])
def test_a_fake_quantize_of_fewer_than_two_levels_is_refused(tmp_path, levels):
    # it reached the integer kernels, which wrote out of bounds: a segfault at the next garbage
    # collection (found by tools/fuzz.py); OpenVINO's CPU plugin refuses it too ("levels > 1")
    path = mutant(tmp_path, "digits_cnn_int8", (r'levels="256"', f'levels="{levels}"'))
    refused(path, rf"digits_cnn_int8\.xml:39: FakeQuantize-opset1 layer 'x/fq_output_0' \(id 5\): OpenVINO refuses it: "
                  rf"levels={levels}: a FakeQuantize has at least 2 levels")
