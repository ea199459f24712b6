"""The model zoo (tests/fixtures/zoo, built by tools/make_zoo.py): reduced ResNet, MobileNet v1/v2,
Inception, DenseNet, SqueezeNet, VGG, UNet, BERT-like encoders and NCF IRs, as OpenVINO's PyTorch
frontend writes them, run in irtool's FP32 CPU plugin and in OpenVINO: every output must match."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import irtool
from tests.oracle import assert_close, ov_outputs

ZOO = Path(__file__).resolve().parent / "fixtures" / "zoo"
MODELS = sorted(p.stem for p in ZOO.glob("*.xml"))
XFAIL: dict[str, str] = {}  # name -> reason, for irtool failures (strict: a fix must remove the entry)
EXPECTED = {"resnet_mini", "mobilenet_v1_mini", "mobilenet_v2_mini", "inception_mini", "densenet_mini",
            "squeezenet_mini", "vgg_mini", "unet_mini", "bert_mini", "bert_sdpa_mini", "ncf_mini"}


def zoo_inputs(specs, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs: N(0, 1) floats; for integers, ids in [0, 16) (every embedding table has >= 16
    rows) or, for a mask, ones followed by padding zeros."""
    rng = np.random.default_rng(seed)
    out = {}
    for spec in specs:
        if spec.dtype.kind == "f":
            out[spec.name] = rng.standard_normal(spec.shape).astype(spec.dtype)
        elif "mask" in spec.name:
            valid = np.arange(spec.shape[-1]) < rng.integers(spec.shape[-1] // 2, spec.shape[-1])
            out[spec.name] = np.broadcast_to(valid, spec.shape).astype(spec.dtype)
        else:
            out[spec.name] = rng.integers(0, 16, spec.shape).astype(spec.dtype)
    return out


def test_zoo_is_complete():
    assert set(MODELS) == EXPECTED
    sizes = {m: (ZOO / f"{m}.xml").stat().st_size + (ZOO / f"{m}.bin").stat().st_size for m in MODELS}
    assert max(sizes.values()) < 200 * 1024 and sum(sizes.values()) < 2 * 1024 * 1024


@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.xfail(strict=True, reason=XFAIL[m]))
                                  if m in XFAIL else m for m in MODELS])
def test_zoo_model_equals_openvino(name):
    xml = ZOO / f"{name}.xml"
    compiled = irtool.compile_model(xml)
    inputs = zoo_inputs(compiled.inputs)
    got = list(compiled(inputs).values())
    ref = ov_outputs(xml, inputs)
    assert len(got) == len(ref)
    for i, (g, r) in enumerate(zip(got, ref)):
        assert_close(g, r, rel=1e-4, what=f"{name} output {i}")
