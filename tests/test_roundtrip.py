"""read -> write must give back what OpenVINO wrote, and compute the same in OpenVINO."""
from __future__ import annotations

import numpy as np
import pytest

import irtool
from irtool.ir import serialize
from tests.oracle import ov_outputs, sample_irs


def test_openvino_files_round_trip_byte_identical(ov_ir):
    xml, binary = serialize(irtool.read_model(ov_ir))
    assert xml == ov_ir.read_bytes()
    assert binary == ov_ir.with_suffix(".bin").read_bytes()


def test_written_model_computes_the_same_in_openvino(ov_ir, tmp_path):
    out = irtool.save_model(irtool.read_model(ov_ir), tmp_path / "copy.xml")
    for a, b in zip(ov_outputs(ov_ir), ov_outputs(out), strict=True):
        np.testing.assert_array_equal(a, b)


def test_writing_twice_gives_identical_bytes(ov_ir):
    model = irtool.read_model(ov_ir)
    assert serialize(model) == serialize(model)
    assert serialize(model) == serialize(model.copy())


@pytest.mark.parametrize("xml", sample_irs(), ids=lambda p: p.stem)
def test_samples_round_trip(xml, tmp_path):
    model = irtool.read_model(xml)
    out = irtool.save_model(model, tmp_path / xml.name)
    assert out.read_bytes() == xml.read_bytes()
    assert out.with_suffix(".bin").read_bytes() == xml.with_suffix(".bin").read_bytes()
    for a, b in zip(ov_outputs(xml), ov_outputs(out), strict=True):
        np.testing.assert_array_equal(a, b)


def test_identical_blobs_are_stored_once(tmp_path):
    model = irtool.Model("dups")
    first = model.add_constant(np.arange(6, dtype=np.float32), "a")
    second = model.add_constant(np.arange(6, dtype=np.float32), "b")
    for out in (first, second):
        model.add_layer("Result", f"r_{out.layer.name}", inputs=[out])
    xml, binary = serialize(model)
    assert len(binary) == 24
    assert xml.count(b'offset="0" size="24"') == 2


def test_saving_over_the_files_it_was_read_from(ov_ir):
    before = ov_ir.read_bytes(), ov_ir.with_suffix(".bin").read_bytes()
    irtool.save_model(irtool.read_model(ov_ir), ov_ir)  # the .bin is memory-mapped while rewritten
    assert (ov_ir.read_bytes(), ov_ir.with_suffix(".bin").read_bytes()) == before
    assert sorted(p.name for p in ov_ir.parent.iterdir()) == sorted([ov_ir.name, ov_ir.with_suffix(".bin").name])


def test_failed_write_leaves_nothing(ov_ir, tmp_path, monkeypatch):
    from irtool.ir import writer

    def broken(*_):
        yield "<?xml"
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_xml_lines", broken)
    with pytest.raises(OSError):
        irtool.save_model(irtool.read_model(ov_ir), tmp_path / "x.xml")
    assert not (tmp_path / "x.xml").exists() and not (tmp_path / "x.bin").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".x.")]


def test_legacy_sections_and_unknown_rt_info_are_preserved(tmp_path):
    text = """<?xml version="1.0"?>
<net name="legacy" version="10">
\t<layers>
\t\t<layer id="0" name="x" type="Parameter" version="opset1">
\t\t\t<data shape="1,2" element_type="f32" />
\t\t\t<output>
\t\t\t\t<port id="0" precision="FP32">
\t\t\t\t\t<dim>1</dim>
\t\t\t\t\t<dim>2</dim>
\t\t\t\t</port>
\t\t\t</output>
\t\t</layer>
\t\t<layer id="1" name="y" type="Result" version="opset1">
\t\t\t<input>
\t\t\t\t<port id="0" precision="FP32">
\t\t\t\t\t<dim>1</dim>
\t\t\t\t\t<dim>2</dim>
\t\t\t\t</port>
\t\t\t</input>
\t\t</layer>
\t</layers>
\t<edges>
\t\t<edge from-layer="0" from-port="0" to-layer="1" to-port="0" />
\t</edges>
\t<meta_data>
\t\t<MO_version value="2022.1.0" />
\t\t<cli_parameters>
\t\t\t<input_model value="DIR/model.onnx" />
\t\t</cli_parameters>
\t</meta_data>
\t<quantization_parameters>
\t\t<config>{ "compression": [], "a": "b &amp; c" }</config>
\t</quantization_parameters>
</net>
"""
    path = tmp_path / "legacy.xml"
    path.write_text(text)
    path.with_suffix(".bin").write_bytes(b"")
    model = irtool.read_model(path)
    assert [n.tag for n in model.extras] == ["meta_data", "quantization_parameters"]
    assert serialize(model)[0].decode() == text
    assert irtool.summarize(model).quantized_by == ["POT"]


def test_written_files_have_the_permissions_of_a_new_file(tmp_path):
    """Written through a temporary file, but not left 0600 as ``mkstemp`` makes it."""
    import os

    mask = os.umask(0o022)
    try:
        out = irtool.save_model(irtool.read_model(sample_irs()[0]), tmp_path / "copy.xml")
    finally:
        os.umask(mask)
    assert (out.stat().st_mode & 0o777) == (out.with_suffix(".bin").stat().st_mode & 0o777) == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
