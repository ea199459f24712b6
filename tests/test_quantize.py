"""irtool quantize on OpenVINO-built models: OpenVINO runs the result in INT8; refusals; weights forms."""
from __future__ import annotations

import re

import numpy as np
import pytest

import irtool
from irtool.errors import InputError, UnsupportedError
from irtool.passes.weights import compress_weights, expand_weights
from irtool.quantization import IgnoredScope, QuantizeConfig
from irtool.quantization.default import quantize
from tests.oracle import assert_close, ov, ops, ov_outputs
from tests.test_bad_input import run_cli

F = np.float32


def build_cnn() -> "ov.Model":
    """conv-relu-conv(+bias)-relu, residual Add, global pool, MatMul: every INT8 pattern of a CNN."""
    rng = np.random.default_rng(7)
    x = ops.parameter([1, 3, 16, 16], F, name="input")

    def conv(t, cin, cout, k=3):
        w = ops.constant((rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(F))
        b = ops.constant((rng.standard_normal((1, cout, 1, 1)) * 0.1).astype(F))
        return ops.relu(ops.add(ops.convolution(t, w, [1, 1], [k // 2] * 2, [k // 2] * 2, [1, 1]), b))

    c1 = conv(x, 3, 16)
    c2 = conv(c1, 16, 16)
    res = ops.add(c1, c2)
    pooled = ops.reduce_mean(res, ops.constant(np.array([2, 3])), False)
    fc = ops.matmul(pooled, ops.constant(rng.standard_normal((10, 16)).astype(F)), False, True)
    fc.output(0).get_tensor().set_names({"logits"})
    return ov.Model([fc], [x], "cnn")


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    path = tmp_path_factory.mktemp("cnn") / "cnn.xml"
    ov.save_model(build_cnn(), str(path), compress_to_fp16=False)
    return path


@pytest.fixture(scope="module")
def calib():
    rng = np.random.default_rng(0)
    return [{"input": rng.standard_normal((1, 3, 16, 16)).astype(F)} for _ in range(32)]


@pytest.fixture(scope="module")
def quantized(cnn, calib, tmp_path_factory):
    model, report = quantize(irtool.read_model(cnn), calib)
    path = irtool.save_model(model, tmp_path_factory.mktemp("q") / "cnn_int8.xml")
    return path, report


def ov_exec_types(xml, inputs) -> dict[str, tuple[str, str]]:
    compiled = ov.Core().compile_model(str(xml), "CPU", {"PERF_COUNT": True})
    request = compiled.create_infer_request()
    request.infer(inputs)
    return {p.node_name: (p.node_type, p.exec_type) for p in request.get_profiling_info() if p.status.name == "EXECUTED"}


def test_openvino_runs_convolutions_and_matmuls_in_int8(quantized, calib):
    path, report = quantized
    types = ov_exec_types(path, calib[0])
    heavy = {n: e for n, (t, e) in types.items() if t in ("Convolution", "FullyConnected", "MatMul")
             or "FullyConnected" in t}
    assert heavy and all(e.lower().endswith("_i8") for e in heavy.values()), heavy
    assert report.weight_fqs == 3 and report.activation_fqs >= 3 and report.compressed == 3


def test_int8_ir_computes_the_same_in_irtool_and_openvino(cnn, calib, tmp_path):
    # 7-bit weights everywhere (overflow fix "all"): OpenVINO's AVX2 u8 x s8 kernels cannot saturate,
    # so its integer arithmetic and irtool's FP32 emulation of the same IR must agree.
    model, _ = quantize(irtool.read_model(cnn), calib, QuantizeConfig(overflow_fix="all"))
    path = irtool.save_model(model, tmp_path / "all.xml")
    compiled = irtool.compile_model(path)
    for sample in calib[:4]:
        ours, theirs = compiled(sample)["logits"], ov_outputs(path, sample)[0]
        assert_close(ours, theirs, rel=2e-3)


def test_int8_stays_close_to_fp32(cnn, quantized, calib):
    path, _ = quantized
    fp32 = irtool.compile_model(cnn)
    int8 = irtool.compile_model(path)
    for sample in calib[:4]:
        a, b = fp32(sample)["logits"].ravel(), int8(sample)["logits"].ravel()
        assert np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) > 0.99


def test_rt_info_and_weights_are_four_times_smaller(quantized, cnn):
    path, report = quantized
    info = irtool.summarize(irtool.read_model(path))
    assert info.quantized_by == ["irtool"] and info.quantization_info["irtool/quantization/preset"] == "performance"
    assert info.compressed_weights == {"i8": 3}
    assert 3.5 < report.weights_bytes_before / report.weights_bytes_after <= 4.0


def _int_weights(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """(codes, scale) of every compressed weight, in graph order."""
    out = []
    for mul in (l for l in model.topological_order() if l.type == "Multiply" and l.name.endswith("/scale")):
        chain, scale = model.producer(mul, 0), model.producer(mul, 1)
        while chain.layer.type != "Const":
            chain = model.producer(chain.layer, 0)
        out.append((np.asarray(chain.layer.constant.value), np.asarray(scale.layer.constant.value)))
    return out


def test_expand_of_compress_is_exact_and_both_forms_compute_the_same(cnn, calib, tmp_path):
    expanded, _ = quantize(irtool.read_model(cnn), calib, QuantizeConfig(compress_weights=False))
    compressed, n = compress_weights(expanded)
    again, m = expand_weights(compressed)
    assert n == m == 3
    # exact at the integer level: the codes and scales survive expand -> compress unchanged
    for (q1, s1), (q2, s2) in zip(_int_weights(compressed), _int_weights(compress_weights(again)[0]), strict=True):
        np.testing.assert_array_equal(q1, q2)
        np.testing.assert_array_equal(s1, s2)
    paths = [irtool.save_model(m, tmp_path / f"{name}.xml") for name, m in
             (("expanded", expanded), ("compressed", compressed), ("again", again))]
    outs = [ov_outputs(p, calib[1])[0] for p in paths]
    for out in outs[1:]:  # in float, the forms differ only by rounding in the last bit of a weight
        assert_close(out, outs[0], rel=1e-5)
    assert (tmp_path / "compressed.bin").stat().st_size * 3.5 < (tmp_path / "expanded.bin").stat().st_size


def test_nncf_style_weights_of_other_tools_expand(tmp_path):
    """The 2020 form Const(i8) -> Convert -> FakeQuantize expands to Const(f32) -> FakeQuantize."""
    x = ops.parameter([1, 2, 4, 4], F, name="x")
    q = ops.constant(np.arange(-8, 10, dtype=np.int8).reshape(3, 2, 3, 1))
    w = ops.fake_quantize(ops.convert(q, "f32"), *(ops.constant(F(v)) for v in (-127, 127, -1.27, 1.27)), 255)
    model = ov.Model([ops.convolution(x, w, [1, 1], [0, 0], [0, 0], [1, 1])], [x], "old")
    path = tmp_path / "old.xml"
    ov.save_model(model, str(path), compress_to_fp16=False)
    expanded, n = expand_weights(irtool.read_model(path))
    out = irtool.save_model(expanded, tmp_path / "expanded.xml")
    assert n == 1
    sample = {"x": np.random.default_rng(2).standard_normal((1, 2, 4, 4)).astype(F)}
    assert_close(ov_outputs(out, sample)[0], ov_outputs(path, sample)[0], rel=1e-6)


def test_mixed_preset_makes_zero_exact(cnn, calib):
    model, report = quantize(irtool.read_model(cnn), calib, QuantizeConfig(preset="mixed"))
    assert report.preset == "mixed"
    for fq in (l for l in model if l.type == "FakeQuantize" and "fq_weights" not in l.name):
        lo, hi = (float(model.producer(fq, i).layer.constant.value) for i in (1, 2))
        step = (hi - lo) / 255
        assert abs(-lo / step - round(-lo / step)) < 1e-3  # 0.0 is a grid point


def test_overflow_fix_halves_the_first_layer_only(cnn, calib):
    model, _ = quantize(irtool.read_model(cnn), calib, QuantizeConfig(compress_weights=False))
    highs = {}
    for fq in (l for l in model if l.type == "FakeQuantize" and "fq_weights" in l.name):
        w = model.producer(fq, 0).layer.constant.value
        hi = model.producer(fq, 2).layer.constant.value
        highs[fq.name] = float(np.max(hi.reshape(-1) / np.abs(w).reshape(w.shape[0], -1).max(axis=1)))
    ratios = sorted(highs.values())
    assert ratios[-1] == pytest.approx(2.0, rel=1e-3) and ratios[0] == pytest.approx(1.0, rel=1e-3)


def test_ignored_scope_and_its_validation(cnn, calib):
    model = irtool.read_model(cnn)
    matmul = next(l.name for l in model if l.type == "MatMul")
    _, report = quantize(model, calib, QuantizeConfig(ignored_scope=IgnoredScope(names=(matmul,), types=("Add",))))
    assert matmul not in report.quantized_ops and (matmul, f"ignored scope: name {matmul}") in report.skipped
    with pytest.raises(InputError, match=r"pattern 'conv\.\*' matches no layer"):
        quantize(model, calib, QuantizeConfig(ignored_scope=IgnoredScope(patterns=("conv.*",))))


def test_statistics_memory_does_not_grow_with_the_subset(cnn, calib):
    model = irtool.read_model(cnn)
    small = quantize(model, calib[:4])[1].stats_bytes
    assert quantize(model, calib * 3)[1].stats_bytes == small


@pytest.mark.parametrize("estimator", ["minmax", "mean_minmax", "percentile:99.9", "kl", "mse"])
def test_every_range_estimator_gives_an_int8_model(cnn, calib, estimator):
    model, _ = quantize(irtool.read_model(cnn), calib[:8], QuantizeConfig(range=estimator))
    out = irtool.compile_model(model)(calib[0])["logits"]
    ref = irtool.compile_model(cnn)(calib[0])["logits"]
    assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.95


def test_already_quantized_is_refused(quantized, calib):
    with pytest.raises(UnsupportedError, match="already calibrated"):
        quantize(irtool.read_model(quantized[0]), calib)


@pytest.mark.parametrize("data, message", [
    ({"input": np.zeros((4, 3, 16, 16), np.float64)}, "is float64, the model takes float32"),
    ({"input": np.zeros((4, 3, 8, 8), F)}, r"shape \[4, 3, 8, 8\], the model takes \[N,3,16,16\]"),
    ({"a": np.zeros((4, 3, 16, 16), F), "b": np.zeros(2, F)}, "has no array for input 'input'"),
    ({"input": np.zeros((0, 3, 16, 16), F)}, "calibration subset is empty"),
])
def test_cli_refuses_bad_calibration_data(cnn, tmp_path, capsys, data, message):
    np.savez(tmp_path / "data.npz", **data)
    code, _, err = run_cli(["quantize", str(cnn), "--data", str(tmp_path / "data.npz"), "-o", str(tmp_path / "q.xml")],
                           capsys)
    assert code == 2 and re.search(message, err), err
    assert not (tmp_path / "q.xml").exists()


def test_cli_quantize_default_output_and_summary(cnn, calib, tmp_path, capsys):
    src = tmp_path / cnn.name
    src.write_bytes(cnn.read_bytes())
    src.with_suffix(".bin").write_bytes(cnn.with_suffix(".bin").read_bytes())
    np.savez(tmp_path / "calib.npz", input=np.concatenate([c["input"] for c in calib]))
    code, out, err = run_cli(["quantize", str(src), "--data", str(tmp_path / "calib.npz"), "--subset", "25%"], capsys)
    assert code == 0, err
    assert (tmp_path / "cnn_int8.xml").exists() and "calibration samples    8" in out
    code, _, err = run_cli(["quantize", str(src), "--data", str(tmp_path / "calib.npz"), "-o", str(src)], capsys)
    assert code == 2 and "would overwrite the input model" in err


def test_concat_inputs_share_one_range_and_quantizers_move_above_maxpool(calib, tmp_path):
    rng = np.random.default_rng(3)
    x = ops.parameter([1, 3, 16, 16], F, name="input")

    def conv(t, cin, cout, scale=1.0):
        w = ops.constant((rng.standard_normal((cout, cin, 3, 3)) * scale).astype(F))
        return ops.relu(ops.convolution(t, w, [1, 1], [1, 1], [1, 1], [1, 1]))

    a, b = conv(x, 3, 4), conv(x, 3, 4, scale=5.0)  # two branches with very different ranges
    pooled = ops.max_pool(ops.concat([a, b], 1), [2, 2], [1, 1], [0, 0], [0, 0], [2, 2]).output(0)
    path = tmp_path / "cat.xml"
    ov.save_model(ov.Model([conv(pooled, 8, 4)], [x], "cat"), str(path), compress_to_fp16=False)
    model, _ = quantize(irtool.read_model(path), calib[:8])
    fqs = [l for l in model if l.type == "FakeQuantize" and "fq_weights" not in l.name]
    feeding_concat = [f for f in fqs if any(u.layer.type == "Concat" for u in model.consumers(f))]
    assert len(feeding_concat) == 2 and not any(model.producer(f, 0).layer.type == "MaxPool" for f in fqs)
    ranges = {tuple(float(model.producer(f, i).layer.constant.value) for i in (1, 2)) for f in feeding_concat}
    assert len(ranges) == 1  # one shared range
    types = ov_exec_types(irtool.save_model(model, tmp_path / "cat_int8.xml"), calib[0])
    assert any(t == "Convolution" and e.lower().endswith("_i8") for t, e in types.values())
