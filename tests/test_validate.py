"""irtool.ir.validate against OpenVINO itself: files openvino.save_model writes are clean, and each
mutation of such a file gives the expected problem on the expected line."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from irtool.ir.validate import Problem, validate

ov = pytest.importorskip("openvino")
ops = pytest.importorskip("openvino.opset13")

RNG = np.random.default_rng(0)


def _c(values, dtype=np.float32):
    return ops.constant(np.asarray(values, dtype=dtype))


def _cnn() -> ov.Model:
    """FakeQuantize, conv, relu, pools, mvn, interpolate, reshape, matmul, softmax, concat, gather."""
    x = ops.parameter([1, 3, 16, 16], np.float32, name="input")
    fq = ops.fake_quantize(x, _c(-1), _c(1), _c(-1), _c(1), 256)
    conv = ops.convolution(fq, _c(RNG.standard_normal((8, 3, 3, 3))), [1, 1], [1, 1], [1, 1], [1, 1])
    relu = ops.relu(ops.add(conv, _c(RNG.standard_normal((1, 8, 1, 1)))))
    pool = ops.max_pool(relu, [1, 1], [1, 1], [0, 0], [0, 0], [2, 2])
    pool = ops.avg_pool(pool.output(0), [1, 1], [0, 0], [0, 0], [2, 2], exclude_pad=True)
    mvn = ops.mvn(pool, _c([2, 3], np.int64), True, 1e-5, "inside_sqrt")
    resized = ops.interpolate(mvn, _c([8, 8], np.int64), "nearest", "sizes", axes=_c([2, 3], np.int64))
    flat = ops.reshape(resized, _c([1, -1], np.int64), special_zero=False)
    logits = ops.matmul(flat, _c(RNG.standard_normal((512, 10))), False, False)
    both = ops.concat([ops.softmax(logits, 1), ops.sigmoid(logits)], 1)
    picked = ops.gather(both, _c([0, 3, 5], np.int64), _c(1, np.int64))
    return ov.Model([ops.result(picked)], [x], "cnn")


def _dynamic() -> ov.Model:
    """Dynamic and interval dims, names with commas, a layout, model rt_info with an NNCF-like section."""
    x = ops.parameter(ov.PartialShape([-1, 3, ov.Dimension(8, 64), -1]), np.float32, name="x")
    x.output(0).get_tensor().set_names({"x", "a,b"})
    x.set_layout(ov.Layout("NCHW"))  # port rt_info
    y = ops.prelu(ops.group_convolution(x, _c(RNG.standard_normal((3, 1, 1, 3, 3))), [1, 1], [1, 1],
                                        [1, 1], [1, 1]), _c([0.1]))
    model = ov.Model([ops.result(ops.reduce_mean(y, _c([2, 3], np.int64), True))], [x], "dyn")
    model.set_rt_info("value1", ["nncf", "quantization", "preset"])
    model.set_rt_info("x y", "weird key")
    return model


def _control_flow() -> ov.Model:
    """If, TensorIterator and ReadValue/Assign: layers with sub-graphs and a model with sinks."""
    cond = ops.parameter([], np.bool_, name="cond")
    z = ops.parameter([1, 4], np.float32, name="z")
    then_in, else_in = ops.parameter([1, 4], np.float32), ops.parameter([1, 4], np.float32)
    branch = ops.if_op(cond)
    branch.set_then_body(ov.Model([ops.relu(then_in)], [then_in]))
    branch.set_else_body(ov.Model([ops.sigmoid(else_in)], [else_in]))
    branch.set_input(z.output(0), then_in, else_in)
    out = branch.set_output(branch.get_then_body().get_results()[0], branch.get_else_body().get_results()[0])
    seq, body_x, body_h = (ops.parameter(s, np.float32) for s in ([1, 3, 4], [1, 1, 4], [1, 4]))
    step = ops.add(ops.squeeze(body_x, _c([1], np.int64)), body_h)
    loop = ops.tensor_iterator()
    loop.set_body(ov.Model([step], [body_x, body_h]))
    loop.set_sliced_input(body_x, seq.output(0), 0, 1, 1, -1, 1)
    loop.set_merged_input(body_h, out, step.output(0))
    state = ops.read_value(_c(np.zeros((1, 4))), "state", np.float32, [1, 4])
    total = ops.add(loop.get_iter_value(step.output(0), -1), state)
    return ov.Model([ops.result(total)], [ops.assign(total, "state")], [cond, z, seq], "flow")


def _save(model: ov.Model, folder: Path, compress: bool) -> Path:
    path = folder / f"{model.get_name()}.xml"
    ov.save_model(model, path, compress_to_fp16=compress)
    return path


@pytest.mark.parametrize("compress", [False, True], ids=["f32", "fp16"])
@pytest.mark.parametrize("build", [_cnn, _dynamic, _control_flow])
def test_openvino_written_models_are_clean(tmp_path: Path, build: Callable, compress: bool) -> None:
    path = _save(build(), tmp_path, compress)
    ov.Core().read_model(path)  # the oracle agrees the file is good
    assert validate(path) == []


# ---------------------------------------------------------------------------------------------
# Mutations of one small real file: Parameter -> FakeQuantize -> Convolution -> ReLU -> Result.

@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x = ops.parameter([1, 2, 4, 4], np.float32, name="input")
    fq = ops.fake_quantize(x, _c(0), _c(1), _c(0), _c(1), 256)
    conv = ops.convolution(fq, _c(RNG.standard_normal((3, 2, 3, 3))), [1, 1], [1, 1], [1, 1], [1, 1])
    model = ov.Model([ops.result(ops.relu(conv))], [x], "base")
    return _save(model, tmp_path_factory.mktemp("base"), compress=False)


def _at(lines: list[str], needle: str, start: int = 0) -> int:
    """Index of the first line from ``start`` that contains ``needle``."""
    return next(i for i in range(start, len(lines)) if needle in lines[i])


def _sub(lines: list[str], i: int, old: str, new: str) -> int:
    """Replace in line ``i`` (0-based); return its 1-based line number, the one a problem must carry."""
    assert old in lines[i], (old, lines[i])
    lines[i] = lines[i].replace(old, new, 1)
    return i + 1


def _attr(line: str, name: str) -> str:
    return line.split(f'{name}="')[1].split('"')[0]


def _set(lines: list[str], i: int, name: str, value: str) -> int:
    """Set attribute ``name`` on line ``i``; return the 1-based line number."""
    return _sub(lines, i, f'{name}="{_attr(lines[i], name)}"', f'{name}="{value}"')


def _edge_into(lines: list[str], layer_type: str) -> int:
    lid = _attr(lines[_at(lines, f'type="{layer_type}"')], "id")
    return _at(lines, f'to-layer="{lid}" to-port="0"', _at(lines, "<edges>"))


def _duplicate(lines: list[str], i: int) -> int:
    lines.insert(i + 1, lines[i])
    return i + 2


def _cycle(lines: list[str]) -> int:
    # feed FakeQuantize from ReLU instead of the Parameter: FQ -> Conv -> ReLU -> FQ
    relu = _attr(lines[_at(lines, 'type="ReLU"')], "id")
    i = _edge_into(lines, "FakeQuantize")
    return _sub(lines, i, 'from-layer="0" from-port="0"', f'from-layer="{relu}" from-port="1"')


def _unfed(lines: list[str]) -> int:
    lines[_edge_into(lines, "FakeQuantize")] = ""
    return _at(lines, '<port id="0"', _at(lines, 'type="FakeQuantize"')) + 1


def _renumber(lines: list[str]) -> int:
    # a Const's output port 0 -> 1, as files from before the one-counter rule have it
    at = _at(lines, 'type="Const"')
    const = _attr(lines[at], "id")
    _sub(lines, _at(lines, '<port id="0"', at), 'id="0"', 'id="1"')
    _sub(lines, _at(lines, f'from-layer="{const}" from-port="0"'), 'from-port="0"', 'from-port="1"')
    return at + 1


CONV = '<data strides="1, 1"'
MUTATIONS: list[tuple[str, Callable[[list[str]], int], str, str]] = [
    ("version", lambda ls: _sub(ls, 1, 'version="11"', 'version="7"'), "IR version 7 is not supported", "error"),
    ("duplicate_id", lambda ls: _set(ls, _at(ls, '<layer id="1"'), "id", "0"), "layer id 0 of", "error"),
    ("edge_missing_layer", lambda ls: _set(ls, _edge_into(ls, "ReLU"), "to-layer", "99"),
     "edge to-layer=99: there is no layer with id 99", "error"),
    ("edge_missing_port", lambda ls: _sub(ls, _edge_into(ls, "ReLU"), 'to-port="0"', 'to-port="7"'),
     "has no port 7", "error"),
    ("edge_from_input", lambda ls: _sub(ls, _edge_into(ls, "ReLU"), 'from-port="2"', 'from-port="0"'),
     "is not an output", "error"),
    ("unknown_attribute", lambda ls: _sub(ls, _at(ls, CONV), "<data ", '<data foo="1" '),
     "unknown attribute 'foo'", "error"),
    ("bad_value", lambda ls: _sub(ls, _at(ls, CONV), 'strides="1, 1"', 'strides="1, x"'),
     'strides="1, x" is not a list of integers', "error"),
    ("bad_enum", lambda ls: _sub(ls, _at(ls, CONV), 'auto_pad="explicit"', 'auto_pad="sideways"'),
     "is not one of: explicit", "error"),
    ("missing_required", lambda ls: _sub(ls, _at(ls, CONV), 'strides="1, 1" ', ""),
     "required attribute 'strides' is missing", "error"),
    ("unknown_element_type", lambda ls: _sub(ls, _at(ls, 'element_type="f32" shape="3, 2'), '"f32"', '"f7"'),
     'element_type="f7" is not a known element type', "error"),
    ("unknown_precision", lambda ls: _sub(ls, _at(ls, 'precision="FP32"'), '"FP32"', '"FP99"'),
     "unknown precision 'FP99'", "error"),
    ("const_beyond_bin", lambda ls: _set(ls, _at(ls, 'shape="3, 2'), "offset", "100"),
     "bytes 100..316 lie outside base.bin", "error"),
    ("const_too_small", lambda ls: _sub(ls, _at(ls, 'shape="3, 2'), 'size="216"', 'size="200"'),
     "size 200 is too small for f32 [3, 2, 3, 3]: needs 216 bytes", "error"),
    ("cycle", _cycle, "the graph has a cycle", "error"),
    ("fed_twice", lambda ls: _duplicate(ls, _edge_into(ls, "ReLU")), "is fed twice", "error"),
    ("unfed_input", _unfed, "input port 0 of FakeQuantize layer", "error"),
    ("port_count", lambda ls: _sub(ls, _at(ls, 'type="ReLU"'), 'type="ReLU"', 'type="Add"'),
     "has 1 input ports, the op takes 2", "error"),
    ("unknown_op", lambda ls: _sub(ls, _at(ls, 'type="ReLU"'), 'type="ReLU"', 'type="MyOp"'),
     "unknown op MyOp version 'opset1'", "warning"),
    ("old_port_ids", _renumber, "ports are numbered [1]", "warning"),
    ("schema", lambda ls: _sub(ls, _at(ls, "<dim>4</dim>"), "<dim>4", "<dim>four"), "schema: Element 'dim'", "error"),
    ("malformed", lambda ls: _sub(ls, _at(ls, "<dim>"), "</dim>", "</dimm>"), "malformed XML", "error"),
    ("doctype", lambda ls: _sub(ls, 0, "?>", '?><!DOCTYPE net [<!ENTITY e "x">]>'), "DOCTYPE", "error"),
]


@pytest.mark.parametrize(("mutate", "expected", "severity"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_mutation_is_reported_on_its_line(base: Path, tmp_path: Path, mutate: Callable, expected: str,
                                          severity: str) -> None:
    lines = base.read_text().split("\n")
    line = mutate(lines)
    xml = tmp_path / "base.xml"
    xml.write_text("\n".join(lines))
    shutil.copy(base.with_suffix(".bin"), tmp_path / "base.bin")
    problems = validate(xml)
    assert any(p.line == line and expected in p.message and p.severity == severity for p in problems), problems


def test_missing_bin_is_reported_once_at_the_first_const(base: Path, tmp_path: Path) -> None:
    xml = tmp_path / "base.xml"
    shutil.copy(base, xml)
    lines = xml.read_text().split("\n")
    first_const = _at(lines, 'type="Const"') + 2  # the <data> line under it
    problems = validate(xml)
    assert [p for p in problems if "base.bin is missing" in p.message] == [
        Problem(first_const, problems[0].message, "error")]


def test_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    [problem] = validate(tmp_path / "nope.xml")
    assert problem.line == 0 and "no such file" in problem.message


def test_legacy_sections_are_accepted(base: Path, tmp_path: Path) -> None:
    """IR v10 with 2020-era <meta_data>/<quantization_parameters> and the 2019 <statistics> block."""
    legacy = ("<meta_data><MO_version value=\"2020.4\"/><cli_parameters><input_model value=\"m.onnx\"/>"
              "</cli_parameters></meta_data><quantization_parameters><config>{'a': 1}</config>"
              "</quantization_parameters><statistics><layer><name>conv</name><min>0.000000, -1.250000</min>"
              "<max>3.100000, 2.000000</max></layer></statistics>\n</net>")
    text = base.read_text().replace('version="11"', 'version="10"', 1).replace("</net>", legacy)
    (tmp_path / "base.xml").write_text(text)
    shutil.copy(base.with_suffix(".bin"), tmp_path / "base.bin")
    assert validate(tmp_path / "base.xml") == []
