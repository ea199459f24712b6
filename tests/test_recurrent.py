"""Recurrent ops beyond the one-op conformance cases: an LSTM model as a converter writes it (saved
with OpenVINO's default fp16-compressed weights), and the LSTMCell-1 attributes that OpenVINO's CPU
plugin ignores (measured: weights_format, input_forget, the peephole input)."""
from __future__ import annotations

import re

import numpy as np
import pytest

import irtool
from tests.oracle import assert_close, ov, ov_outputs, save

from openvino import opset1, opset5  # noqa: E402  (after the importorskip in tests.oracle)

RNG = np.random.default_rng(7)


def _f32(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def test_lstm_sequence_model_saved_by_openvino(tmp_path):
    """Parameter -> LSTMSequence -> Squeeze -> MatMul, written by ``openvino.save_model`` as it is
    (weights compressed to f16 + Convert), run by ``irtool.compile_model(path)``."""
    n, t, i, h = 2, 7, 8, 16
    x = opset1.parameter([n, t, i], np.float32, name="tokens")
    zeros = opset1.constant(np.zeros((n, 1, h), np.float32))
    seq = opset5.lstm_sequence(x, zeros, zeros, opset1.constant(np.full(n, t, np.int32)),
                               opset1.constant(_f32(1, 4 * h, i, scale=h ** -0.5)),
                               opset1.constant(_f32(1, 4 * h, h, scale=h ** -0.5)),
                               opset1.constant(_f32(1, 4 * h, scale=h ** -0.5)), h, "forward")
    y = opset1.squeeze(seq.output(0), opset1.constant(np.array([1], np.int64)))
    logits = opset1.matmul(y, opset1.constant(_f32(h, 5, scale=0.5)), False, False)
    logits.output(0).get_tensor().set_names({"logits"})
    model = ov.Model([logits], [x], "lstm_tagger")
    path = tmp_path / "lstm.xml"
    ov.save_model(model, str(path))
    assert 'element_type="f16"' in path.read_text()  # the default: weights stored in f16
    data = {"tokens": _f32(n, t, i)}
    got = irtool.compile_model(path)(data)
    assert list(got) == ["logits"]
    assert_close(got["logits"], ov_outputs(path, data)[0], 1e-4, "logits")


@pytest.fixture
def lstm_cell_v0(tmp_path):
    """An LSTMCell-1 IR (weights Consts) and its inputs."""
    n, i, h = 2, 3, 4
    xs = [_f32(n, i), _f32(n, h), _f32(n, h)]
    params = [opset1.parameter(list(a.shape), np.float32, name=f"in{k}") for k, a in enumerate(xs)]
    cell = opset1.lstm_cell(*params, opset1.constant(_f32(4 * h, i, scale=0.5)),
                            opset1.constant(_f32(4 * h, h, scale=0.5)), opset1.constant(_f32(4 * h, scale=0.5)), h)
    path = save(ov.Model(cell.outputs(), params), tmp_path / "cell.xml")
    return path, {f"in{k}": a for k, a in enumerate(xs)}, h


def _variant(path, name, text, extra=b""):
    out = path.with_name(f"{name}.xml")
    out.write_text(text)
    out.with_suffix(".bin").write_bytes(path.with_suffix(".bin").read_bytes() + extra)
    return out


def _same(path, inputs, reference):
    ref = ov_outputs(path, inputs)
    for r, base in zip(ref, reference):  # OpenVINO ignores the attribute (what this test pins down)
        np.testing.assert_array_equal(r, base)
    for k, (g, r) in enumerate(zip(irtool.compile_model(path)(inputs).values(), ref)):
        assert_close(g, r, 1e-4, f"output {k}")


@pytest.mark.parametrize("attr", ['weights_format="ifco"', 'weights_format="iofc"', 'input_forget="true"'])
def test_lstm_cell_v0_ignored_attributes(lstm_cell_v0, attr):
    path, inputs, _ = lstm_cell_v0
    text = path.read_text()
    key = attr.split("=")[0]
    edited = re.sub(rf'{key}="[^"]*"', attr, text)
    assert edited != text
    _same(_variant(path, "edited", edited), inputs, ov_outputs(path, inputs))


def test_lstm_cell_v0_peepholes_ignored(lstm_cell_v0):
    """OpenVINO's serializer writes no P input; one added by hand is read, and ignored."""
    path, inputs, h = lstm_cell_v0
    text = path.read_text()
    peep = _f32(3 * h)
    offset = path.with_suffix(".bin").stat().st_size
    const = (f'<layer id="900" name="P" type="Const" version="opset1"><data element_type="f32" shape="{3 * h}" '
             f'offset="{offset}" size="{peep.nbytes}" /><output><port id="0" precision="FP32"><dim>{3 * h}</dim>'
             '</port></output></layer>\n')
    text = text.replace("<layers>", "<layers>\n" + const, 1)
    cell = re.search(r'<layer id="(\d+)" [^>]*type="LSTMCell".*?(</input>)', text, re.S)
    text = (text[:cell.start(2)] + f'<port id="6" precision="FP32"><dim>{3 * h}</dim></port>' + text[cell.start(2):])
    text = text.replace("<edges>", f'<edges>\n<edge from-layer="900" from-port="0" to-layer="{cell.group(1)}" '
                                   'to-port="6" />', 1)
    _same(_variant(path, "peepholes", text, peep.tobytes()), inputs, ov_outputs(path, inputs))
