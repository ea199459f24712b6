"""The CPU plugin's API and CLI: compile, infer, counters, batching, and bad inputs."""
from __future__ import annotations

import json

import numpy as np
import pytest

import irtool
from irtool.errors import InputError, IRFormatError, UnsupportedError
from irtool.ir.graph import Input
from tests.oracle import assert_close, build_convnet, build_fq_model, ov, ov_outputs, save
from tests.test_bad_input import run_cli


@pytest.fixture
def convnet(tmp_path):
    return save(build_convnet(), tmp_path / "convnet.xml")


@pytest.fixture
def x():
    return np.random.default_rng(3).standard_normal((1, 3, 8, 8)).astype(np.float32)


def test_outputs_by_name_position_and_list_input(convnet, x):
    compiled = irtool.compile_model(convnet)
    by_name = compiled({"input": x})
    assert list(by_name) == ["probs"]
    assert_close(by_name["probs"], ov_outputs(convnet, {"input": x})[0])
    np.testing.assert_array_equal(compiled([x])[0], by_name["probs"])
    np.testing.assert_array_equal(compiled({"image": x})["probs"], by_name["probs"])  # any tensor name


def test_infer_request_reuse_and_counters(convnet, x):
    compiled = irtool.compile_model(convnet)
    request = compiled.create_infer_request()
    first = request.infer({"input": x})["probs"].copy()
    np.testing.assert_array_equal(request.infer({"input": x})["probs"], first)
    counters = {c.node_name: c for c in request.get_profiling_info()}
    model = irtool.read_model(convnet)
    assert set(counters) == {l.name for l in model if l.type != "Const"}  # one record per layer
    for layer in model:
        if layer.type == "Const":
            continue
        c = counters[layer.name]
        if layer.type in ("Parameter", "Result"):
            assert c.status == "NOT_RUN" and c.real_time == 0
        elif layer.type in ("Add", "ReLU") and c.status == "NOT_RUN":  # fused into the conv before it
            assert model.producer(layer, 0).layer.type in ("Convolution", "Add")
        else:
            assert c.status == "EXECUTED" and c.exec_type.endswith("_FP32") and c.real_time > 0
    assert counters[next(l.name for l in model if l.type == "Convolution")].exec_type != "ref_any_FP32"


def test_bias_and_activation_fuse_into_the_convolution(convnet, x):
    fused, plain = irtool.compile_model(convnet), irtool.compile_model(convnet, fuse=False)
    np.testing.assert_array_equal(fused({"input": x})["probs"], plain({"input": x})["probs"])  # bit-identical
    status = {c.node_name: (c.node_type, c.status) for c in fused.get_profiling_info()}
    assert ("ReLU", "NOT_RUN") in status.values() and ("Add", "NOT_RUN") in status.values()
    assert all(s == "EXECUTED" for t, s in status.values() if t == "Convolution")


def _residual_block(bias: bool, act: str | None, shortcut_first: bool, size: int = 8) -> "ov.Model":
    """x -> conv1 -> relu -> conv2 [+ bias] -> Add(x) [-> act]: a ResNet block."""
    from openvino import opset13 as ops

    rng = np.random.default_rng(7)
    x = ops.parameter([1, 8, size, size], np.float32, name="x")
    w = [ops.constant(rng.standard_normal((8, 8, 3, 3)).astype(np.float32) * 0.2) for _ in range(2)]
    y = ops.relu(ops.convolution(x, w[0], [1, 1], [1, 1], [1, 1], [1, 1]))
    y = ops.convolution(y, w[1], [1, 1], [1, 1], [1, 1], [1, 1])
    if bias:
        y = ops.add(y, ops.constant(rng.standard_normal((1, 8, 1, 1)).astype(np.float32)))
    y = ops.add(x, y) if shortcut_first else ops.add(y, x)
    if act == "relu":
        y = ops.relu(y)
    elif act == "clamp":
        y = ops.clamp(y, -0.5, 1.5)
    return ov.Model([y], [x])


@pytest.mark.parametrize("bias, act, shortcut_first, size", [
    (True, "relu", False, 8), (False, "relu", True, 8), (True, None, True, 8), (True, "clamp", False, 8),
    (True, "relu", False, 2),  # an output under one vector: the generic kernel, then numpy's Adds
])
def test_residual_add_fuses_into_the_convolution(tmp_path, bias, act, shortcut_first, size):
    path = save(_residual_block(bias, act, shortcut_first, size), tmp_path / "block.xml")
    fused, plain = irtool.compile_model(path), irtool.compile_model(path, fuse=False)
    x = np.random.default_rng(1).standard_normal((1, 8, size, size)).astype(np.float32)
    got = fused([x])[0]
    np.testing.assert_array_equal(got, plain([x])[0])  # the same float operations in the same order
    assert_close(got, ov_outputs(path, {"x": x})[0])
    assert len(fused._steps) == 2  # the two convolutions; bias, residual Add and activation fused
    status = {c.node_type: c.status for c in fused.get_profiling_info() if c.node_type in ("Add", "ReLU", "Clamp")}
    assert set(status.values()) == {"NOT_RUN"}


def test_fp16_weights_are_decompressed_at_load_time(tmp_path, x):
    path = save(build_convnet(), tmp_path / "fp16.xml", fp16=True)
    compiled = irtool.compile_model(path)
    assert_close(compiled({"input": x})["probs"], ov_outputs(path, {"input": x})[0])
    converts = [c for c in compiled.get_profiling_info() if c.node_type == "Convert"]
    assert converts and all(c.status == "NOT_RUN" for c in converts)  # folded


@pytest.mark.parametrize("inputs, message", [
    ({"nope": np.zeros((1, 3, 8, 8), np.float32)}, "no input named 'nope'"),
    ({"input": np.zeros((1, 3, 8, 9), np.float32)}, r"shape \[1, 3, 8, 9\], the model takes \[1,3,8,8\]"),
    ({"input": np.zeros((1, 3, 8, 8), np.float64)}, "is float64, the model takes float32"),
    ({}, "missing input"),
])
def test_bad_inputs_are_one_clear_error(convnet, inputs, message):
    with pytest.raises(InputError, match=message):
        irtool.compile_model(convnet)(inputs)


def test_unknown_op_names_the_op_and_layer(convnet):
    text = convnet.read_text().replace('type="SoftMax"', 'type="FancySoftMax"')
    convnet.write_text(text)
    with pytest.raises(UnsupportedError, match=r"layer 'Softmax_\d+' \(line \d+\): op FancySoftMax .* supported ops: .*Add"):
        irtool.compile_model(convnet)


def test_cli_run_batches_and_saves_outputs(convnet, tmp_path, capsys):
    xs = np.random.default_rng(4).standard_normal((3, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "in.npz", whatever=xs)
    code, out, err = run_cli(["run", str(convnet), "-i", str(tmp_path / "in.npz"), "-o", str(tmp_path / "out.npz"),
                              "--perf-counters", "--sort"], capsys)
    assert code == 0, err
    assert "3 batch(es)" in out and "execType: " in out and "proportion: " in out and "Total time:" in out
    with np.load(tmp_path / "out.npz") as z:
        assert list(z.files) == ["probs"] and z["probs"].shape == (3, 10)
        for i in range(3):
            assert_close(z["probs"][i:i + 1], ov_outputs(convnet, {"input": xs[i:i + 1]})[0])


@pytest.mark.parametrize("args, message", [
    (["-i", "{d}/bad.npz"], "has no array for input 'image'"),
    (["--shape", "nope:1,3,8,8"], "--shape names 'nope'"),
    (["-i", "{d}/missing.npz"], "missing.npz: no such file"),
])
def test_cli_run_bad_input(convnet, tmp_path, capsys, args, message):
    np.savez(tmp_path / "bad.npz", a=np.zeros((2, 3, 8, 8), np.float32), b=np.zeros(1))
    args = [a.format(d=tmp_path) for a in args]
    code, _, err = run_cli(["run", str(convnet), *args], capsys)
    assert code == 2 and err.startswith("irtool: error: ") and len(err.strip().splitlines()) == 1
    assert __import__("re").search(message, err), err


def test_cli_benchmark_json(convnet, capsys):
    code, out, _ = run_cli(["benchmark", str(convnet), "-niter", "5", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["count"] == 5 and result["latency_median_ms"] > 0 and result["throughput_fps"] > 0
    fq = save(build_fq_model(), convnet.parent / "fq.xml")  # no batch-1 Reshape inside: takes -b 2
    code, out, _ = run_cli(["benchmark", str(fq), "-niter", "3", "-b", "2", "-pc"], capsys)
    assert code == 0 and "Throughput:" in out and "Median:" in out and "execType:" in out


def test_thread_budget_applies_to_numba_and_openblas():
    import numba

    from irtool.runtime import threads

    threads.set_num_threads(1, 1)
    assert numba.get_num_threads() == 1
    assert threads._openblas(1)  # numpy's OpenBLAS was found and set
    threads.set_num_threads(numba.config.NUMBA_NUM_THREADS, 1)


def test_constant_subgraph_that_cannot_be_computed_is_one_clear_error(tmp_path):
    """A Reshape of constants to an impossible shape: caught at load time, naming the layer."""
    import openvino.opset13 as ops13

    x = ops13.parameter([1, 6], np.float32, name="x")
    target = ops13.constant(np.array([1, 6], np.int64))
    shaped = ops13.reshape(ops13.constant(np.arange(6, dtype=np.float32)), target, False)
    shaped.set_friendly_name("bad_reshape")
    path = tmp_path / "m.xml"
    ov.save_model(ov.Model([ops13.add(x, shaped)], [x]), str(path), compress_to_fp16=False)
    model = irtool.read_model(path)
    reshape = model.layer("bad_reshape")
    model.connect(model.add_constant(np.array([4, 4], np.int64), "wrong_shape"), Input(reshape, reshape.inputs[1]))
    with pytest.raises(IRFormatError, match="layer 'bad_reshape'"):
        irtool.compile_model(model)


def test_a_branch_that_only_measures_a_tensor_folds_away(tmp_path):
    """ShapeOf of a tensor with a static shape becomes a Const before the plugin plans its steps
    (passes.fold.fold_static_shapes): what only fed it is not run; the input model is untouched."""
    from irtool.passes.fold import fold_static_shapes
    from tests.oracle import ops

    x = ops.parameter([1, 3, 4, 5], np.float32, name="x")
    shape = ops.shape_of(ops.relu(x), "i32")  # the Relu feeds only the ShapeOf
    model = irtool.read_model(save(ov.Model([shape, ops.sigmoid(x)], [x], "measure"), tmp_path / "m.xml"))
    folded = fold_static_shapes(model)
    assert not any(l.type in ("ShapeOf", "ReLU") for l in folded)
    assert sum(l.type == "ShapeOf" for l in model) == 1 and any(l.type == "ReLU" for l in model)
    compiled = irtool.compile_model(model)
    sample = np.random.default_rng(0).standard_normal((1, 3, 4, 5)).astype(np.float32)
    got = sorted(compiled([sample]).values(), key=lambda a: a.dtype.kind)  # (float, then int)
    want = sorted(ov_outputs(tmp_path / "m.xml", {"x": sample}), key=lambda a: a.dtype.kind)
    assert got[1].dtype == np.int32
    np.testing.assert_array_equal(got[1], want[1])
    assert_close(got[0], want[0])
    rows = {c.node_type: c.status for c in compiled.get_profiling_info()}
    assert rows["ReLU"] == rows["ShapeOf"] == "NOT_RUN"


def test_the_ssd_sample_runs_no_step_for_its_prior_boxes():
    """ssd_digits' PriorBox layers read feature maps' shapes only: the INT8 path runs no Dequantize for
    them, and the input Quantize, read by the first convolution alone, goes into it."""
    from tests.oracle import SAMPLES

    types = [s.layer.type for s in irtool.compile_model(SAMPLES / "ssd_digits_int8.xml")._steps]
    assert "Quantize" not in types and "Dequantize" not in types
