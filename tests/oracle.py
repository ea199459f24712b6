"""The oracle side of the tests: real IRs built and written by OpenVINO, and OpenVINO runs of IRs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ov = pytest.importorskip("openvino")
from openvino import opset13 as ops  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


def save(model, path: Path, fp16: bool = False) -> Path:
    ov.save_model(model, str(path), compress_to_fp16=fp16)
    return path


def build_convnet() -> "ov.Model":
    """Conv -> ReLU -> MaxPool -> Conv(+bias) -> concat with a second branch -> MatMul -> SoftMax."""
    rng = np.random.default_rng(0)
    x = ops.parameter([1, 3, 8, 8], np.float32, name="input")
    x.output(0).get_tensor().set_names({"input", "image"})
    w1 = ops.constant(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    c1 = ops.relu(ops.convolution(x, w1, [1, 1], [1, 1], [1, 1], [1, 1]))
    p1 = ops.max_pool(c1, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2])
    w2 = ops.constant(rng.standard_normal((4, 4, 1, 1)).astype(np.float32))
    c2 = ops.add(ops.convolution(p1.output(0), w2, [1, 1], [0, 0], [0, 0], [1, 1]),
                 ops.constant(rng.standard_normal((1, 4, 1, 1)).astype(np.float32)))
    cat = ops.concat([c2, ops.clamp(p1.output(0), 0.0, 6.0)], 1)
    flat = ops.reshape(cat, ops.constant(np.array([1, -1], np.int64)), False)
    fc = ops.matmul(flat, ops.constant(rng.standard_normal((10, 128)).astype(np.float32)), False, True)
    out = ops.softmax(fc, -1)
    out.output(0).get_tensor().set_names({"probs"})
    model = ov.Model([out], [x], "convnet")
    model.set_rt_info("performance", ["nncf", "quantization", "preset"])
    return model


def build_fq_model() -> "ov.Model":
    """An NNCF-shaped INT8 pattern: activation FakeQuantize + compressed i8 weights."""
    rng = np.random.default_rng(1)
    x = ops.parameter([1, 2, 5, 5], np.float32, name="x")
    fq = ops.fake_quantize(x, *(ops.constant(np.float32(v)) for v in (-1, 1, -1, 1)), 256)
    w = ops.constant(rng.integers(-127, 128, (3, 2, 3, 3), dtype=np.int8))
    scale = ops.constant((rng.random((3, 1, 1, 1)) * 0.01).astype(np.float32))
    wf = ops.multiply(ops.convert(w, "f32"), scale)
    conv = ops.convolution(fq, wf, [1, 1], [0, 0], [0, 0], [1, 1])
    return ov.Model([conv], [x], "fq")


def build_dynamic() -> "ov.Model":
    x = ops.parameter([-1, 3, ov.Dimension(1, 10), 4], np.float32, name="x,with,commas")
    y = ops.gelu(ops.elu(ops.clamp(x, 0.1, 6.0), 1.0), "tanh")
    return ov.Model([y], [x], "dynamic")


BUILDERS = {"convnet": build_convnet, "fq": build_fq_model, "dynamic": build_dynamic}


def sample_irs() -> list[Path]:
    return sorted(SAMPLES.glob("*.xml"))


def random_inputs(model: "ov.Model", seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs for a static-shaped OpenVINO model, keyed by input name."""
    rng = np.random.default_rng(seed)
    out = {}
    for inp in model.inputs:
        shape = [d if d > 0 else 2 for d in inp.get_partial_shape().get_min_shape()]
        dtype = inp.get_element_type().to_dtype()
        out[inp.get_any_name()] = (rng.integers(0, 17, shape).astype(dtype) if dtype.kind in "iu"
                                   else rng.standard_normal(shape).astype(dtype))
    return out


def ov_outputs(xml: Path, inputs: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
    """Run an IR in OpenVINO on CPU with exact (f32) inference precision."""
    core = ov.Core()
    model = core.read_model(str(xml))
    if model.is_dynamic():
        model.reshape({i.get_any_name(): list(inputs[i.get_any_name()].shape) if inputs else
                       [d if d > 0 else 2 for d in i.get_partial_shape().get_min_shape()] for i in model.inputs})
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    inputs = inputs if inputs is not None else random_inputs(model)
    res = compiled(inputs)
    return [np.array(res[o]) for o in compiled.outputs]


def assert_close(got: np.ndarray, ref: np.ndarray, rel: float = 1e-4, what: str = "") -> None:
    """The issue's criterion: same shape and dtype, max abs error <= rel * max|reference|; string
    tensors (numpy str arrays): equal."""
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    if got.dtype.kind in "US" or ref.dtype.kind in "US":
        # (OpenVINO's Python API gives an empty string tensor as an empty float64 array)
        assert got.dtype.kind == "U" and (ref.dtype.kind == "U" or ref.size == 0), \
            f"{what}: dtype {got.dtype} != {ref.dtype}"
        assert got.tolist() == ref.tolist(), f"{what}: strings {got.tolist()} != {ref.tolist()}"
        return
    assert got.dtype == ref.dtype, f"{what}: dtype {got.dtype} != {ref.dtype}"
    if ref.dtype.kind in "biu":
        np.testing.assert_array_equal(got, ref, err_msg=what)
        return
    assert np.array_equal(np.isnan(got), np.isnan(ref)), f"{what}: NaNs differ"
    ok = ~np.isnan(ref)
    scale = max(float(np.abs(ref[ok]).max(initial=0.0)), 1e-30)
    err = float(np.abs(got[ok].astype(np.float64) - ref[ok]).max(initial=0.0))
    assert err <= rel * scale, f"{what}: max abs error {err:.3g} > {rel:g} x max|ref| {scale:.3g}"


def check_against_openvino(model: "ov.Model", tmp_path: Path, inputs: dict[str, np.ndarray] | None = None,
                           rel: float = 1e-4, shapes=None) -> list[np.ndarray]:
    """Save ``model`` with OpenVINO's serializer, run it in OpenVINO and in irtool, compare every output."""
    from irtool.runtime import compile_model

    path = save(model, tmp_path / "op.xml")
    inputs = inputs if inputs is not None else random_inputs(model)
    ref = ov_outputs(path, inputs)
    got = list(compile_model(path, shapes)(inputs).values())
    assert len(got) == len(ref)
    for i, (g, r) in enumerate(zip(got, ref)):
        assert_close(g, r, rel, f"output {i}")
    return got
