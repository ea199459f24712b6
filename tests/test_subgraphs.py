"""TensorIterator, Loop and If: their sub-graphs, port maps and back edges read and written losslessly
(OpenVINO reads the rewritten file and computes the same), and run by irtool's plugin."""
from __future__ import annotations

import numpy as np
import pytest

import irtool
from irtool.errors import InputError, IRFormatError
from irtool.ir import serialize
from irtool.runtime import compile_model
from tests.oracle import assert_close, ov, ov_outputs, random_inputs, save

from openvino import opset1, opset5, opset8  # noqa: E402  (after the oracle's importorskip)


def _c(value, dtype=np.float32):
    return opset8.constant(np.array(value, dtype))


def _ti() -> ov.Model:
    """A TensorIterator over axis 1 with a weight constant in the body, a back edge, a reversed slice."""
    x = opset8.parameter([2, 4, 3], np.float32, name="x")
    h = opset8.parameter([2, 1, 3], np.float32, name="h")
    xi, hi, ri = (opset8.parameter([2, 1, 3], np.float32) for _ in range(3))
    step = opset8.tanh(opset8.add(opset8.multiply(xi, _c(np.full((1, 1, 3), 0.5))), hi))
    body = ov.Model([opset8.result(step), opset8.result(opset8.subtract(ri, xi))], [xi, hi, ri])
    ti = opset1.tensor_iterator()
    ti.set_body(body)
    ti.set_sliced_input(xi, x.output(0), 0, 1, 1, -1, 1)
    ti.set_sliced_input(ri, x.output(0), -1, -1, 1, 0, 1)
    out = body.get_results()[0].output(0)
    ti.set_merged_input(hi, h.output(0), out)
    last = ti.get_iter_value(out, -1)
    seq = ti.get_concatenated_slices(body.get_results()[1].output(0), -1, -1, 1, 0, 1)
    after = opset8.add(last, _c(np.ones((1, 1, 3))))  # a Const after the layer: .bin order
    return ov.Model([after.output(0), seq], [x, h], "ti")


def _loop() -> ov.Model:
    """A Loop with a trip count, a condition from the body, the iteration number and a nested If."""
    x = opset8.parameter([1, 3], np.float32, name="x")
    it = opset8.parameter([], np.int64)
    xb = opset8.parameter([1, 3], np.float32)
    odd = opset8.equal(opset8.floor_mod(it, _c(2, np.int64)), _c(1, np.int64))
    ta, ea = opset8.parameter([1, 3], np.float32), opset8.parameter([1, 3], np.float32)
    ei = opset8.parameter([], np.int64)
    then_body = ov.Model([opset8.result(opset8.multiply(ta, _c(2.0)))], [ta])
    else_body = ov.Model([opset8.result(opset8.add(ea, opset8.convert(ei, "f32")))], [ea, ei])
    branch = opset8.if_op(odd.output(0))
    branch.set_then_body(then_body)
    branch.set_else_body(else_body)
    branch.set_input(xb.output(0), ta, ea)
    branch.set_input(it.output(0), None, ei)
    y = branch.set_output(then_body.get_results()[0], else_body.get_results()[0])
    go = opset8.less(it, _c(4, np.int64))
    body = ov.Model([opset8.result(go), opset8.result(y)], [it, xb])
    loop = opset5.loop(_c(10, np.int64), _c(True, np.bool_))
    loop.set_function(body)
    loop.set_special_body_ports([0, 0])
    out = body.get_results()[1].output(0)
    loop.set_merged_input(xb, x.output(0), out)
    return ov.Model([loop.get_iter_value(out, -1), loop.get_concatenated_slices(out, 0, 1, 1, -1, 0)], [x], "loop")


def _if() -> ov.Model:
    c = opset8.parameter([], np.bool_, name="c")
    a = opset8.parameter([2, 2], np.float32, name="a")
    ta, ea = opset8.parameter([2, 2], np.float32), opset8.parameter([2, 2], np.float32)
    then_body = ov.Model([opset8.result(opset8.matmul(ta, _c(np.eye(2) * 3), False, False))], [ta])
    else_body = ov.Model([opset8.result(opset8.negative(ea))], [ea])
    branch = opset8.if_op(c)
    branch.set_then_body(then_body)
    branch.set_else_body(else_body)
    branch.set_input(a.output(0), ta, ea)
    out = branch.set_output(then_body.get_results()[0], else_body.get_results()[0])
    return ov.Model([out], [c, a], "branch")


BUILDERS = {"ti": _ti, "loop": _loop, "if": _if}


@pytest.fixture(params=sorted(BUILDERS))
def sub_ir(request, tmp_path):
    return save(BUILDERS[request.param](), tmp_path / f"{request.param}.xml")


def test_openvino_files_round_trip_byte_identical(sub_ir):
    model = irtool.read_model(sub_ir)
    xml, binary = serialize(model)
    assert xml == sub_ir.read_bytes()
    assert binary == sub_ir.with_suffix(".bin").read_bytes()
    assert serialize(model.copy()) == (xml, binary)


def test_rewritten_file_computes_the_same_in_openvino(sub_ir, tmp_path):
    out = irtool.save_model(irtool.read_model(sub_ir), tmp_path / "copy.xml")
    inputs = random_inputs(ov.Core().read_model(sub_ir))
    for a, b in zip(ov_outputs(sub_ir, inputs), ov_outputs(out, inputs), strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_edited_body_is_written(sub_ir, tmp_path):
    """The bodies are plain graphs: a change to one (a Const's value) is what OpenVINO then computes."""
    model = irtool.read_model(sub_ir)
    consts = [l for l in model.walk() if l.type == "Const" and l.constant.element_type.name == "f32"
              and l not in model.layers.values()]
    assert consts
    for layer in consts:
        layer.constant = irtool.ir.Constant.from_array(np.asarray(layer.constant.value) * 2)
    out = irtool.save_model(model, tmp_path / "edited.xml")
    inputs = random_inputs(ov.Core().read_model(sub_ir))
    got = list(compile_model(out)(inputs).values())
    for g, r in zip(got, ov_outputs(out, inputs), strict=True):
        assert_close(g, r, 1e-5)


def test_the_graph_model_holds_bodies_port_maps_and_back_edges(tmp_path):
    model = irtool.read_model(save(_ti(), tmp_path / "ti.xml"))
    ti = next(l for l in model if l.type == "TensorIterator")
    body = ti.bodies["body"]
    assert [l.type for l in body.parameters] == ["Parameter"] * 3 and len(body.results) == 2
    rules = ti.port_maps["port_map"]
    sliced = [r for r in rules if r.kind == "input" and r.axis is not None]
    assert [(r.axis, r.start, r.end, r.stride, r.part_size) for r in sliced] == [(1, 0, -1, 1, 1), (1, -1, 0, -1, 1)]
    assert all(body.layers[r.internal_layer_id].type == "Parameter" for r in rules if r.kind == "input")
    assert [(e.from_layer, e.to_layer) for e in ti.back_edges] == [
        (body.results[0].id, body.parameters[1].id)]
    assert len(list(model.walk())) == len(model) + len(body)


def test_loop_special_ports_are_kept(tmp_path):
    model = irtool.read_model(save(_loop(), tmp_path / "loop.xml"))
    loop = next(l for l in model if l.type == "Loop")
    purposes = {r.purpose for r in loop.port_maps["port_map"]} - {None}
    assert purposes == {"current_iteration", "execution_condition"}
    nested = next(l for l in loop.bodies["body"] if l.type == "If")
    assert list(nested.bodies) == ["then_body", "else_body"]
    assert list(nested.port_maps) == ["else_port_map", "then_port_map"]  # OpenVINO's order, kept


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_plugin_runs_them_like_openvino(name, tmp_path):
    path = save(BUILDERS[name](), tmp_path / f"{name}.xml")
    compiled = compile_model(path)
    for seed in range(3):
        inputs = random_inputs(ov.Core().read_model(path), seed)
        if "c" in inputs:
            inputs["c"] = np.array(seed % 2 == 0)  # both branches
        got = list(compiled(inputs).values())
        for g, r in zip(got, ov_outputs(path, inputs), strict=True):
            assert_close(g, r, 1e-5)


def test_loop_with_too_few_slices_is_an_input_error(tmp_path):
    """OpenVINO's CPU plugin fails the inference too (a trip count beyond the sliced input's parts)."""
    x = opset8.parameter([3, 2], np.float32, name="x")
    xb = opset8.parameter([1, 2], np.float32)
    body = ov.Model([opset8.result(_c(True, np.bool_)), opset8.result(opset8.relu(xb))], [xb])
    loop = opset5.loop(_c(5, np.int64), _c(True, np.bool_))
    loop.set_function(body)
    loop.set_special_body_ports([-1, 0])
    loop.set_sliced_input(xb, x.output(0), 0, 1, 1, -1, 0)
    path = save(ov.Model([loop.get_concatenated_slices(body.get_results()[1].output(0), 0, 1, 1, -1, 0)], [x]),
                tmp_path / "short.xml")
    with pytest.raises(InputError, match="part 3"):
        compile_model(path)([np.ones((3, 2), np.float32)])


def test_a_port_map_naming_a_missing_body_layer_is_refused(tmp_path):
    path = save(_if(), tmp_path / "if.xml")
    text = path.read_text()
    assert '<output external_port_id="2" internal_layer_id="2" />' in text
    path.write_text(text.replace('<output external_port_id="2" internal_layer_id="2" />',
                                 '<output external_port_id="2" internal_layer_id="7" />', 1))
    with pytest.raises(IRFormatError, match="body layer 7, which is not a Result"):
        irtool.read_model(path)


def test_a_body_reshaped_with_its_model(tmp_path):
    """Reshaping the model gives a body other shapes than its IR states: it is compiled for them."""
    x = opset8.parameter([2, 3], np.float32, name="x")
    xi, hi = opset8.parameter([2, 1], np.float32), opset8.parameter([2, 1], np.float32)
    body = ov.Model([opset8.result(opset8.add(opset8.sin(xi), hi))], [xi, hi])
    ti = opset1.tensor_iterator()
    ti.set_body(body)
    out = body.get_results()[0].output(0)
    ti.set_sliced_input(xi, x.output(0), 0, 1, 1, -1, 1)
    ti.set_merged_input(hi, opset8.reduce_sum(x, _c([1], np.int64), True).output(0), out)
    path = save(ov.Model([ti.get_iter_value(out, -1)], [x]), tmp_path / "ti.xml")
    data = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    reference = ov.Core().read_model(path)
    reference.reshape({"x": [5, 3]})
    expected = ov.Core().compile_model(reference, "CPU")([data])[0]
    assert_close(compile_model(path, {"x": [5, 3]})([data])[0], expected, 1e-5)


def test_two_body_results_of_one_tensor(tmp_path):
    """Body Results that read one tensor carry one name: each still gives its own output."""
    x, h = opset8.parameter([3, 2], np.float32, name="x"), opset8.parameter([1, 2], np.float32, name="h")
    xi, hi = opset8.parameter([1, 2], np.float32), opset8.parameter([1, 2], np.float32)
    step = opset8.tanh(opset8.add(xi, hi))
    back, seq = opset8.result(step), opset8.result(step)
    ti = opset1.tensor_iterator()
    ti.set_body(ov.Model([back, seq], [xi, hi]))
    ti.set_sliced_input(xi, x.output(0), 0, 1, 1, -1, 0)
    ti.set_merged_input(hi, h.output(0), back.output(0))
    model = ov.Model([ti.get_iter_value(back.output(0), -1), ti.get_concatenated_slices(seq.output(0), 0, 1, 1, -1, 0)],
                     [x, h])
    path = save(model, tmp_path / "two.xml")
    inputs = random_inputs(ov.Core().read_model(path))
    for g, r in zip(compile_model(path)(inputs).values(), ov_outputs(path, inputs), strict=True):
        assert_close(g, r, 1e-5)
