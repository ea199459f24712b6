"""Stateful models (ReadValue/Assign): several inferences in a row give OpenVINO's outputs, with the
variables kept per infer request, ``query_state`` / ``reset_state`` as in OpenVINO."""
from __future__ import annotations

import numpy as np
import pytest

import irtool
from irtool.errors import InputError
from irtool.ir import serialize
from irtool.runtime import compile_model
from tests.oracle import assert_close, ov, save

from openvino import opset3, opset6, opset8  # noqa: E402  (after the oracle's importorskip)


def _c(value, dtype=np.float32):
    return opset8.constant(np.array(value, dtype))


def _accumulate6(init: bool = True) -> ov.Model:
    """``s = s + x`` (ReadValue-6, from a constant init or zeros), the output ``s * 2``."""
    x = opset8.parameter([1, 3], np.float32, name="x")
    read = (opset6.read_value(_c(np.full((1, 3), 0.5)), "acc", np.float32, [1, 3]) if init
            else opset6.read_value("acc", np.float32, [1, 3]))
    total = opset8.add(read, x)
    return ov.Model([opset8.result(opset8.multiply(total, _c(2.0)))], [opset6.assign(total, "acc")], [x], "acc6")


def _accumulate3() -> ov.Model:
    """ReadValue-3/Assign-3; the output is what was read (before this inference's Assign)."""
    x = opset8.parameter([2], np.float32, name="x")
    read = opset3.read_value(_c([1.0, -1.0]), "v3")
    return ov.Model([opset8.result(opset8.tanh(read))], [opset3.assign(opset8.add(read, x), "v3")], [x], "acc3")


def _init_from_input() -> ov.Model:
    """The initial value is computed from the model input (an init sub-graph)."""
    x = opset8.parameter([1, 3], np.float32, name="x")
    read = opset6.read_value(opset8.multiply(x, _c(10.0)), "v", np.float32, [1, 3])
    total = opset8.add(read, x)
    return ov.Model([opset8.result(total)], [opset6.assign(total, "v")], [x], "init")


def _two_variables() -> ov.Model:
    """Two variables, each Assign reading both: every ReadValue sees the state the inference began with."""
    x = opset8.parameter([1, 3], np.float32, name="x")
    a = opset6.read_value(_c(np.ones((1, 3))), "a", np.float32, [1, 3])
    b = opset6.read_value("b", np.float32, [1, 3])
    s = opset8.add(a, b)
    return ov.Model([opset8.result(s)], [opset6.assign(opset8.add(a, x), "a"), opset6.assign(s, "b")], [x], "two")


def _kv_cache() -> ov.Model:
    """A growing state of dynamic shape (a KV cache): zero rows at first."""
    x = opset8.parameter([-1, 3], np.float32, name="x")
    past = opset6.read_value("kv", np.float32, [-1, 3])
    cat = opset8.concat([past, x], 0)
    return ov.Model([opset8.result(opset8.reduce_sum(cat, _c([0], np.int64), False))],
                    [opset6.assign(cat, "kv")], [x], "kv")


def _int_state() -> ov.Model:
    x = opset8.parameter([2], np.int32, name="x")
    read = opset6.read_value(_c([7, 8], np.int32), "count", np.int32, [2])
    total = opset8.add(read, x)
    return ov.Model([opset8.result(total)], [opset6.assign(total, "count")], [x], "int")


BUILDERS = {"acc6": _accumulate6, "acc6-zeros": lambda: _accumulate6(False), "acc3": _accumulate3,
            "init-from-input": _init_from_input, "two": _two_variables, "kv": _kv_cache, "i32": _int_state}


def _feeds(model: ov.Model, n: int = 4, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    feeds = []
    for i in range(n):
        feed = {}
        for inp in model.inputs:
            shape = [d if d > 0 else 1 + i % 2 for d in inp.get_partial_shape().get_min_shape()]
            dtype = inp.get_element_type().to_dtype()
            feed[inp.get_any_name()] = (rng.integers(-5, 5, shape).astype(dtype) if dtype.kind == "i"
                                        else rng.standard_normal(shape).astype(dtype))
        feeds.append(feed)
    return feeds


def _states(request) -> dict[str, np.ndarray]:
    """Each variable's state: irtool gives arrays, OpenVINO tensors."""
    return {s.name: s.state if isinstance(s.state, np.ndarray) else np.array(s.state.data)
            for s in request.query_state()}


@pytest.fixture(params=sorted(BUILDERS))
def stateful_ir(request, tmp_path):
    return save(BUILDERS[request.param](), tmp_path / f"{request.param}.xml")


def test_inferences_in_a_row_give_openvinos_outputs_and_states(stateful_ir):
    """Infer, infer, reset, infer, set a state, infer: outputs and states as OpenVINO's at every step."""
    ov_request = ov.Core().compile_model(str(stateful_ir), "CPU",
                                         {"INFERENCE_PRECISION_HINT": "f32"}).create_infer_request()
    request = compile_model(stateful_ir).create_infer_request()
    assert sorted(_states(request)) == sorted(_states(ov_request))
    for name, value in _states(ov_request).items():  # reset: zeros (dynamic dims 0)
        assert_close(_states(request)[name], value, what=f"state {name} before the first inference")
    feeds = _feeds(ov.Core().read_model(stateful_ir), 6)
    for step, feed in enumerate(feeds):
        if step == 3:
            request.reset_state()
            ov_request.reset_state()
        if step == 5:
            for mine, theirs in zip(request.query_state(), ov_request.query_state()):
                value = np.array(theirs.state.data) + 1
                theirs.state = ov.Tensor(value)
                mine.state = value
        expected = [np.array(v) for v in ov_request.infer(feed).values()]
        got = list(request.infer(feed).values())
        for g, r in zip(got, expected, strict=True):
            assert_close(g, r, 1e-5, f"inference {step}")
        for name, value in _states(ov_request).items():
            assert_close(_states(request)[name], value, 1e-5, f"state {name} after inference {step}")


def test_the_warm_up_inference_leaves_the_state_alone(tmp_path):
    """The plugin's first inference runs once untimed (numba compiles): the user sees one step of state."""
    path = save(_accumulate6(), tmp_path / "acc.xml")
    compiled = compile_model(path)
    x = np.ones((1, 3), np.float32)
    assert np.array_equal(compiled([x])[0], np.full((1, 3), 3.0, np.float32))  # (0.5 + 1) * 2
    assert np.array_equal(compiled([x])[0], np.full((1, 3), 5.0, np.float32))  # the default request kept it


def test_requests_keep_their_own_variables(tmp_path):
    compiled = compile_model(save(_accumulate6(False), tmp_path / "acc.xml"))
    first, second = compiled.create_infer_request(), compiled.create_infer_request()
    x = np.ones((1, 3), np.float32)
    for _ in range(3):
        first.infer([x])
    second.infer([x])
    assert np.array_equal(first.query_state()[0].state, np.full((1, 3), 3.0, np.float32))
    assert np.array_equal(second.query_state()[0].state, np.ones((1, 3), np.float32))


def test_a_failed_inference_changes_no_state(tmp_path):
    compiled = compile_model(save(_kv_cache(), tmp_path / "kv.xml"))
    request = compiled.create_infer_request()
    request.infer([np.ones((2, 3), np.float32)])
    with pytest.raises(InputError):
        request.infer([np.ones((2, 4), np.float32)])
    assert request.query_state()[0].state.shape == (2, 3)


def test_a_state_of_the_wrong_type_or_shape_is_refused(tmp_path):
    request = compile_model(save(_accumulate6(), tmp_path / "acc.xml")).create_infer_request()
    state = request.query_state()[0]
    assert state.name == "acc" and state.get_name() == "acc"
    with pytest.raises(InputError, match="state 'acc' takes float32 \\[1,3\\]"):
        state.state = np.ones((1, 4), np.float32)
    with pytest.raises(InputError):
        state.set_state(np.ones((1, 3), np.float64))
    state.set_state(np.full((1, 3), 2.0, np.float32))
    assert np.array_equal(request.infer([np.zeros((1, 3), np.float32)])[0], np.full((1, 3), 4.0, np.float32))
    state.reset()
    assert np.array_equal(state.get_state(), np.zeros((1, 3), np.float32))


def test_states_are_not_the_callers_arrays(tmp_path):
    """A state is a copy: changing an input or a got state afterwards changes nothing."""
    request = compile_model(save(_accumulate3(), tmp_path / "acc3.xml")).create_infer_request()
    x = np.array([1.0, 2.0], np.float32)
    request.infer([x])
    x[:] = 100
    got = request.query_state()[0].state
    got[:] = -7
    assert np.array_equal(request.query_state()[0].state, np.array([2.0, 1.0], np.float32))


def test_a_model_without_state_has_none(tmp_path):
    x = opset8.parameter([2], np.float32, name="x")
    request = compile_model(save(ov.Model([opset8.relu(x)], [x]), tmp_path / "plain.xml")).create_infer_request()
    assert request.query_state() == []
    request.reset_state()


def test_stateful_files_round_trip_byte_identical(stateful_ir):
    model = irtool.read_model(stateful_ir)
    assert serialize(model) == (stateful_ir.read_bytes(), stateful_ir.with_suffix(".bin").read_bytes())
