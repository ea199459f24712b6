"""Graph helpers a transformation needs, checked on a real OpenVINO-written model."""
from __future__ import annotations

import numpy as np
import pytest

import irtool
from irtool.errors import GraphError
from irtool.ir import Output, serialize
from tests.oracle import build_convnet, ov_outputs, save


@pytest.fixture
def convnet(tmp_path):
    return save(build_convnet(), tmp_path / "convnet.xml")


def test_producer_consumers_and_order(convnet):
    model = irtool.read_model(convnet)
    pool = next(l for l in model if l.type == "MaxPool")
    assert model.producer(pool, 0).layer.type == "ReLU"
    assert sorted(u.layer.type for u in model.consumers(pool, 0)) == ["Clamp", "Convolution"]
    assert model.consumers(pool, 1) == []  # MaxPool-8's indices output is unused
    order = {l.id: i for i, l in enumerate(model.topological_order())}
    assert all(order[e.from_layer] < order[e.to_layer] for e in model.edges)
    assert [l.name for l in model.parameters] == ["input"]
    conv = next(l for l in model if l.type == "Convolution")
    assert model.layer(conv.name) is model.layer(conv.id) is conv
    assert model.producer(conv, 1).layer.constant.value.shape == (4, 3, 3, 3)


def test_insert_then_remove_restores_the_exact_file(convnet, tmp_path):
    model = irtool.read_model(convnet)
    original = serialize(model)
    pool = next(l for l in model if l.type == "MaxPool")
    one = model.add_constant(np.float32(1.0), "one")
    mul = model.insert_after(Output(pool, pool.outputs[0]), "Multiply", "times_one", extra_inputs=[one],
                             attrs={"auto_broadcast": "numpy"})
    assert sorted(u.layer.type for u in model.consumers(mul, 0)) == ["Clamp", "Convolution"]
    assert model.consumers(pool, 0) == [(mul, mul.inputs[0])]
    edited = irtool.save_model(model, tmp_path / "edited.xml")
    for a, b in zip(ov_outputs(convnet), ov_outputs(edited), strict=True):
        np.testing.assert_array_equal(a, b)
    model.remove_layer(mul, bypass=(0, 0))
    assert model.remove_dead() == 1  # the constant
    assert serialize(model) == original


def test_replace_all_uses_and_remove_checks(convnet, tmp_path):
    model = irtool.read_model(convnet)
    relu = next(l for l in model if l.type == "ReLU")
    with pytest.raises(GraphError, match="still feeds"):
        model.remove_layer(relu)
    model.replace_all_uses(Output(relu, relu.outputs[0]), model.producer(relu, 0))
    model.remove_layer(relu)
    out = irtool.save_model(model, tmp_path / "norelu.xml")
    ours = ov_outputs(out)[0]
    assert ours.shape == (1, 10) and np.isfinite(ours).all()
    assert not np.allclose(ours, ov_outputs(convnet)[0])  # the ReLU mattered


def test_copy_is_independent(convnet):
    model = irtool.read_model(convnet)
    clone = model.copy()
    clone.layer("input").name = "renamed"
    clone.remove_layer(next(l for l in clone if l.type == "Result"))
    assert model.layer("input").name == "input" and len(model.results) == 1
    w = next(l for l in model if l.constant is not None)
    assert clone.layers[w.id].constant.value is not None
    np.testing.assert_array_equal(clone.layers[w.id].constant.value, w.constant.value)


def test_new_model_from_scratch_runs_in_openvino(tmp_path):
    model = irtool.Model("scratch")
    x = model.add_layer("Parameter", "x", outputs=[irtool.Port(0, "FP32", [1, 4], ["x"])],
                        attrs={"shape": "1,4", "element_type": "f32"})
    w = model.add_constant(np.arange(8, dtype=np.float32).reshape(2, 4), "w")
    mm = model.add_layer("MatMul", "mm", inputs=[Output(x, x.outputs[0]), w],
                         outputs=[irtool.Port(0, "FP32", [1, 2], ["y"])],
                         attrs={"transpose_a": "false", "transpose_b": "true"})
    model.add_layer("Result", "y", inputs=[Output(mm, mm.outputs[0])])
    path = irtool.save_model(model, tmp_path / "scratch.xml")
    x_in = np.array([[1, 2, 3, 4]], np.float32)
    np.testing.assert_array_equal(ov_outputs(path, {"x": x_in})[0], x_in @ np.arange(8).reshape(2, 4).T)
    assert [p.id for p in mm.inputs + mm.outputs] == [0, 1, 2]  # one counter: inputs, then outputs
